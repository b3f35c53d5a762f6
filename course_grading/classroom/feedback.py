"""Feedback a student can use, and the grading steps around it (issue 16, item 4).

``make feedback A=01_perceptrons`` runs :func:`main`: it writes each student's feedback
(``feedback/<student>/<assignment>/<notebook>.html``) and, when the course has an exchange,
releases it; a submission that did not come through the exchange keeps its feedback in
``feedback/`` (and says so) instead of stopping the students after it.

What the feedback shows (``nbgrader_config.py`` plugs these classes into nbgrader):

- a table of points per Part (the notebook's ``## Part N — ...`` headings) with the failure
  message of each failing test;
- hidden tests' results without their source: a test cell shows its visible part, and a
  failure shows its message, not the traceback (which would quote the hidden lines).
  ``c.FeedbackView.show_hidden_tests = True`` (or ``make feedback SHOW_HIDDEN_TESTS=1``)
  shows everything;
- written answers as "awaiting grading" until someone grades them, never as 0 points;
- no external assets: MathJax comes from the course's own copy (sphinx-mathjax-offline),
  inlined, so the page typesets math offline wherever it is opened.

Two autograde preprocessors go with it: :class:`RestoreCellsQuietly` (no "checksum has
changed!" warning for an honest submission, whose test cells lack only the hidden tests) and
:class:`KeepManualGrades` (a manual grade survives re-running autograde on the same answer).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from nbconvert.exporters import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, GetGrades, SaveAutoGrades
from traitlets import Bool, Unicode

from course_grading.classroom.check import (
    failure_message, hidden_lines, is_test_cell, nbgrader_meta, parts)
from course_grading.preprocessors import RestoreDeletedGradeCells

TEMPLATES = Path(__file__).resolve().parent / "templates"
HIDDEN_NOTE = "# (hidden tests: not shown)"


def released_source(cell) -> str:
    """The source of a locked cell as the student copy has it (hidden tests and mark schemes
    removed, as ``nbgrader generate_assignment`` does after saving the full cell)."""
    twin = NotebookNode({"source": cell["source"]})
    ClearHiddenTests(enforce_metadata=False)._remove_hidden_test_region(twin)
    ClearMarkScheme(enforce_metadata=False)._remove_mark_scheme_region(twin)
    return twin.source


def _released(source: str) -> str:
    return released_source({"source": source})


# ------------------------------------------------------------------ autograde preprocessors
class RestoreCellsQuietly(RestoreDeletedGradeCells):
    """The course's ``RestoreDeletedGradeCells`` without the noise of honest submissions.

    ``generate_assignment`` saves each test cell to the gradebook *with* its hidden tests and
    then removes them from the student copy, so every locked test cell of every honest
    submission differs from the gradebook and nbgrader warned "checksum has changed!" for each
    one (16 warnings a notebook in Chapter 1). Here a locked cell that equals the student copy
    of its gradebook version is put back silently; any other change still warns and is undone.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id:
            try:
                source = self.gradebook.find_source_cell(grade_id, self.notebook_id,
                                                         self.assignment_id)
            except Exception:  # MissingEntry: nbgrader's own handling below reports it
                source = None
            if (source is not None and source.locked and cell.source != source.source
                    and cell.source == _released(source.source)):
                cell.source = source.source
        return super().preprocess_cell(cell, resources, cell_index)


class KeepManualGrades(SaveAutoGrades):
    """nbgrader's ``SaveAutoGrades``, except that a manual grade stays graded when autograde
    runs again on the same answer.

    nbgrader marks every cell that has a manual score as "needs manual grading" again on each
    autograde run, so re-running autograde put every graded written answer back to pending.
    Here it stays graded when the answer it graded is unchanged (for a written answer: its
    text; for a test cell with a manual override: every answer of the notebook and the
    autograder's score). A changed answer is flagged for review as before. The fingerprints of
    the graded answers live beside the autograded notebooks (``fingerprint_directory``).
    """

    fingerprint_directory = Unicode(
        "autograded/.answer-fingerprints",
        help="where the fingerprints of autograded answers are kept (course-relative)",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        meta = resources["nbgrader"]
        self._answers = "\n\x00".join(cell.source for cell in nb.cells if utils.is_solution(cell))
        self._path = (Path(self.fingerprint_directory) / meta["student"] / meta["assignment"]
                      / f"{meta['notebook']}.json")
        try:
            self._previous = json.loads(self._path.read_text())
        except (OSError, ValueError):
            self._previous = {}
        self._current = {}
        nb, resources = super().preprocess(nb, resources)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._path.with_suffix(".tmp")
        partial.write_text(json.dumps(self._current, indent=1, sort_keys=True))
        partial.replace(self._path)
        return nb, resources

    def _add_score(self, cell, resources):
        super()._add_score(cell, resources)
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        grade = self.gradebook.find_grade(grade_id, self.notebook_id, self.assignment_id,
                                          self.student_id)
        text = cell.source if utils.is_solution(cell) else f"{self._answers}\x00{grade.auto_score}"
        fingerprint = hashlib.sha256(text.encode()).hexdigest()
        self._current[grade_id] = fingerprint
        if (grade.manual_score is not None and grade.needs_manual_grade
                and self._previous.get(grade_id) == fingerprint):
            grade.needs_manual_grade = False
            self.gradebook.db.commit()
            self.log.info("%s: manual grade %s kept (answer unchanged)", grade_id,
                          grade.manual_score)


# ------------------------------------------------------------------- feedback preprocessors
class CourseGetGrades(GetGrades):
    """nbgrader's ``GetGrades`` plus, per grade cell, whether it still awaits a grader
    (``awaiting``), and the points awaiting grading in the whole notebook."""

    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        waiting = [meta for meta in map(nbgrader_meta, nb.cells) if meta.get("awaiting")]
        resources["nbgrader"]["awaiting"] = sum(float(meta.get("points", 0)) for meta in waiting)
        # a score waiting for review (a changed answer graded earlier) is not counted yet
        resources["nbgrader"]["score"] -= sum(float(meta.get("score") or 0) for meta in waiting)
        return nb, resources

    def _get_score(self, cell, resources):
        super()._get_score(cell, resources)
        grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"],
                                          self.notebook_id, self.assignment_id,
                                          self.student_id)
        cell.metadata.nbgrader["awaiting"] = bool(grade.needs_manual_grade)


