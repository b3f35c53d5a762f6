"""make collect (course_grading.classroom.collect): LMS downloads into submitted/.

Canvas, Moodle and Blackboard file names, resubmission suffixes and renamed copies mapped to
the right notebook with a warning, the latest attempt winning, timestamp.txt from the LMS's
time, malformed files kept (graded as malformed), and files nobody owns reported. Fast: no
nbgrader run (collect_zip reads only the assignment's source notebooks).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from course_grading.classroom.collect import (collect_zip, map_notebook, normalize_submitted,
                                              parse_member)
from course_grading.classroom.workspace import Course, ensure_exchange
from course_grading.release import REPO_ROOT
from classroom_tiny import lms_zip

ASSIGNMENT = "01_perceptrons"
NOTEBOOK = "01_exercises"
WHEN = dt.datetime(2026, 11, 30, 10, 0, 0)


@pytest.fixture
def course(tmp_path) -> Course:
    shutil.copy(REPO_ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(REPO_ROOT / "solutions" / ASSIGNMENT, tmp_path / "solutions" / ASSIGNMENT)
    return Course(tmp_path)


def _notebook_text(course: Course, answer: str = "") -> str:
    nb = nbformat.read(course.root / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)
    nb.cells[0].source += answer  # tells the copies apart
    return nbformat.writes(nb)



@pytest.mark.parametrize("member, student, filename, lms", [
    ("smithjane_1234_5678_01_exercises.ipynb", "smithjane", "01_exercises.ipynb", "canvas"),
    ("smithjane_LATE_1234_5678_01_exercises-2.ipynb", "smithjane", "01_exercises-2.ipynb",
     "canvas"),
    ("Jane Smith_88_assignsubmission_file_/01_exercises.ipynb", "jane_smith",
     "01_exercises.ipynb", "moodle"),
    ("01_perceptrons_jsmith_attempt_2026-11-30-10-00-00_01_exercises.ipynb", "jsmith",
     "01_exercises.ipynb", "blackboard"),
    ("Homework 1_jsmith_attempt_2026-11-30-10-00-00_my notebook.ipynb", "jsmith",
     "my notebook.ipynb", "blackboard"),
    ("jane/01_perceptrons/01_exercises.ipynb", "jane", "01_exercises.ipynb", "folder"),
    ("jane/01_exercises.ipynb", "jane", "01_exercises.ipynb", "folder"),
])
def test_lms_file_names_give_student_and_file(member, student, filename, lms):
    entry = parse_member(member, WHEN, ASSIGNMENT)
    assert (entry.student, entry.filename, entry.lms) == (student, filename, lms)


def test_blackboard_attempt_time_comes_from_the_name():
    entry = parse_member("A_u1_attempt_2026-12-02-08-15-30_01_exercises.ipynb", WHEN, "A")
    assert entry.timestamp == dt.datetime(2026, 12, 2, 8, 15, 30)


@pytest.mark.parametrize("filename, resubmission, warned", [
    ("01_exercises.ipynb", 0, False),
    ("01_Exercises.ipynb", 0, False),
    ("01_exercises-Copy1.ipynb", 0, True),
    ("01_exercises (1).ipynb", 0, True),
    ("01_exercises-1.ipynb", 1, True),
    ("01_exercises-2.ipynb", 2, True),
    ("01_exercises copy.ipynb", 0, True),
    ("01_exercises-Copy1 (2).ipynb", 0, True),
])
def test_renamed_copies_and_resubmissions_map_to_the_notebook(filename, resubmission, warned):
    target, warning, number = map_notebook(filename, [NOTEBOOK], None, {})
    assert target == NOTEBOOK and number == resubmission
    assert bool(warning) == warned
    if warned:
        assert filename in warning and "collected as 01_exercises.ipynb" in warning


def test_notebook_with_another_name_maps_by_its_graded_cells():
    content = json.dumps({"cells": [{"cell_type": "code", "metadata": {
        "nbgrader": {"grade_id": "ch01-relu"}}, "source": ""}]}).encode()
    ids = {NOTEBOOK: {"ch01-relu", "ch01-sigmoid"}, "other": {"x"}}
    target, warning, _ = map_notebook("homework final.ipynb", [NOTEBOOK, "other"], content, ids)
    assert target == NOTEBOOK and "graded cells" in warning


def test_unrelated_files_are_not_collected():
    assert map_notebook("notes.txt", [NOTEBOOK], b"", {})[0] is None
    target, warning, _ = map_notebook("lab2.ipynb", [NOTEBOOK], b"{}", {NOTEBOOK: {"a"}})
    assert target is None and "matches no notebook" in warning


def test_canvas_zip_latest_resubmission_wins_renamed_copy_mapped_malformed_kept(course, tmp_path):
    later = (2026, 12, 1, 9, 30, 0)
    download = lms_zip(tmp_path / "canvas.zip", {
        "ann_11_100_01_exercises.ipynb": (_notebook_text(course, "first"), (2026, 11, 29, 8, 0, 0)),
        "ann_11_105_01_exercises-1.ipynb": (_notebook_text(course, "second"),
                                            (2026, 11, 30, 8, 0, 0)),
        "ann_11_109_01_exercises-2.ipynb": (_notebook_text(course, "third"), later),
        "ben_12_101_01_exercises-Copy1.ipynb": (_notebook_text(course, "ben"),
                                                (2026, 11, 30, 8, 0, 0)),
        "cat_13_102_01_exercises.ipynb": ('{"cells": [ not json', (2026, 11, 30, 8, 0, 0)),
        "cat_13_103_notes.txt": ("hello", (2026, 11, 30, 8, 0, 0)),
        "orphan.ipynb": (_notebook_text(course), (2026, 11, 30, 8, 0, 0)),
        "__MACOSX/._ann_11_100_01_exercises.ipynb": ("junk", (2026, 11, 30, 8, 0, 0)),
    })
    rows, problems = collect_zip(course, ASSIGNMENT, download)
    by_student = {row[0]: row for row in rows}
    submitted = course.root / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == ["ann", "ben", "cat"]
    ann = submitted / "ann" / ASSIGNMENT
    assert "third" in (ann / f"{NOTEBOOK}.ipynb").read_text()
    assert (ann / "timestamp.txt").read_text() == "2026-12-01 09:30:00.000000 UTC"
    assert "resubmission 2" in by_student["ann"][3] and "latest of several" in by_student["ann"][3]
    assert "ben" in (submitted / "ben" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text()
    assert "renamed copy" in by_student["ben"][3]
    cat = submitted / "cat" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert cat.read_text().startswith('{"cells": [ not')
    assert "malformed" in by_student["cat"][3]
    assert problems == 1 and by_student["?"][1] == "orphan.ipynb"


def test_moodle_and_blackboard_zips(course, tmp_path):
    moodle = lms_zip(tmp_path / "moodle.zip", {
        "Dana Lee_31_assignsubmission_file_/01_exercises (1).ipynb":
            (_notebook_text(course, "dana"), (2026, 11, 30, 8, 0, 0)),
    })
    collect_zip(course, ASSIGNMENT, moodle)
    dana = course.root / "submitted/dana_lee" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert "dana" in dana.read_text()
    board = lms_zip(tmp_path / "blackboard.zip", {
        "01_perceptrons_eve_attempt_2026-11-30-08-00-00_01_exercises.ipynb":
            (_notebook_text(course, "old"), (2026, 12, 3, 8, 0, 0)),
        "01_perceptrons_eve_attempt_2026-12-01-08-00-00_01_exercises.ipynb":
            (_notebook_text(course, "new"), (2026, 11, 1, 8, 0, 0)),
        "01_perceptrons_eve_attempt_2026-12-01-08-00-00.txt": ("Name: Eve", (2026, 12, 1, 8, 0, 0)),
    })
    collect_zip(course, ASSIGNMENT, board)
    eve = course.root / "submitted/eve" / ASSIGNMENT
    assert "new" in (eve / f"{NOTEBOOK}.ipynb").read_text()  # the attempt time, not the zip's
    assert (eve / "timestamp.txt").read_text().startswith("2026-12-01 08:00:00")


def test_exchange_submissions_with_renamed_notebooks_are_mapped(course):
    folder = course.root / "submitted" / "fay" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / "01_exercises-Copy1.ipynb").write_text(_notebook_text(course, "fay"))
    (course.root / "submitted" / "gil" / ASSIGNMENT).mkdir(parents=True)
    rows = normalize_submitted(course, ASSIGNMENT)
    assert (folder / f"{NOTEBOOK}.ipynb").exists()
    assert not (folder / "01_exercises-Copy1.ipynb").exists()
    assert ["gil", "", f"{NOTEBOOK}.ipynb", "missing"] in rows
    assert any(row[0] == "fay" and "renamed copy" in row[3] for row in rows)


def test_course_exchange_is_never_world_writable(tmp_path):
    root = ensure_exchange(tmp_path / "exchange", "course")
    assert root.stat().st_mode & 0o777 == 0o755
    assert (root / "course" / "inbound").stat().st_mode & 0o7777 == 0o3733
    assert (root / "course" / "outbound").stat().st_mode & 0o777 == 0o755


@pytest.mark.slow
def test_release_and_collect_through_the_course_exchange(tmp_path, monkeypatch):
    """make release / collect with EXCHANGE=: the course's exchange (0755), a renamed copy
    submitted by the student (this unix user) is mapped to the notebook."""
    import subprocess
    import sys

    from course_grading.classroom.__main__ import main
    from test_classroom_grade import ASSIGNMENT as TINY, scratch_course

    (tmp_path / "course").mkdir()
    course = scratch_course(tmp_path / "course")
    exchange = tmp_path / "exchange"
    monkeypatch.setenv("COURSE_EXCHANGE", str(exchange))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    assert main(["--course", str(course.root), "release", TINY]) == 0
    assert exchange.stat().st_mode & 0o777 == 0o755
    home = tmp_path / "student"
    home.mkdir()
    shutil.copy(course.root / "nbgrader_config.py", home)
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run(nbgrader + ["fetch_assignment", TINY, f"--course={course.course_id}"],
                   cwd=home, check=True, capture_output=True)
    (home / TINY / f"{TINY}.ipynb").rename(home / TINY / f"{TINY}-Copy1.ipynb")
    subprocess.run(nbgrader + ["submit", TINY, f"--course={course.course_id}"], cwd=home,
                   check=True, capture_output=True)
    assert main(["--course", str(course.root), "collect", TINY]) == 0
    student = next((course.root / "submitted").iterdir())
    folder = student / TINY
    assert (folder / f"{TINY}.ipynb").exists() and (folder / "timestamp.txt").exists()
    assert not (folder / f"{TINY}-Copy1.ipynb").exists()
