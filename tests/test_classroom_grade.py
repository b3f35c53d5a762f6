"""make release / collect / grade / extend (course_grading.classroom), end to end.

A small fixture assignment (one answer, two autograded tests, one written answer) graded
through the course's sandboxed pipeline in a scratch course folder, from nothing: no venv
steps by hand, no gradebook, no generate_assignment. The batch holds a correct, a wrong, a
malformed, a renamed, a late (per-hour penalty), an extended and a missing submission,
collected from a Canvas download and graded with J=2 workers; its status table is printed
(``pytest -s``). The figures for 30 submissions of 01 and 05 come from
``CLASSROOM_BENCH=1 pytest -s -k bench`` (run by hand; not part of the suite).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from course_grading.classroom.__main__ import main
from course_grading.classroom.workspace import (Course, _stamp, alembic_head, ensure_gradebook,
                                                gradebook_notebooks)
from course_grading.release import REPO_ROOT
from classroom_tiny import lms_zip

ASSIGNMENT, NOTEBOOK = "00_classroom", "00_classroom"
DUE = "2026-12-01 12:00:00 UTC"
ON_TIME, LATE_2H30 = (2026, 12, 1, 10, 0, 0), (2026, 12, 1, 14, 30, 0)
PENALTY_PER_HOUR = 0.5  # 2.5 h late -> 3 started hours -> 1.5 points
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap not installed (make sandbox)")


def _cell(kind: str, source: str, grade_id: str, *, grade=False, solution=False, points=0):
    meta = {"grade": grade, "solution": solution, "locked": not solution, "grade_id": grade_id,
            "schema_version": 3}
    if grade:
        meta["points"] = points
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    return make(source, metadata={"nbgrader": meta})


def write_fixture_assignment(course: Path) -> None:
    """``solutions/00_classroom/00_classroom.ipynb``: 2 autograded points + 1 written point."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        _cell("markdown", "## Part 1 — Add two numbers (2 points)", "cx-add-task"),
        _cell("code", "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n"
              "    ### END SOLUTION", "cx-add", solution=True),
        _cell("code", '"""add: integers."""\nassert add(1, 2) == 3, "add(1, 2) should be 3"',
              "cx-add-test-ints", grade=True, points=1),
        _cell("code", '"""add: floats."""\n### BEGIN HIDDEN TESTS\n'
              'assert abs(add(0.5, 0.25) - 0.75) < 1e-12\n### END HIDDEN TESTS',
              "cx-add-test-floats", grade=True, points=1),
        _cell("markdown", "## Part 2 — Written answer (1 point)", "cx-why-task"),
        _cell("markdown", "### BEGIN SOLUTION\nBecause.\n### END SOLUTION", "cx-why",
              grade=True, solution=True, points=1),
    ]
    path = course / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def scratch_course(root: Path, late_penalty: bool = False) -> Course:
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root)
    if late_penalty:
        with (root / "nbgrader_config.py").open("a") as config:
            config.write('\nc.AssignLatePenalties.plugin_class = '
                         '"course_grading.classroom.grade.PerHourLatePenalty"\n'
                         f"c.PerHourLatePenalty.points_per_hour = {PENALTY_PER_HOUR}\n")
    write_fixture_assignment(root)
    return Course(root)


