"""Generate the student copies of every assignment: ``python -m course_grading.release``.

``solutions/<assignment>/*.ipynb`` (instructor notebooks) -> nbgrader ``generate_assignment``
in a scratch course folder -> ``chapters/<assignment>/exercises/*.ipynb``. The scratch folder
keeps the repository's own gradebook and release/ folder untouched. ``make exercises`` runs
this; ``tests/test_metadata.py`` fails if a committed copy differs from a fresh one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS_DIR = REPO_ROOT / "solutions"
CHAPTERS_DIR = REPO_ROOT / "chapters"
EXERCISES_SUBDIR = "exercises"


def assignments(solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """Names of the assignments: the folders of ``solutions/`` that hold notebooks."""
    if not solutions_dir.is_dir():
        raise FileNotFoundError(f"no solutions folder at {solutions_dir}")
    return sorted(
        path.name for path in solutions_dir.iterdir()
        if path.is_dir() and any(path.glob("*.ipynb"))
    )


def run_nbgrader(args: list[str], cwd: Path, *, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` with this Python in course folder ``cwd``; capture its output.

    The interpreter's ``bin/`` goes first on PATH because nbgrader runs the ``alembic`` command
    (installed beside it) to set up its gradebook.
    """
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def generate(assignment: str, output_dir: Path, *, solutions_dir: Path = SOLUTIONS_DIR) -> list[Path]:
    """Run ``nbgrader generate_assignment`` for one assignment; write its notebooks to ``output_dir``.

    Returns:
        The paths of the generated student notebooks.

    Raises:
        FileNotFoundError: the assignment has no folder in ``solutions/``.
        RuntimeError: nbgrader failed (its log is in the message).
    """
    source = solutions_dir / assignment
    if not source.is_dir():
        raise FileNotFoundError(f"no assignment folder {source}")
    with tempfile.TemporaryDirectory(prefix="nbgrader-release-") as scratch:
        course = Path(scratch)
        shutil.copy(REPO_ROOT / "nbgrader_config.py", course)
        shutil.copytree(source, course / "solutions" / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        result = run_nbgrader(["generate_assignment", assignment, "--force"], course)
        released = course / "release" / assignment
        if result.returncode != 0 or not released.is_dir():
            raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n"
                               f"{result.stdout}\n{result.stderr}")
        output_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for notebook in sorted(released.glob("*.ipynb")):
            target = output_dir / notebook.name
            shutil.copy(notebook, target)
            written.append(target)
        return written


def main(argv: list[str] | None = None) -> None:
    """Regenerate student copies in ``chapters/<assignment>/exercises/``.

    With no arguments every assignment; otherwise only the assignments named, e.g.
    ``python -m course_grading.release 03_optimizers``.
    """
    names = sys.argv[1:] if argv is None else argv
    unknown = sorted(set(names) - set(assignments()))
    if unknown:
        raise SystemExit(f"no such assignment(s) in solutions/: {', '.join(unknown)}")
    for assignment in names or assignments():
        exercises_dir = CHAPTERS_DIR / assignment / EXERCISES_SUBDIR
        with tempfile.TemporaryDirectory(prefix="student-copies-") as fresh:
            generated = generate(assignment, Path(fresh))  # fails before touching chapters/
            if exercises_dir.exists():
                shutil.rmtree(exercises_dir)  # drop copies of notebooks removed from solutions/
            exercises_dir.mkdir(parents=True)
            for path in generated:
                shutil.copy(path, exercises_dir / path.name)
                print((exercises_dir / path.name).relative_to(REPO_ROOT))


if __name__ == "__main__":
    main()
