"""A gradebook that holds many graders: 30 submissions graded in parallel into each backend.

For SQLite (the default, ``gradebook.db``) and PostgreSQL (``DB_URL=postgresql://...``; a
throwaway server of Debian's ``postgresql`` started and stopped here,
``course_grading.classroom.postgres``), a scratch course gets 30 submissions of the tiny
fixture assignment (``tests/classroom_tiny.py``: correct, partly right and wrong answers in
turn, 2, 1 and 0 points) and grades them with the course's grade step
(``python -m course_grading.classroom grade -j 4``: one nbgrader autograde per student, four at
a time, through the sandboxed two-process pipeline). Every student's score must be the one
their answer earns, and no grading log may mention a lock error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import classroom_tiny as tiny  # noqa: E402

from course_grading import sandbox  # noqa: E402
from course_grading.classroom import postgres  # noqa: E402
from course_grading.release import REPO_ROOT, generate  # noqa: E402

pytestmark = pytest.mark.slow

SUBMISSIONS = 30
JOBS = 4  # more writers than cores: the gradebook sees concurrent sessions
KINDS = ["correct", "partly", "wrong"]
LOCK_ERRORS = ("database is locked", "could not serialize access", "deadlock detected",
               "OperationalError")


def _course(root: Path) -> dict[str, float]:
    """A scratch course with SUBMISSIONS submissions of the tiny assignment; expected scores."""
    root.mkdir()
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root)
    tiny.write_source(root)
    copies = generate(tiny.ASSIGNMENT, root / "student-copy", solutions_dir=root / "solutions")
    released = json.loads(copies[0].read_text())
    expected = {}
    for i in range(SUBMISSIONS):
        student, kind = f"student{i:02d}", KINDS[i % len(KINDS)]
        folder = root / "submitted" / student / tiny.ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / tiny.NOTEBOOK).write_text(json.dumps(tiny.answered(json.loads(
            json.dumps(released)), kind)))
        expected[student] = tiny.ANSWERS[kind][1]
    return expected


def _env(db_url: str | None) -> dict[str, str]:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep
           + os.environ.get("PATH", "")}
    env.pop("DB_URL", None)
    if db_url:
        env["DB_URL"] = db_url
    return env


def _grade_and_check(course: Path, db_url: str | None) -> float:
    expected = _course(course)
    start = time.perf_counter()
    graded = subprocess.run(
        [sys.executable, "-m", "course_grading.classroom", "--course", str(course), "grade",
         tiny.ASSIGNMENT, "-j", str(JOBS)],
        cwd=course, capture_output=True, text=True, env=_env(db_url), timeout=1200)
    wall = time.perf_counter() - start
    print(graded.stdout[-3000:])
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]

    from nbgrader.api import Gradebook

    url = db_url or f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(url) as gradebook:
        scores = {student: gradebook.find_submission(tiny.ASSIGNMENT, student).score
                  for student in expected}
    assert scores == expected
    logs = "\n".join(path.read_text(errors="replace")
                     for path in course.rglob("*.log")) + graded.stdout + graded.stderr
    found = [word for word in LOCK_ERRORS if word in logs]
    assert not found, found
    return wall


@pytest.fixture(autouse=True)
def _needs_sandbox():
    if sandbox.missing_tools() or os.geteuid() != 0:
        pytest.skip("grading needs bubblewrap and root")


def test_sqlite_gradebook_30_in_parallel(tmp_path):
    wall = _grade_and_check(tmp_path / "course", None)
    print(f"\nSQLite: {SUBMISSIONS} submissions, J={JOBS}: {wall:.1f} s")


def test_postgresql_gradebook_30_in_parallel(tmp_path):
    why = postgres.missing()
    if why:
        pytest.skip(why)
    with postgres.TempPostgres() as server:
        wall = _grade_and_check(tmp_path / "course", server.url)
        # The scores really are in PostgreSQL: no SQLite gradebook was written.
        assert not (tmp_path / "course" / "gradebook.db").exists()
    print(f"\nPostgreSQL: {SUBMISSIONS} submissions, J={JOBS}: {wall:.1f} s")