def student_copy(course: Course, body: str | None, written: str | None = None) -> str:
    """The released notebook with ``add``'s body (None: left blank) and the written answer."""
    nb = nbformat.read(course.root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "cx-add" and body is not None:
            cell.source = f"def add(a, b):\n    {body}"
        if grade_id == "cx-why" and written is not None:
            cell.source = written
    return nbformat.writes(nb)



def test_half_built_gradebook_is_repaired_and_upgrades(tmp_path):
    """The issue's trap: nbgrader run without alembic on PATH leaves tables but no version."""
    course = scratch_course(tmp_path)
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # the venv's bin (alembic) not on PATH
    broken = subprocess.run([sys.executable, "-c", "from nbgrader.api import Gradebook; "
                             f"Gradebook('sqlite:///{tmp_path}/gradebook.db')"],
                            env=env, capture_output=True, text=True)
    assert broken.returncode != 0 and (tmp_path / "gradebook.db").exists()
    assert _stamp(course.db_url) is None
    ensure_gradebook(course)
    assert _stamp(course.db_url) == alembic_head()
    upgrade = subprocess.run([sys.executable, "-m", "nbgrader", "db", "upgrade"], cwd=tmp_path,
                             capture_output=True, text=True,
                             env={**os.environ, "PATH": f"{Path(sys.executable).parent}:"
                                                        f"{os.environ['PATH']}"})
    assert upgrade.returncode == 0, upgrade.stderr
    assert "duplicate column" not in upgrade.stderr


def test_gradebook_sessions_hold_the_lock_while_open(tmp_path):
    """What keeps parallel SQLite writers apart: an open Gradebook holds the lock file
    (re-entrant within a process), a closed one releases it."""
    course = scratch_course(tmp_path)
    ensure_gradebook(course)
    lock = tmp_path / "gradebook.db.lock"
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from course_grading.classroom.grade import lock_gradebook_sessions\n"
        f"lock_gradebook_sessions(Path({str(lock)!r}))\n"
        "from nbgrader.api import Gradebook\n"
        f"outer = Gradebook({course.db_url!r})\n"
        f"Gradebook({course.db_url!r}).close()  # nested: no deadlock\n"
        "print('open', flush=True); sys.stdin.readline(); outer.close()\n"
        "print('closed', flush=True); sys.stdin.readline()\n")
    worker = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "open"
        handle = os.open(lock, os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        worker.stdin.write("\n")
        worker.stdin.flush()
        assert worker.stdout.readline().strip() == "closed"
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again
        fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)
        worker.stdin.write("\n")
        worker.stdin.flush()
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()


