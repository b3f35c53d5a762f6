"""``make check NB=path/to/notebook.ipynb``: a student's check before submitting.

Runs the notebook from top to bottom in the student's own kernel (the one the notebook names;
nothing is sandboxed: it is their code on their machine), then prints the points per Part
(the ``## Part N — ...`` headings), each failing visible test with its message, and any
locked cell the student changed (grading puts the original back). The notebook file itself is
not changed. Exit code: 0 when every test passes, 1 when a test fails, 2 when the notebook
cannot be read or run.

``nbgrader validate`` exits 0 even when tests fail and shows no points; this is the course's
replacement (``python -m course_grading.classroom.check NB.ipynb [NB2.ipynb ...]``). Hidden
tests are not in the student copy, so they run only when the submission is graded.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_grading.classroom.feedback import Part, format_parts, is_test_cell, parts

DEFAULT_TIMEOUT_S = 120  # per cell; exercises train for seconds


@dataclass
class CheckResult:
    """What one run of a notebook showed."""

    path: Path
    parts: list[Part] = field(default_factory=list)
    changed_locked: list[str] = field(default_factory=list)
    cell_errors: list[str] = field(default_factory=list)  # non-test cells that raised

    @property
    def failed(self) -> int:
        return sum(len(part.failures) for part in self.parts)

    @property
    def tests(self) -> int:
        return sum(part.tests for part in self.parts)


def changed_locked_cells(nb) -> list[str]:
    """Grade ids of locked cells whose content differs from the copy that was handed out."""
    from nbgrader import utils

    changed = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("locked") and meta.get("checksum") and meta.get("grade_id"):
            if utils.compute_checksum(cell) != meta["checksum"]:
                changed.append(meta["grade_id"])
    return changed


def run_notebook(path: Path, *, timeout: int = DEFAULT_TIMEOUT_S):
    """Execute a copy of the notebook in its own kernel (errors recorded, not raised)."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    kernel = nb.metadata.get("kernelspec", {}).get("name") or "python3"
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, allow_errors=True,
                            record_timing=False,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    client.execute()
    return nb


def check(path: Path, *, timeout: int = DEFAULT_TIMEOUT_S) -> CheckResult:
    """Run one notebook and collect points per Part and what failed."""
    nb = nbformat.read(path, as_version=4)
    result = CheckResult(Path(path), changed_locked=changed_locked_cells(nb))
    nb = run_notebook(Path(path), timeout=timeout)
    result.parts = parts(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and not is_test_cell(cell) and any(
                out.get("output_type") == "error" for out in cell.get("outputs", [])):
            name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
            result.cell_errors.append(name)
    return result


def report(result: CheckResult) -> str:
    """The text ``make check`` prints for one notebook."""
    lines = [f"== {result.path}", format_parts(result.parts)]
    if result.cell_errors:
        lines.append("Cells that raised an error (not tests): " + ", ".join(result.cell_errors))
    for grade_id in result.changed_locked:
        lines.append(f"WARNING: you changed the locked cell {grade_id}; grading puts the "
                     "original back, so your change will not count")
    if not result.tests:
        lines.append("No test cells found: is this an exercise notebook?")
    elif result.failed:
        lines.append(f"{result.failed} of {result.tests} tests FAILED (messages above).")
    else:
        lines.append(f"All {result.tests} visible tests pass. Hidden tests (more cases) run "
                     "when your submission is graded.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_grading.classroom.check",
                                     description="run an exercise notebook's tests; "
                                                 "exit 1 if one fails")
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_S,
                        help="seconds a cell may run")
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        try:
            result = check(path, timeout=args.timeout)
        except Exception as error:  # unreadable JSON, missing kernel, dead kernel...
            print(f"== {path}\nERROR: could not run it: {type(error).__name__}: {error}")
            status = 2
            continue
        print(report(result))
        if result.failed or not result.tests:
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