class FeedbackView(Preprocessor):
    """Points per Part with failure messages, and hidden tests' source kept out of feedback."""

    enabled = Bool(True)
    show_hidden_tests = Bool(
        False, help="show hidden tests' source and full tracebacks in student feedback",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        graded = [nbgrader_meta(cell) for cell in nb.cells if nbgrader_meta(cell).get("grade")]
        scores = {meta["grade_id"]: (
            None if meta.get("awaiting") else float(meta.get("score") or 0),
            float(meta.get("points", 0))) for meta in graded}
        resources["course_parts"] = parts(nb, scores)
        for cell in nb.cells:
            if is_test_cell(cell):
                cell.metadata.nbgrader["failure"] = failure_message(cell)
                if not self.show_hidden_tests and hidden_lines(cell.source):
                    _hide_hidden_tests(cell)
        return nb, resources


def _hide_hidden_tests(cell) -> None:
    """Keep the visible part of a test cell; errors become their one-line message, and
    printed lines that quote a hidden line (a warning shows the line that raised it) go."""
    message = cell.metadata.nbgrader.get("failure")
    first, last = hidden_lines(cell.source)
    secret = {line.strip() for line in cell.source.split("\n")[first:last - 1]} - {""}
    cell.source = _released(cell.source).rstrip() + "\n\n" + HIDDEN_NOTE
    outputs = []
    for output in map(copy.deepcopy, cell.get("outputs", [])):
        if output.get("output_type") == "error":
            output["traceback"] = [message or output.get("ename", "Error")]
        elif output.get("output_type") == "stream":
            text = output.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            output["text"] = "".join(line for line in text.splitlines(keepends=True)
                                     if line.strip() not in secret)
        outputs.append(output)
    cell.outputs = outputs


# ------------------------------------------------------------------------ the HTML exporter
def mathjax_script() -> str:
    """MathJax 3 (TeX input, SVG output, every TeX extension) from the course environment's
    sphinx-mathjax-offline package, as one inline ``<script>`` block set up for feedback."""
    from importlib.metadata import distribution

    path = Path(distribution("sphinx-mathjax-offline").locate_file(
        "sphinx-mathjax-offline/static/mathjax/tex-svg-full.js"))
    code = path.read_text(encoding="utf-8").replace("<!--", "\\x3C!--").replace(
        "</script", "<\\/script")
    config = {"tex": {"inlineMath": [["$", "$"], ["\\(", "\\)"]],
                      "displayMath": [["$$", "$$"], ["\\[", "\\]"]],
                      "processEscapes": True, "processEnvironments": True},
              "svg": {"fontCache": "global"},
              "options": {"enableMenu": False}}
    return (f"<!-- MathJax 3 from sphinx-mathjax-offline, inlined: no network -->\n"
            f"<script>window.MathJax = {json.dumps(config)};</script>\n"
            f"<script>{code}</script>")


MATHJAX_BLOCK = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->",
                           re.DOTALL)


def inline_mathjax(html: str) -> str:
    """Replace nbconvert's CDN MathJax by the course's copy; fail rather than ship a CDN link."""
    html, count = MATHJAX_BLOCK.subn(lambda _: mathjax_script(), html, count=1)
    if count != 1:
        raise RuntimeError("feedback template has no MathJax block to replace")
    return html


class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback page with the course template (``templates/course_feedback``):
    points per Part, "awaiting grading", and MathJax inlined from the course's copy."""

    def __init__(self, **kwargs):
        import nbgrader

        nbgrader_templates = (Path(nbgrader.__file__).parent / "server_extensions"
                              / "formgrader" / "templates")
        super().__init__(**kwargs)
        self.template_name = "course_feedback"
        self.extra_template_basedirs = [str(TEMPLATES), str(nbgrader_templates)]
        self.template_paths = self._template_paths()  # computed for the old name in __init__

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        return inline_mathjax(output), resources


