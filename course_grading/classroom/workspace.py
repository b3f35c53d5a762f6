"""The course folder an instructor grades in: its gradebook, exchange and nbgrader runs.

Every classroom step (``make release/collect/grade/grades``) starts with :func:`prepare`, so
each works from a fresh clone with nothing done by hand: the gradebook is created or upgraded
(``nbgrader db upgrade`` with the environment's ``bin/`` on PATH, so nbgrader finds
``alembic``), a gradebook left half-built by an earlier run without ``alembic`` is repaired, and
the assignment is generated into it when it is not there yet (handing out the book's copies
without ``generate_assignment`` used to make autograde fail with "No assignment with ID ...").
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

CONFIG_FILE = "nbgrader_config.py"
SUBMITTED, AUTOGRADED, RELEASE = "submitted", "autograded", "release"
LOG_DIR = "grading-logs"  # one log per student and assignment (git-ignored)


class ClassroomError(RuntimeError):
    """A step cannot go on; the message says what the instructor has to do."""


def bin_dir() -> Path:
    """The ``bin/`` folder of the running environment (nbgrader, alembic, jupyter)."""
    return Path(sys.executable).parent


def nbgrader_env() -> dict[str, str]:
    """The environment for nbgrader subprocesses: this environment's ``bin/`` first on PATH."""
    path = os.environ.get("PATH", "")
    return {**os.environ, "PATH": f"{bin_dir()}{os.pathsep}{path}"}


@dataclass
class Course:
    """A course folder: the directory that holds ``nbgrader_config.py``."""

    root: Path

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        if not (self.root / CONFIG_FILE).is_file():
            raise ClassroomError(f"{self.root} has no {CONFIG_FILE}: run this in the course "
                                 "folder (the repository root) or pass --course DIR")

    def config(self):
        """The traitlets config nbgrader reads from this folder's ``nbgrader_config.py``."""
        from traitlets.config.loader import PyFileConfigLoader

        return PyFileConfigLoader(CONFIG_FILE, path=str(self.root)).load_config()

    def coursedir(self):
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(config=self.config())
        coursedir.root = str(self.root)
        return coursedir

    @property
    def db_url(self) -> str:
        """The gradebook URL as nbgrader resolves it (config, ``DB_URL``, else gradebook.db)."""
        return self.coursedir().db_url

    @property
    def course_id(self) -> str:
        return self.coursedir().course_id

    @property
    def sqlite_path(self) -> Path | None:
        """The gradebook file when the gradebook is SQLite, else None."""
        url = self.db_url
        if not url.startswith("sqlite:///"):
            return None
        return Path(url[len("sqlite:///"):].split("?", 1)[0])

    @property
    def exchange(self) -> Path | None:
        """The course's nbgrader exchange folder, when one is configured.

        ``COURSE_EXCHANGE`` (``make ... EXCHANGE=dir``) or ``c.Exchange.root`` in
        nbgrader_config.py. None means no exchange: release and collect work on local folders.
        """
        env = os.environ.get("COURSE_EXCHANGE")
        if env:
            return Path(env).resolve()
        config = self.config()
        if "Exchange" in config and "root" in config.Exchange:
            return Path(config.Exchange.root).resolve()
        return None

    def source_notebooks(self, assignment: str) -> list[str]:
        """Notebook names (no ``.ipynb``) of an assignment, from the source folder."""
        folder = self.root / self.coursedir().source_directory / assignment
        if not folder.is_dir():
            raise ClassroomError(f"no assignment {assignment!r}: {folder} does not exist "
                                 f"(assignments: {', '.join(self.assignments()) or 'none'})")
        return sorted(path.stem for path in folder.glob("*.ipynb"))

    def assignments(self) -> list[str]:
        folder = self.root / self.coursedir().source_directory
        return sorted(p.name for p in folder.iterdir()
                      if p.is_dir() and any(p.glob("*.ipynb"))) if folder.is_dir() else []

    def submitted_students(self, assignment: str) -> list[str]:
        """Students with a ``submitted/<student>/<assignment>/`` folder."""
        folder = self.root / SUBMITTED
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir())

    def log_path(self, assignment: str, student: str) -> Path:
        return self.root / LOG_DIR / assignment / f"{student}.log"