@pytest.mark.slow
def test_collect_from_a_fresh_course_sets_up_the_gradebook(tmp_path, capsys):
    """No release, no gradebook (the book's copies handed out): collect prepares everything."""
    course = scratch_course(tmp_path)
    download = lms_zip(tmp_path / "lms.zip", {
        "ann_1_10_00_classroom.ipynb": (nbformat.writes(nbformat.read(
            tmp_path / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)), ON_TIME)})
    assert main(["--course", str(tmp_path), "collect", ASSIGNMENT, "--zip", str(download)]) == 0
    assert gradebook_notebooks(course, ASSIGNMENT) == [NOTEBOOK]
    assert _stamp(course.db_url) == alembic_head()
    assert main(["--course", str(tmp_path), "collect", ASSIGNMENT, "--zip", str(download)]) == 0
    assert not list(tmp_path.glob("gradebook.db.*"))  # idempotent: no upgrade, no backup
    assert "ann" in capsys.readouterr().out


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Release with a due date, collect a Canvas zip, extend one student, grade with J=2."""
    root = tmp_path_factory.mktemp("classroom")
    course = scratch_course(root, late_penalty=True)
    assert main(["--course", str(root), "release", ASSIGNMENT, "--due", DUE]) == 0
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, course.course_id) as gradebook:  # the roster
        for student in ("alice", "bob", "carol", "dave", "erin", "frank", "gina"):
            gradebook.update_or_create_student(student)
    answer = "return a + b"
    download = lms_zip(root / "canvas.zip", {
        "alice_1_10_00_classroom.ipynb": (student_copy(course, answer, "Since."), ON_TIME),
        "bob_2_11_00_classroom.ipynb": (student_copy(course, "return a - b"), ON_TIME),
        "carol_3_12_00_classroom.ipynb": ('{"cells": [ this is not json', ON_TIME),
        "dave_4_13_00_classroom-Copy1.ipynb": (student_copy(course, answer), ON_TIME),
        "erin_LATE_5_14_00_classroom.ipynb": (student_copy(course, answer), LATE_2H30),
        "gina_LATE_7_16_00_classroom.ipynb": (student_copy(course, answer), LATE_2H30),
    })
    assert main(["--course", str(root), "collect", ASSIGNMENT, "--zip", str(download)]) == 0
    assert main(["--course", str(root), "extend", ASSIGNMENT, "gina", "--hours", "3"]) == 0
    start = time.perf_counter()
    from course_grading.classroom.grade import grade

    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        code = grade(course, ASSIGNMENT, jobs=2)
    return course, code, time.perf_counter() - start, table.getvalue()


@needs_bwrap
@pytest.mark.slow
def test_batch_statuses_scores_and_exit_code(batch, capsys):
    from course_grading.classroom.grades import assignment_results

    course, code, seconds, _ = batch
    results = {student: notebooks[0] for student, notebooks in
               assignment_results(course, ASSIGNMENT).items()}
    got = {student: (r.status, r.score) for student, r in results.items()}
    assert got == {
        "alice": ("needs manual grading", 2.0),  # written answer waits for the formgrader
        "bob": ("graded", 0.0),
        "carol": ("malformed", None),
        "dave": ("graded", 2.0),  # the renamed copy, collected as 00_classroom.ipynb
        "erin": ("late", 2.0 - 3 * PENALTY_PER_HOUR),
        "frank": ("missing", None),
        "gina": ("graded", 2.0),  # 2.5 h after the due date, with a 3 h extension
    }
    assert code == 1  # carol's malformed file needs the instructor
    logs = [p.read_text() for p in (course.root / "grading-logs" / ASSIGNMENT).glob("*.log")]
    assert len(logs) == 5 and not any("database is locked" in log for log in logs)
    print(f"\n[batch graded with J=2 in {seconds:.1f} s]")


@needs_bwrap
@pytest.mark.slow
def test_grade_prints_the_table_and_says_what_to_do(batch, capsys):
    out = batch[3]
    with capsys.disabled():
        print("\n" + out)
    assert "ACTION NEEDED: carol (malformed" in out
    for student in ("alice", "bob", "carol", "dave", "erin", "frank", "gina"):
        assert student in out
    assert "5 submission(s) of 00_classroom graded" in out


@pytest.mark.skipif(not os.environ.get("CLASSROOM_BENCH"), reason="CLASSROOM_BENCH=1 to run")
@pytest.mark.parametrize("assignment", ["01_perceptrons", "05_training_cnns"])
def test_bench_30_submissions_j1_vs_j2(assignment, tmp_path):
    """Wall time of `make grade` for 30 instructor-solution submissions, J=1 then J=2."""
    from course_grading.classroom.grade import grade_assignment

    shutil.copy(REPO_ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(REPO_ROOT / "solutions" / assignment, tmp_path / "solutions" / assignment)
    course = Course(tmp_path)
    count = int(os.environ.get("CLASSROOM_BENCH_N", "30"))
    for i in range(count):
        folder = tmp_path / "submitted" / f"s{i:02d}" / assignment
        folder.mkdir(parents=True)
        for notebook in (tmp_path / "solutions" / assignment).glob("*.ipynb"):
            shutil.copy(notebook, folder / notebook.name)
    from course_grading.classroom.workspace import prepare

    prepare(course, assignment)
    times = {}
    for jobs in (1, 2):
        start = time.perf_counter()
        results = grade_assignment(course, assignment, jobs)
        times[jobs] = time.perf_counter() - start
        assert {r.status for r in results} <= {"graded", "needs manual grading"}, results
        assert len(results) == count and len({r.score for r in results}) == 1, results
    print(f"\n{assignment}: {count} submissions, J=1 {times[1]:.0f} s, J=2 {times[2]:.0f} s, "
          f"speedup {times[1] / times[2]:.2f}x")
