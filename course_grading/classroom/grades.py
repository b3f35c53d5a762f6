"""``make grades``: one CSV row per student x assignment x notebook part, with a status.

Statuses: ``graded``; ``late`` (graded, submitted after the due date plus any extension; the
note says by how much and the penalty); ``needs manual grading`` (a written answer not graded
yet); ``missing`` (no such notebook submitted); ``malformed`` (the file is not a notebook);
``error`` (grading ran but could not finish: see ``grading-logs/``); ``ungraded`` (collected,
not graded yet, or submitted again since). Only ``graded`` and ``late`` rows carry a score:
a submission that could not be graded never shows as a bare 0.

A part is an answer cell (``chNN-concept``) with its test cells (``chNN-concept-test-*``); a
written answer is its own part. A late penalty is its own row (``late penalty``, negative).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .workspace import AUTOGRADED, SUBMITTED, ClassroomError, Course, format_table

GRADED, LATE, MANUAL = "graded", "late", "needs manual grading"
MISSING, MALFORMED, ERROR, UNGRADED = "missing", "malformed", "error", "ungraded"
STATUSES = (GRADED, LATE, MANUAL, MISSING, MALFORMED, ERROR, UNGRADED)
COLUMNS = ["student", "assignment", "notebook", "part", "title", "score", "max_score", "status",
           "note"]


@dataclass
class NotebookResult:
    """The status of one submitted notebook and its rows (one per part)."""

    notebook: str
    status: str
    note: str = ""
    score: float | None = None
    max_score: float = 0.0
    rows: list[dict] = field(default_factory=list)


def part_of(grade_id: str, answers: list[str]) -> str:
    """The answer cell a grade cell belongs to: itself, or the longest answer id prefixing it."""
    if grade_id in answers:
        return grade_id
    owners = [a for a in answers if grade_id.startswith(a + "-")]
    return max(owners, key=len) if owners else grade_id


def part_titles(course: Course, assignment: str, notebook: str) -> dict[str, str]:
    """``{part id: "Part 1 — ..."}`` from the heading of each ``<part>-task`` cell, and
    ``{grade id: ""}`` for the notebook's other cells, in the notebook's order."""
    path = course.root / course.coursedir().source_directory / assignment / f"{notebook}.ipynb"
    titles = {}
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return titles
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        titles.setdefault(grade_id, "")
        if grade_id.endswith("-task") and cell.get("cell_type") == "markdown":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            heading = re.search(r"^#+\s*(.+?)\s*$", source, re.MULTILINE)
            if heading:
                titles[grade_id[: -len("-task")]] = re.sub(r"\s*\(\d+ points?\)$", "",
                                                           heading.group(1))
    return titles


def _readable(path: Path) -> bool:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and isinstance(data.get("cells"), list)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 360 else f"{seconds / 60:.0f} min"


def notebook_result(course: Course, gradebook, assignment: str, student: str,
                    notebook: str) -> NotebookResult:
    """Status and per-part rows of one student's notebook (reads files and the gradebook)."""
    from nbgrader.api import MissingEntry

    source_nb = gradebook.find_notebook(notebook, assignment)
    answers = sorted(cell.name for cell in source_nb.solution_cells)
    cells = sorted(source_nb.grade_cells, key=lambda c: c.name)
    parts: dict[str, float] = {}
    for cell in cells:
        parts[part_of(cell.name, answers)] = parts.get(part_of(cell.name, answers), 0) + (
            cell.max_score or 0)
    titles = part_titles(course, assignment, notebook)
    order = {grade_id: index for index, grade_id in enumerate(titles)}
    parts = dict(sorted(parts.items(), key=lambda item: order.get(item[0], len(order))))
    submitted = course.root / SUBMITTED / student / assignment / f"{notebook}.ipynb"
    autograded = course.root / AUTOGRADED / student / assignment / f"{notebook}.ipynb"
    log = course.log_path(assignment, student)
    result = NotebookResult(notebook, GRADED, max_score=sum(parts.values()))

    def rows(status, note, scores=None):
        return [dict(student=student, assignment=assignment, notebook=notebook, part=part,
                     title=titles.get(part, ""),
                     score=None if scores is None or scores[part][1] else scores[part][0],
                     max_score=top,
                     status=(MANUAL if scores is not None and scores[part][1] else status),
                     note=(note if scores is None or not scores[part][1] else
                           "written answer awaiting grading"))
                for part, top in parts.items()]

    if not submitted.exists():
        result.status, result.note = MISSING, f"no {notebook}.ipynb submitted"
    elif not _readable(submitted):
        result.status, result.note = MALFORMED, f"{notebook}.ipynb is not a readable notebook"
    elif not autograded.exists() or autograded.stat().st_mtime < submitted.stat().st_mtime:
        ran = log.exists() and log.stat().st_mtime >= submitted.stat().st_mtime
        result.status = ERROR if ran else UNGRADED
        result.note = (f"grading failed: see {log.relative_to(course.root)}" if ran
                       else f"not graded yet: make grade A={assignment}")
    if result.status != GRADED:
        result.rows = rows(result.status, result.note)
        return result
    try:
        sub_nb = gradebook.find_submission_notebook(notebook, assignment, student)
    except MissingEntry:
        result.status, result.note = UNGRADED, f"not in the gradebook: make grade A={assignment}"
        result.rows = rows(result.status, result.note)
        return result
    scores: dict[str, list] = {part: [0.0, False] for part in parts}
    unscored = []
    for grade in sub_nb.grades:
        part = part_of(grade.name, answers)
        if grade.manual_score is None and (grade.needs_manual_grade or (
                grade.cell_type == "markdown" and grade.auto_score is None)):
            scores[part][1] = True
        elif grade.auto_score is None and grade.manual_score is None:
            unscored.append(grade.name)
        else:
            scores[part][0] += grade.score
    if unscored:
        result.status = ERROR
        result.note = f"no score for {', '.join(unscored)}: see {log.relative_to(course.root)}"
        result.rows = rows(result.status, result.note)
        return result
    seconds_late = sub_nb.assignment.total_seconds_late or 0
    penalty = sub_nb.late_submission_penalty or 0.0
    if seconds_late > 0:
        result.status = LATE
        result.note = f"{_hours(seconds_late)} late, penalty {penalty:g}"
    result.rows = rows(result.status, result.note, scores)
    if penalty:
        result.rows.append(dict(student=student, assignment=assignment, notebook=notebook,
                                part="late penalty", title="", score=-penalty, max_score=0,
                                status=LATE, note=result.note))
    pending = any(flag for _, flag in scores.values())
    result.score = sum(s for s, _ in scores.values()) - penalty
    if pending and result.status == GRADED:
        result.status, result.note = MANUAL, "written answer(s) awaiting grading"
    return result