# ------------------------------------------------------------------ make feedback A=...
@dataclass
class FeedbackRow:
    """What ``make feedback`` did for one student."""

    student: str
    score: str = ""
    awaiting: float = 0.0
    failed: int = 0
    status: str = ""
    error: bool = False


def _graded_students(course, assignment: str) -> list[str]:
    folder = course.root / course.coursedir().autograded_directory
    return sorted(path.name for path in folder.iterdir()
                  if not path.name.startswith(".") and (path / assignment).is_dir()
                  ) if folder.is_dir() else []


def _scores(course, assignment: str, student: str, row: FeedbackRow) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        grades = [grade for notebook in submission.notebooks for grade in notebook.grades]
        row.awaiting = sum(grade.max_score for grade in grades if grade.needs_manual_grade)
        row.failed = sum(1 for grade in grades if grade.cell_type == "code"
                         and grade.auto_score is not None and grade.auto_score < grade.max_score)
        score = sum(grade.score for grade in grades if not grade.needs_manual_grade)
        penalty = submission.late_submission_penalty or 0
        row.score = f"{score - penalty:g} / {submission.max_score - row.awaiting:g}"


def _release(api, course, assignment: str, student: str) -> tuple[str, bool]:
    """Release one student's feedback to the exchange; (status, error)."""
    folder = course.root / course.coursedir().feedback_directory / student / assignment
    missing = [name for name in ("timestamp.txt", "submission_secret.txt")
               if not (folder / name).is_file()]
    if missing:  # nbgrader's release_feedback crashed here and stopped every later student
        return (f"left in {folder.relative_to(course.root)}/: not submitted through the "
                f"exchange (no {missing[0]}); hand it out", False)
    result = api.release_feedback(assignment, student)
    if not result["success"]:
        return f"release failed: {_last_line(result)}", True
    return "released to the exchange", False


def _last_line(result: dict) -> str:
    text = (result.get("error") or result.get("log") or "unknown error").strip()
    return text.splitlines()[-1][:160]


def feedback_step(course, assignment: str, *, show_hidden_tests: bool = False
                  ) -> list[FeedbackRow]:
    """Generate (and, with an exchange, release) feedback for every graded submission.

    One student's failure never stops the others: each row says what happened.
    """
    from nbgrader.apps import NbGraderAPI

    from course_grading.classroom.workspace import ensure_exchange

    config = course.config()
    config.FeedbackView.show_hidden_tests = show_hidden_tests
    coursedir = course.coursedir()
    api = NbGraderAPI(coursedir, config=config)
    exchange = course.exchange
    if exchange is not None:
        ensure_exchange(exchange, coursedir.course_id)
    rows = []
    for student in _graded_students(course, assignment):
        row = FeedbackRow(student)
        result = api.generate_feedback(assignment, student, force=True)
        if not result["success"]:
            row.status, row.error = f"feedback failed: {_last_line(result)}", True
        else:
            _scores(course, assignment, student, row)
            if exchange is None:
                row.status = (f"in {coursedir.feedback_directory}/{student}/{assignment}/ "
                              "(no exchange: hand it out)")
            else:
                row.status, row.error = _release(api, course, assignment, student)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """``make feedback A=...``: print a table; exit 1 only when the instructor must act."""
    from course_grading.classroom.workspace import ClassroomError, Course, format_table

    parser = argparse.ArgumentParser(prog="python -m course_grading.classroom.feedback",
                                     description="generate and release student feedback")
    parser.add_argument("assignment")
    parser.add_argument("--course", type=Path, default=Path.cwd())
    parser.add_argument("--show-hidden-tests", action="store_true",
                        help="show hidden tests' source and tracebacks in the feedback")
    args = parser.parse_args(argv)
    try:
        course = Course(args.course)
        rows = feedback_step(course, args.assignment, show_hidden_tests=args.show_hidden_tests)
        ungraded = sorted(set(course.submitted_students(args.assignment))
                          - {row.student for row in rows})
    except ClassroomError as error:
        print(f"ACTION NEEDED: {error}", file=sys.stderr)
        return 1
    if not rows and not ungraded:
        print(f"ACTION NEEDED: no graded submissions of {args.assignment}: run "
              f"make grade A={args.assignment} first", file=sys.stderr)
        return 1
    table = [[r.student, r.score, f"{r.awaiting:g}" if r.awaiting else "", r.failed or "",
              r.status] for r in rows]
    table += [[student, "", "", "", "not graded yet: run make grade"] for student in ungraded]
    print(format_table(["student", "score", "awaiting grading", "failed tests", "feedback"],
                       table))
    problems = [r.student for r in rows if r.error] + ungraded
    if problems:
        print(f"ACTION NEEDED: no feedback for {', '.join(problems)} (see the table)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
