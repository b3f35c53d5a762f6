"""make grades (course_grading.classroom.grades): grades.csv per student x assignment x part.

Every status of the issue, each from the files and gradebook state that cause it (written
here directly, no kernels run, so the test is quick): graded, needs manual grading, late
(with its penalty row), malformed, missing, error, and ungraded. A submission that could not be
graded has an empty score, never a bare 0; the step exits 1 while some are error/ungraded.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil

import pytest

from course_grading.classroom.__main__ import main
from course_grading.classroom.collect import write_timestamp
from course_grading.classroom.workspace import prepare, set_due_date
from test_classroom_grade import ASSIGNMENT, NOTEBOOK, scratch_course

DUE = dt.datetime(2026, 12, 1, 12, 0, 0)
# nbgrader's own update_or_create_submission trips SQLAlchemy's autoflush notes
pytestmark = pytest.mark.filterwarnings("ignore:Object of type:Warning")


def _submit(course, student, text=None, *, graded=None, when=DUE - dt.timedelta(hours=1),
            log=False, penalty=None):
    """A submission in submitted/; ``graded``: {grade id: (auto, manual)} -> autograded too."""
    folder = course.root / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    source = course.root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    (folder / f"{NOTEBOOK}.ipynb").write_text(text if text is not None else source.read_text())
    write_timestamp(folder, when)
    if log:
        path = course.log_path(ASSIGNMENT, student)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("Traceback: the grader crashed\n")
    if graded is None:
        return
    out = course.root / "autograded" / student / ASSIGNMENT
    out.mkdir(parents=True)
    shutil.copy(folder / f"{NOTEBOOK}.ipynb", out)
    later = (folder / f"{NOTEBOOK}.ipynb").stat().st_mtime + 5
    os.utime(out / f"{NOTEBOOK}.ipynb", (later, later))
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, course.course_id) as gradebook:
        gradebook.update_or_create_student(student)
        gradebook.update_or_create_submission(ASSIGNMENT, student, timestamp=when)
        for grade_id, (auto, manual) in graded.items():
            grade = gradebook.find_grade(grade_id, NOTEBOOK, ASSIGNMENT, student)
            grade.auto_score, grade.manual_score = auto, manual
            grade.needs_manual_grade = auto is None and manual is None
        notebook = gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
        notebook.late_submission_penalty = penalty
        gradebook.db.commit()


@pytest.fixture
def course(tmp_path):
    course = scratch_course(tmp_path)
    prepare(course, ASSIGNMENT)
    set_due_date(course, ASSIGNMENT, "2026-12-01 12:00:00 UTC")
    full = {"cx-add-test-ints": (1.0, None), "cx-add-test-floats": (1.0, None),
            "cx-why": (None, 1.0)}
    _submit(course, "ok", graded=full)
    _submit(course, "pending", graded={**full, "cx-why": (None, None)})
    _submit(course, "late", graded=full, when=DUE + dt.timedelta(hours=2), penalty=0.5)
    _submit(course, "broken", '{"cells": [ not json')
    _submit(course, "crashed", log=True)
    _submit(course, "new")
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, course.course_id) as gradebook:
        gradebook.update_or_create_student("absent")
    return course


def test_grades_csv_has_a_status_per_part_and_no_bare_zero(course, capsys):
    code = main(["--course", str(course.root), "grades"])
    out = capsys.readouterr().out
    print(out)
    with (course.root / "grades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    table = {(r["student"], r["part"]): (r["status"], r["score"]) for r in rows}
    assert table[("ok", "cx-add")] == ("graded", "2.0")
    assert table[("ok", "cx-why")] == ("graded", "1.0")
    assert table[("pending", "cx-add")] == ("graded", "2.0")
    assert table[("pending", "cx-why")] == ("needs manual grading", "")
    assert table[("late", "cx-add")] == ("late", "2.0")
    assert table[("late", "late penalty")] == ("late", "-0.5")
    for student, status in [("broken", "malformed"), ("crashed", "error"), ("new", "ungraded"),
                            ("absent", "missing")]:
        for part in ("cx-add", "cx-why"):
            assert table[(student, part)] == (status, ""), (student, part)
    titles = {r["part"]: r["title"] for r in rows}
    assert titles["cx-add"] == "Part 1 — Add two numbers"
    assert [r["part"] for r in rows if r["student"] == "ok"] == ["cx-add", "cx-why"]
    assert any("2.0 h late" in r["note"] for r in rows if r["student"] == "late")
    assert any("grading-logs" in r["note"] for r in rows if r["student"] == "crashed")
    assert code == 1 and "ACTION NEEDED" in out  # error and ungraded rows: grade them


def test_grades_exit_zero_when_everything_is_graded(course, capsys):
    for student in ("broken", "crashed", "new"):
        shutil.rmtree(course.root / "submitted" / student)
    assert main(["--course", str(course.root), "grades", ASSIGNMENT]) == 0
    out = capsys.readouterr().out
    assert "missing" in out and "needs manual grading" in out