def assignment_results(course: Course, assignment: str,
                       students: list[str] | None = None) -> dict[str, list[NotebookResult]]:
    """``{student: [NotebookResult per notebook]}`` for every student of the course."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course.course_id) as gradebook:
        try:
            notebooks = sorted(nb.name for nb in gradebook.find_assignment(assignment).notebooks)
        except MissingEntry:
            raise ClassroomError(f"{assignment} is not in the gradebook: "
                                 f"make release A={assignment} (or make grade A={assignment})")
        if students is None:
            students = sorted({s.id for s in gradebook.students}
                              | set(course.submitted_students(assignment)))
        return {student: [notebook_result(course, gradebook, assignment, student, nb)
                          for nb in notebooks] for student in students}


def write_grades(course: Course, assignments: list[str] | None, out: Path) -> list[dict]:
    """Write the CSV; returns its rows."""
    from nbgrader.api import Gradebook

    if not assignments:
        with Gradebook(course.db_url, course.course_id) as gradebook:
            assignments = sorted(a.name for a in gradebook.assignments)
    if not assignments:
        raise ClassroomError("the gradebook has no assignments yet: make release A=...")
    students = None
    rows = []
    with Gradebook(course.db_url, course.course_id) as gradebook:
        students = sorted({s.id for s in gradebook.students}
                          | {p.name for p in (course.root / SUBMITTED).glob("*") if p.is_dir()})
    for assignment in assignments:
        for results in assignment_results(course, assignment, students).values():
            for result in results:
                rows.extend(result.rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def grades(course: Course, assignments: list[str] | None, out: Path) -> int:
    """``make grades``: write the CSV, print one line per student x assignment; exit status."""
    rows = write_grades(course, assignments, out)
    summary: dict[tuple, dict] = {}
    for row in rows:
        key = (row["student"], row["assignment"])
        entry = summary.setdefault(key, {"score": 0.0, "max": 0.0, "statuses": {}, "scored": True})
        entry["max"] += row["max_score"] or 0
        if row["score"] is not None:
            entry["score"] += row["score"]
        entry["statuses"][row["status"]] = entry["statuses"].get(row["status"], 0) + 1
    table = []
    for (student, assignment), entry in sorted(summary.items()):
        statuses = ", ".join(f"{status} x{count}" if count > 1 else status
                             for status, count in sorted(entry["statuses"].items()))
        graded = {GRADED, LATE, MANUAL} & set(entry["statuses"])
        table.append([student, assignment,
                      f"{entry['score']:g} / {entry['max']:g}" if graded else "-", statuses])
    print(format_table(["student", "assignment", "score", "part statuses"], table))
    print(f"\n{len(rows)} rows written to {out}")
    todo = sum(1 for row in rows if row["status"] in (ERROR, UNGRADED))
    if todo:
        print(f"ACTION NEEDED: {todo} part(s) are 'error' or 'ungraded': run make grade for "
              "them (see grading-logs/)")
        return 1
    return 0
