"""``make grade A=... J=N``: autograde every submission, N students at a time.

Each student is graded by its own process (``nbgrader autograde A --student=ID --force`` with
the course's config, so through the sandboxed two-process pipeline); one failing student never
stops the others. With the default SQLite gradebook every nbgrader gradebook session of every
worker holds a file lock (``gradebook.db.lock``): the writes are short and serialized, so
parallel workers never meet "database is locked", while the notebooks themselves (the slow
part) run in parallel. Other databases (``DB_URL=postgresql://...``) need no lock.

Late work: ``timestamp.txt`` of each submission against the assignment's due date (``make
release DUE=...``) plus the student's extension (``make extend``); the penalty comes from
nbgrader's late-submission plugin (see nbgrader_config.py; :class:`PerHourLatePenalty` takes
points off per started hour).
"""

from __future__ import annotations

import argparse
import fcntl
import math
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float

from . import grades as status
from .workspace import SUBMITTED, ClassroomError, Course, format_table, nbgrader_env, prepare

WORKER_TIMEOUT_S = 3600  # one student's whole submission; each cell has its own limit too


class PerHourLatePenalty(LateSubmissionPlugin):
    """Late penalty of ``points_per_hour`` per started hour late (capped at the score).

    ``c.AssignLatePenalties.plugin_class = "course_grading.classroom.grade.PerHourLatePenalty"``
    and ``c.PerHourLatePenalty.points_per_hour = 1.0`` in nbgrader_config.py.
    """

    points_per_hour = Float(1.0, help="Points taken off per started hour late.").tag(config=True)

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        if total_seconds_late <= 0:
            return None
        return min(score, math.ceil(total_seconds_late / 3600) * self.points_per_hour)


class _FileLock:
    """A re-entrant (within this process) exclusive lock on a file."""

    def __init__(self, path: Path):
        self.path, self.depth, self.fd = path, 0, None
        self._thread_lock = threading.RLock()

    def acquire(self) -> None:
        self._thread_lock.acquire()
        if self.depth == 0:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.depth += 1

    def release(self) -> None:
        self.depth -= 1
        if self.depth == 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        self._thread_lock.release()


def lock_gradebook_sessions(lock_path: Path) -> None:
    """Make every ``nbgrader.api.Gradebook`` in this process hold ``lock_path`` while open."""
    from nbgrader import api

    lock = _FileLock(lock_path)
    original_init, original_close = api.Gradebook.__init__, api.Gradebook.close

    def __init__(self, *args, **kwargs):
        lock.acquire()
        try:
            original_init(self, *args, **kwargs)
        except BaseException:
            lock.release()
            raise
        self._course_lock_held = True

    def close(self):
        try:
            original_close(self)
        finally:
            if getattr(self, "_course_lock_held", False):
                self._course_lock_held = False
                lock.release()

    api.Gradebook.__init__, api.Gradebook.close = __init__, close


def worker(course_root: Path, assignment: str, student: str, notebook: str | None,
           nbgrader_args: list[str]) -> None:
    """Autograde one student (in its own process, started by :func:`grade_assignment`)."""
    from nbgrader.apps.nbgraderapp import NbGraderApp

    course = Course(course_root)
    os.chdir(course.root)
    if course.sqlite_path is not None:
        lock_gradebook_sessions(course.sqlite_path.with_name(course.sqlite_path.name + ".lock"))
    selection = [f"--notebook={notebook}"] if notebook else []
    NbGraderApp.launch_instance(argv=["autograde", assignment, f"--student={student}",
                                      "--force", *selection, *nbgrader_args])


@dataclass
class StudentResult:
    student: str
    status: str
    score: float | None
    max_score: float
    seconds: float | None
    note: str


def _grade_one(course: Course, assignment: str, student: str, notebooks: list[str],
               nbgrader_args: list[str]) -> float:
    """Run the worker(s) for one student, output to its log; returns the seconds taken.

    ``notebooks`` empty: all of them in one run; else one run per notebook (used when another
    notebook of the submission is unreadable, which would fail nbgrader's whole run).
    """
    log = course.log_path(assignment, student)
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with log.open("w") as handle:
        for notebook in notebooks or [None]:
            command = [sys.executable, "-m", "course_grading.classroom.grade", "--course",
                       str(course.root), assignment, student,
                       *([f"--notebook={notebook}"] if notebook else []), "--", *nbgrader_args]
            handle.flush()
            try:
                code = subprocess.run(command, cwd=course.root, env=nbgrader_env(),
                                      stdout=handle, stderr=subprocess.STDOUT,
                                      timeout=WORKER_TIMEOUT_S).returncode
            except subprocess.TimeoutExpired:
                code = f"stopped after {WORKER_TIMEOUT_S} s"
            handle.write(f"\n[classroom] worker exit: {code}\n")
    return time.perf_counter() - start