def run_nbgrader(course: Course, args: list[str], *, timeout: float | None = None,
                 env: dict | None = None) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` in the course folder with this environment's tools; output captured."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course.root,
                          env=env or nbgrader_env(), capture_output=True, text=True,
                          timeout=timeout)


def _check(result: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise ClassroomError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result


def alembic_head() -> str:
    """The gradebook schema version this nbgrader expects (read from its migration scripts)."""
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    return ScriptDirectory(ALEMBIC_DIR).get_current_head()


def _stamp(url: str) -> str | None:
    """The gradebook's recorded schema version; None when it has no stamp."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if "alembic_version" not in inspect(connection).get_table_names():
                return None
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
            return row[0] if row else None
    finally:
        engine.dispose()


def repair_half_built_gradebook(path: Path) -> bool:
    """Stamp a gradebook whose tables exist but whose ``alembic_version`` does not.

    nbgrader creates every table of the current schema and then asks ``alembic`` for the
    version; without ``alembic`` on PATH the second part fails and ``nbgrader db upgrade``
    later replays every migration on the full schema (``duplicate column name: kernelspec``).
    The tables are already current, so recording the head version is the whole repair.
    Returns True when the file was repaired.
    """
    if not path.is_file():
        return False
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        stamped = "alembic_version" in tables and db.execute(
            "SELECT count(*) FROM alembic_version").fetchone()[0] > 0
        if stamped or not tables:
            return False
        db.execute("CREATE TABLE IF NOT EXISTS alembic_version "
                   "(version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (alembic_head(),))
    return True


def _create_gradebook(url: str, course_id: str) -> None:
    from nbgrader.api import Gradebook

    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = nbgrader_env()["PATH"]  # nbgrader asks `alembic` for the version
    try:
        Gradebook(url, course_id).close()
    finally:
        os.environ["PATH"] = old_path


def ensure_gradebook(course: Course) -> None:
    """Create or upgrade the gradebook, idempotently; never leave a half-built one behind.

    A new SQLite gradebook is built in a temporary file and renamed into place; an existing
    one is repaired if half-built, and upgraded (``nbgrader db upgrade``, which keeps a
    backup) only when its schema version is not nbgrader's current one.
    """
    if shutil.which("alembic", path=nbgrader_env()["PATH"]) is None:
        raise ClassroomError("alembic is not installed in this environment: run `make env`")
    path = course.sqlite_path
    if path is not None and not path.exists():
        scratch = path.with_name(f".{path.name}.{os.getpid()}.new")
        scratch.unlink(missing_ok=True)
        try:
            _create_gradebook(f"sqlite:///{scratch}", course.course_id)
            if _stamp(f"sqlite:///{scratch}") != alembic_head():
                raise ClassroomError("nbgrader could not stamp a new gradebook")
            os.replace(scratch, path)
        finally:
            scratch.unlink(missing_ok=True)
        return
    if path is not None and repair_half_built_gradebook(path):
        print(f"repaired a half-built gradebook ({path.name}: tables without a version stamp)")
    if path is None and _stamp(course.db_url) is None:
        _create_gradebook(course.db_url, course.course_id)  # an empty database (e.g. PostgreSQL)
    if _stamp(course.db_url) != alembic_head():
        _check(run_nbgrader(course, ["db", "upgrade"]), "nbgrader db upgrade")


def set_due_date(course: Course, assignment: str, due: str) -> None:
    """Record the assignment's due date (what ``nbgrader db assignment add --duedate`` does)."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    try:
        when = parse_utc(due)
    except (ValueError, OverflowError) as error:
        raise ClassroomError(f"cannot read the due date {due!r}: {error}") from error
    with Gradebook(course.db_url, course.course_id) as gradebook:
        gradebook.update_or_create_assignment(assignment, duedate=when)


def gradebook_notebooks(course: Course, assignment: str) -> list[str] | None:
    """Notebook names the gradebook holds for an assignment; None if it is not there."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course.course_id) as gradebook:
        try:
            return sorted(nb.name for nb in gradebook.find_assignment(assignment).notebooks)
        except MissingEntry:
            return None


def known_students(course: Course) -> list[str]:
    """Students in the gradebook (e.g. ``nbgrader db student import roster.csv``)."""
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, course.course_id) as gradebook:
        return sorted(student.id for student in gradebook.students)


def prepare(course: Course, assignment: str | None = None, *, regenerate: bool = False) -> None:
    """Gradebook ready, and ``assignment`` generated into it (idempotent).

    ``generate_assignment`` runs when the gradebook lacks the assignment or one of its
    notebooks, when ``release/<assignment>`` is missing, or when ``regenerate`` is set.
    """
    ensure_gradebook(course)
    if assignment is None:
        return
    expected = course.source_notebooks(assignment)
    if not expected:
        raise ClassroomError(f"assignment {assignment!r} has no notebooks in its source folder")
    known = gradebook_notebooks(course, assignment) or []
    released = course.root / RELEASE / assignment
    if regenerate or set(expected) - set(known) or not released.is_dir():
        _check(run_nbgrader(course, ["generate_assignment", assignment, "--force"]),
               f"nbgrader generate_assignment {assignment}")


def ensure_exchange(path: Path, course_id: str) -> Path:
    """Create the course's exchange with the permissions nbgrader documents for sharing.

    Root ``0755`` (never nbgrader's world-writable default), ``<course_id>/outbound`` 0755
    (students read released assignments), ``inbound`` 3733 (students write, cannot list or delete
    others' submissions), ``feedback`` 0711 (students reach only their own hashed folder).
    Folders that exist keep their permissions.
    """
    path = Path(path)
    modes = {path: 0o755, path / course_id: 0o755, path / course_id / "outbound": 0o755,
             path / course_id / "inbound": 0o3733, path / course_id / "feedback": 0o711}
    for folder, mode in modes.items():
        if not folder.exists():
            folder.mkdir(parents=True)
            os.chmod(folder, mode)
    if path.stat().st_mode & 0o002:
        raise ClassroomError(f"the exchange {path} is world-writable: `chmod o-w {path}`")
    return path


def format_table(headers: list[str], rows: list[list]) -> str:
    """A plain fixed-width table (what each step prints as its summary)."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row]
                                            for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def release(course: Course, assignment: str, due: str | None = None) -> int:
    """``make release``: generate the student copies (and release them to the exchange).

    ``due`` (e.g. ``"2026-12-11 23:59 UTC"``) sets the assignment's due date in the gradebook
    (``nbgrader db assignment add --duedate``); submissions after it (plus any extension) are
    late.
    """
    course.source_notebooks(assignment)  # unknown assignment: a clear error
    ensure_gradebook(course)
    if due:
        set_due_date(course, assignment, due)
    prepare(course, assignment, regenerate=True)
    rows = [[f"{RELEASE}/{assignment}/{p.name}", "generated"]
            for p in sorted((course.root / RELEASE / assignment).glob("*.ipynb"))]
    exchange = course.exchange
    if exchange is not None:
        ensure_exchange(exchange, course.course_id)
        _check(run_nbgrader(course, ["release_assignment", assignment, "--force",
                                     f"--Exchange.root={exchange}"]),
               f"nbgrader release_assignment {assignment}")
        rows.append([f"{exchange}/{course.course_id}/outbound/{assignment}/", "released"])
    print(format_table(["file", "done"], rows))
    print(f"\ndue: {due_date(course, assignment) or 'none set (make release DUE=...)'}")
    if exchange is None:
        print(f"no exchange configured: hand out {RELEASE}/{assignment}/ (or the book's copies);"
              f" collect an LMS download with make collect A={assignment} ZIP=...")
    return 0


def due_date(course: Course, assignment: str):
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course.course_id) as gradebook:
        try:
            return gradebook.find_assignment(assignment).duedate
        except MissingEntry:
            return None


def extend(course: Course, assignment: str, student: str, hours: float) -> int:
    """``make extend``: give ``student`` ``hours`` more for ``assignment`` (0 removes it).

    Stored in the gradebook (nbgrader's per-submission extension); applies when the submission
    is graded next (``make grade``), which recomputes how late it is.
    """
    from nbgrader.api import Gradebook

    prepare(course, assignment)
    with Gradebook(course.db_url, course.course_id) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes inside nbgrader
        gradebook.update_or_create_student(student)
        gradebook.update_or_create_submission(assignment, student)
        gradebook.grant_extension(assignment, student, hours=hours)
    print(f"{student}: {hours:g} h extension for {assignment} (due "
          f"{due_date(course, assignment) or 'not set'} + {hours:g} h); "
          f"make grade A={assignment} applies it")
    return 0
