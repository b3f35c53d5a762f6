"""Collect submissions into ``submitted/<student>/<assignment>/``: from the exchange or an LMS zip.

nbgrader's ``zip_collect`` matches its file-name pattern against the absolute path, so with the
documented settings it collects nothing and exits 0; this collector reads the zip itself.

File names it understands (the part after the LMS's prefix is the student's file name):

- Canvas:     ``<name>[_LATE]_<userid>_<subid>_<file>``; resubmissions ``<file>-1.ipynb``, ``-2``
- Moodle:     ``<Full Name>_<id>_assignsubmission_file_/<file>``
- Blackboard: ``<Assignment>_<user>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>``
- a folder per student: ``<student>/<file>`` or ``<student>/<assignment>/<file>``

A file maps to the assignment's notebook of the same name; renamed copies (``-Copy1``,
`` (1)``, ``-1``, `` copy``) and, failing that, a notebook whose graded cells match, are mapped
too, with a warning. Per student and notebook the latest attempt wins (the zip entry's time,
Blackboard's attempt time, then the resubmission number). ``timestamp.txt`` records that time
(UTC; zip entries carry no time zone) for nbgrader's late-submission check.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .workspace import (SUBMITTED, ClassroomError, Course, format_table, known_students,
                        prepare, run_nbgrader)

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"
CANVAS = re.compile(r"^(?P<name>[^_/]+?)(?P<late>_late)?_(?P<userid>\d+)_(?P<subid>\d+)_"
                    r"(?P<file>.+)$", re.IGNORECASE)
MOODLE_DIR = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_assignsubmission_(?:file|onlinetext)_?$")
BLACKBOARD = re.compile(r"^(?P<prefix>.+)_attempt_(?P<date>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})"
                        r"(?:_(?P<file>.+))?$")
# Renamed copies: Jupyter's "-Copy1", a browser's " (1)", Canvas' "-1", Finder's " copy".
COPY_SUFFIXES = [re.compile(p, re.IGNORECASE) for p in
                 (r"-copy\d*$", r"\s*\(\d+\)$", r"-(\d+)$", r"\s*-?\s*copy\s*\d*$")]
SKIPPED_NAMES = re.compile(r"(^|/)(__MACOSX|\.ipynb_checkpoints)/|(^|/)\.DS_Store$")


@dataclass
class Entry:
    """One file of the zip, attributed to a student (or not)."""

    member: str
    student: str | None
    filename: str
    timestamp: dt.datetime
    lms: str
    attempt: tuple = ()
    target: str | None = None
    warnings: list[str] = field(default_factory=list)
    content: bytes = b""


def student_id(name: str) -> str:
    """An nbgrader student id from an LMS name: lower case, runs of other characters -> ``_``."""
    slug = re.sub(r"[^\w-]+", "_", name.strip().lower()).strip("_")
    if not slug:
        raise ValueError(f"cannot make a student id from {name!r}")
    return slug


def parse_member(member: str, timestamp: dt.datetime, assignment: str) -> Entry:
    """Whose file a zip member is, and the student's own file name, from the LMS's naming."""
    path = PurePosixPath(member)
    base = path.name
    for part in path.parts[:-1]:
        moodle = MOODLE_DIR.match(part)
        if moodle:
            return Entry(member, student_id(moodle["name"]), base, timestamp, "moodle")
    board = BLACKBOARD.match(base)
    if board:
        when = dt.datetime.strptime(board["date"], "%Y-%m-%d-%H-%M-%S")
        prefix = board["prefix"]
        user = (prefix[len(assignment) + 1:] if prefix.startswith(assignment + "_")
                else prefix.rpartition("_")[2])
        return Entry(member, student_id(user) if board["file"] else None,
                     board["file"] or base, when, "blackboard", (when,))
    canvas = CANVAS.match(base)
    if canvas and len(path.parts) == 1:  # Canvas downloads are flat
        entry = Entry(member, student_id(canvas["name"]), canvas["file"], timestamp, "canvas",
                      (int(canvas["subid"]),))
        if canvas["late"]:
            entry.warnings.append("Canvas marked it late")
        return entry
    parts = [p for p in path.parts[:-1] if p != assignment]
    if parts:
        return Entry(member, student_id(parts[-1] if len(parts) == 1 else parts[0]), base,
                     timestamp, "folder")
    return Entry(member, None, base, timestamp, "unknown")


def _grade_ids(notebook: dict) -> set[str]:
    return {cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            for cell in notebook.get("cells", [])} - {None}


def map_notebook(filename: str, expected: list[str], content: bytes | None,
                 expected_ids: dict[str, set[str]]) -> tuple[str | None, str | None, int]:
    """``(notebook, warning, resubmission number)`` for a student's file name.

    The exact name maps silently; a renamed copy maps with a warning; a notebook with another
    name maps to the expected notebook sharing most of its graded cells (warning too).
    """
    path = PurePosixPath(filename)
    if path.suffix.lower() != ".ipynb":
        return None, f"{filename}: not a notebook, not collected", 0
    by_lower = {name.lower(): name for name in expected}
    stem = path.stem
    if stem.lower() in by_lower:
        return by_lower[stem.lower()], None, 0
    resubmission, changed = 0, True
    while changed:
        changed = False
        for pattern in COPY_SUFFIXES:
            match = pattern.search(stem)
            if match and match.start() > 0:
                if match.groups() and match.group(1):
                    resubmission = max(resubmission, int(match.group(1)))
                stem, changed = stem[:match.start()], True
                if stem.lower() in by_lower:
                    kind = (f"resubmission {resubmission}" if resubmission and
                            stem.lower() == path.stem.lower()[: len(stem)] and
                            re.fullmatch(r"-\d+", path.stem[len(stem):]) else "a renamed copy")
                    return (by_lower[stem.lower()],
                            f"{filename} is {kind}: collected as "
                            f"{by_lower[stem.lower()]}.ipynb", resubmission)
    if content is not None:
        try:
            ids = _grade_ids(json.loads(content))
        except (ValueError, UnicodeDecodeError, AttributeError):
            ids = set()
        overlap = {name: len(ids & cells) for name, cells in expected_ids.items()}
        best = max(overlap, key=overlap.get, default=None)
        if best is not None and overlap[best] > 0:
            return best, (f"{filename} has another name but {best}'s graded cells: collected "
                          f"as {best}.ipynb"), 0
    return None, f"{filename}: matches no notebook of the assignment ({', '.join(expected)})", 0


def _expected_ids(course: Course, assignment: str, expected: list[str]) -> dict[str, set[str]]:
    folder = course.root / course.coursedir().source_directory / assignment
    return {name: _grade_ids(json.loads((folder / f"{name}.ipynb").read_text()))
            for name in expected}


def _is_notebook(content: bytes) -> bool:
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and isinstance(data.get("cells"), list)


def write_timestamp(folder: Path, when: dt.datetime) -> None:
    (folder / "timestamp.txt").write_text(when.strftime(TIMESTAMP_FORMAT))


def collect_zip(course: Course, assignment: str, zip_path: Path) -> tuple[list[list], int]:
    """Unpack an LMS download into ``submitted/``. Returns (summary rows, problems)."""
    expected = course.source_notebooks(assignment)
    ids = _expected_ids(course, assignment, expected)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as error:
        raise ClassroomError(f"cannot read {zip_path}: {error}") from error
    rows, problems, chosen = [], 0, {}
    with archive:
        for info in archive.infolist():
            if info.is_dir() or SKIPPED_NAMES.search(info.filename):
                continue
            entry = parse_member(info.filename, dt.datetime(*info.date_time), assignment)
            content = archive.read(info)
            if entry.student is None:
                if entry.filename.lower().endswith(".ipynb"):
                    problems += 1
                    rows.append(["?", info.filename, "", "cannot tell whose file this is: "
                                 "not collected (place it by hand)"])
                continue
            target, warning, resub = map_notebook(entry.filename, expected, content, ids)
            entry.target, entry.attempt = target, entry.attempt + (resub,)
            if warning:
                entry.warnings.append(warning)
            if target is None:
                if entry.filename.lower().endswith(".ipynb"):
                    rows.append([entry.student, info.filename, "", "; ".join(entry.warnings)])
                continue
            if not _is_notebook(content):
                entry.warnings.append("not a valid notebook (malformed): graded as malformed")
            key = (entry.student, target)
            entry.content = content
            if key in chosen:
                older, newer = sorted([chosen[key], entry], key=lambda e: (e.timestamp, e.attempt))
                newer.warnings.append("latest of several attempts "
                                      f"({PurePosixPath(older.member).name} ignored)")
                chosen[key] = newer
            else:
                chosen[key] = entry
    if not chosen:
        raise ClassroomError(f"{zip_path} holds no notebook of {assignment} "
                             f"({', '.join(expected)}.ipynb) that could be attributed to a student")
    students = sorted({student for student, _ in chosen})
    for student in students:
        folder = course.root / SUBMITTED / student / assignment
        if folder.exists():
            shutil.rmtree(folder)  # the download is the whole submission: no stale files
        folder.mkdir(parents=True)
        latest = None
        for name in expected:
            entry = chosen.get((student, name))
            if entry is None:
                rows.append([student, "", f"{name}.ipynb", "missing: not in the download"])
                continue
            (folder / f"{name}.ipynb").write_bytes(entry.content)
            latest = max(latest or entry.timestamp, entry.timestamp)
            rows.append([student, entry.member, f"{name}.ipynb",
                         "; ".join(entry.warnings) or "ok"])
        write_timestamp(folder, latest or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    return sorted(rows, key=lambda r: (r[0], r[2])), problems


def normalize_submitted(course: Course, assignment: str) -> list[list]:
    """Map renamed notebooks in ``submitted/*/<assignment>/`` (e.g. from the exchange)."""
    expected = course.source_notebooks(assignment)
    ids = _expected_ids(course, assignment, expected)
    rows = []
    for student in course.submitted_students(assignment):
        folder = course.root / SUBMITTED / student / assignment
        present = {p.stem for p in folder.glob("*.ipynb")}
        for path in sorted(folder.glob("*.ipynb")):
            if path.stem in expected:
                continue
            target, warning, _ = map_notebook(path.name, expected, path.read_bytes(), ids)
            if target and target not in present:
                path.rename(folder / f"{target}.ipynb")
                present.add(target)
            elif target:
                warning = f"{path.name}: {target}.ipynb was submitted too; the copy is ignored"
            rows.append([student, path.name, f"{target}.ipynb" if target else "", warning])
        for name in expected:
            if name not in present:
                rows.append([student, "", f"{name}.ipynb", "missing"])
            elif not _is_notebook((folder / f"{name}.ipynb").read_bytes()):
                rows.append([student, f"{name}.ipynb", f"{name}.ipynb", "malformed"])
            elif not any(r[0] == student and r[2] == f"{name}.ipynb" for r in rows):
                rows.append([student, f"{name}.ipynb", f"{name}.ipynb", "ok"])
    return sorted(rows, key=lambda r: (r[0], r[2]))


def collect(course: Course, assignment: str, zip_path: Path | None = None) -> int:
    """``make collect``: print the summary table; return the exit status."""
    prepare(course, assignment)  # gradebook and assignment ready (fails for an unknown one)
    if zip_path is not None:
        rows, problems = collect_zip(course, assignment, Path(zip_path))
        source = str(zip_path)
        found = {row[0] for row in rows}
        rows += [[student, "", "", "missing: not in the download"]
                 for student in known_students(course) if student not in found]
    elif course.exchange is not None:
        result = run_nbgrader(course, ["collect", assignment, "--update",
                                       f"--Exchange.root={course.exchange}"])
        if result.returncode != 0:
            raise ClassroomError("nbgrader collect failed:\n" + result.stdout + result.stderr)
        rows, problems, source = normalize_submitted(course, assignment), 0, str(course.exchange)
    else:
        raise ClassroomError("nothing to collect from: pass ZIP=path/to/download.zip, or "
                             "EXCHANGE=dir for the course's nbgrader exchange")
    print(format_table(["student", "file found", "mapped to", "warning"], rows))
    students = len({r[0] for r in rows if r[0] != "?" and not r[3].startswith("missing")})
    print(f"\n{students} student(s) collected from {source} into {SUBMITTED}/<student>/"
          f"{assignment}/; next: make grade A={assignment}")
    if problems:
        print(f"ACTION NEEDED: {problems} notebook(s) could not be attributed to a student "
              f"(rows marked '?'): put them in {SUBMITTED}/<student>/{assignment}/ by hand")
        return 1
    return 0