def _readable_notebooks(course: Course, assignment: str, student: str,
                        expected: list[str]) -> tuple[list[str], bool]:
    """(notebooks worth grading, whether some submitted notebook is unreadable)."""
    folder = course.root / SUBMITTED / student / assignment
    good = [nb for nb in expected if status._readable(folder / f"{nb}.ipynb")]
    bad = any((folder / f"{nb}.ipynb").exists() for nb in expected if nb not in good)
    return good, bad


def grade_assignment(course: Course, assignment: str, jobs: int | None = None,
                     students: list[str] | None = None,
                     nbgrader_args: list[str] = ()) -> list[StudentResult]:
    """Autograde every submission of ``assignment`` in ``jobs`` parallel workers."""
    from .collect import normalize_submitted

    prepare(course, assignment)
    jobs = jobs or os.cpu_count() or 1
    expected = course.source_notebooks(assignment)
    for row in normalize_submitted(course, assignment):  # files put in submitted/ by hand
        if row[3] and row[3] not in ("ok", "missing", "malformed"):
            print(f"warning: {row[0]}: {row[3]}")
    submitted = students or course.submitted_students(assignment)
    seconds: dict[str, float] = {}

    def run(student: str) -> None:
        good, some_bad = _readable_notebooks(course, assignment, student, expected)
        if good:  # a notebook that is not JSON is reported, not fed to nbgrader
            seconds[student] = _grade_one(course, assignment, student,
                                          good if some_bad else [], list(nbgrader_args))

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(run, submitted))
    everyone = submitted if students else None
    results = status.assignment_results(course, assignment, everyone)
    summary = []
    for student, notebooks in sorted(results.items()):
        order = [status.ERROR, status.MALFORMED, status.UNGRADED, status.MISSING, status.LATE,
                 status.MANUAL, status.GRADED]
        worst = min(notebooks, key=lambda r: order.index(r.status))
        scored = [r for r in notebooks if r.score is not None]
        summary.append(StudentResult(
            student, worst.status, sum(r.score for r in scored) if scored else None,
            sum(r.max_score for r in notebooks), seconds.get(student),
            "; ".join(f"{r.notebook}: {r.note}" for r in notebooks if r.note)))
    return summary


def report(results: list[StudentResult], assignment: str, jobs: int, wall: float) -> int:
    """Print the summary table; the exit status (1 when the instructor must act)."""
    rows = [[r.student, "-" if r.score is None else f"{r.score:g} / {r.max_score:g}", r.status,
             "" if r.seconds is None else f"{r.seconds:.1f}", r.note] for r in results]
    print(format_table(["student", "score", "status", "seconds", "note"], rows))
    graded = sum(r.seconds is not None for r in results)
    print(f"\n{graded} submission(s) of {assignment} graded in {wall:.1f} s with J={jobs}")
    act = [r for r in results if r.status in (status.ERROR, status.MALFORMED)]
    manual = [r for r in results if r.status == status.MANUAL]
    if manual:
        print(f"next: {len(manual)} submission(s) have written answers to grade by hand "
              "(make lab -> Formgrader), then make feedback A=... and make grades")
    if not results:
        print(f"ACTION NEEDED: no submissions of {assignment}: make collect A={assignment}")
        return 1
    if act:
        print("ACTION NEEDED: " + "; ".join(
            f"{r.student} ({r.status}: "
            + ("ask for a readable resubmission" if r.status == status.MALFORMED
               else "see grading-logs/" + assignment + "/" + r.student + ".log") + ")"
            for r in act))
        return 1
    return 0


def grade(course: Course, assignment: str, jobs: int | None = None,
          nbgrader_args: list[str] = ()) -> int:
    """``make grade``: grade in parallel, print the table, return the exit status."""
    jobs = jobs or os.cpu_count() or 1
    start = time.perf_counter()
    results = grade_assignment(course, assignment, jobs, nbgrader_args=nbgrader_args)
    return report(results, assignment, jobs, time.perf_counter() - start)


def _worker_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Autograde one student (a grade worker).")
    parser.add_argument("--course", type=Path, default=Path.cwd())
    parser.add_argument("assignment")
    parser.add_argument("student")
    parser.add_argument("--notebook")
    parser.add_argument("nbgrader_args", nargs="*")
    args = parser.parse_args(argv)
    try:
        worker(args.course, args.assignment, args.student, args.notebook, args.nbgrader_args)
    except ClassroomError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    _worker_main()
