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

:func:`parts` (points per Part, failing tests with their messages) is shared with the
instructor's side: the feedback pages (``feedback.py``) show the same table.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

DEFAULT_TIMEOUT_S = 120  # per cell; exercises train for seconds
PART_HEADING = re.compile(r"^#{1,4}\s*(Part\s+\d+\b.*?)\s*(\([^)]*points?[^)]*\))?\s*$",
                          re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CELL_LINE = re.compile(r"(?:Cell In\s*\[\d*\]|<ipython-input-[^>]*>|File <[^>]*>), line (\d+)")


# ---------------------------------------------------------- points per Part, failure messages
@dataclass
class Part:
    """One Part of an exercise notebook: its tests, points and what failed."""

    title: str
    score: float = 0.0
    max_score: float = 0.0
    awaiting: float = 0.0  # points of written answers nobody has graded yet
    failures: list[tuple[str, str]] = field(default_factory=list)  # (grade_id, message)
    tests: int = 0


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test_cell(cell) -> bool:
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get(
        "solution")


def hidden_lines(source: str) -> tuple[int, int] | None:
    """1-based first and last line of the hidden-test region of a test cell, if any."""
    lines = source.split("\n")
    begin = next((i for i, line in enumerate(lines) if "BEGIN HIDDEN TESTS" in line), None)
    if begin is None:
        return None
    end = next((i for i, line in enumerate(lines) if "END HIDDEN TESTS" in line), len(lines))
    return begin + 1, end + 1


def failure_message(cell) -> str | None:
    """The message of a test cell's first error output ("ename: evalue"), or None if it passed.

    Says "(in a hidden test)" when the line that failed lies in the hidden region.
    """
    errors = [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    if not errors:
        return None
    error = errors[0]
    name, value = error.get("ename", "Error"), ANSI.sub("", str(error.get("evalue", ""))).strip()
    message = f"{name}: {value}" if value else name
    if name == "NotImplementedError" and not value:
        message += " (the answer still raises NotImplementedError: write your code there)"
    region, line = hidden_lines(cell.get("source", "")), _failing_line(error)
    if region and line and region[0] <= line <= region[1]:
        message += " (in a hidden test)"
    return message


def _failing_line(error) -> int | None:
    for entry in error.get("traceback", []):
        found = CELL_LINE.search(ANSI.sub("", entry))
        if found:
            return int(found.group(1))
    return None


def parts(nb, scores: dict[str, tuple[float | None, float]] | None = None) -> list[Part]:
    """Points per Part of an (executed or autograded) notebook.

    Each grade cell belongs to the Part whose ``## Part N`` heading comes before it (cells
    before the first heading to a Part called "Other"). ``scores`` maps grade ids to
    ``(score, max_score)`` where a score of None means "awaiting grading"; without it, a test
    cell scores its points when it has no error output and a written answer awaits grading.
    """
    result: list[Part] = []
    for cell in nb.get("cells", []):
        heading = PART_HEADING.search(cell.get("source", "")) if cell.get(
            "cell_type") == "markdown" else None
        if heading and not nbgrader_meta(cell).get("grade"):
            result.append(Part(title=heading.group(1).rstrip(" —-:")))
        meta = nbgrader_meta(cell)
        if not meta.get("grade"):
            continue
        if not result:
            result.append(Part(title="Other"))
        part, grade_id = result[-1], meta.get("grade_id", "?")
        points = float(meta.get("points", 0))
        message = failure_message(cell) if is_test_cell(cell) else None
        if scores is not None and grade_id in scores:
            score, points = scores[grade_id]
        elif is_test_cell(cell):
            score = 0.0 if message else points
        else:
            score = None
        part.max_score += points
        part.tests += is_test_cell(cell)
        if score is None:
            part.awaiting += points
        else:
            part.score += score
        if message:
            part.failures.append((grade_id, message))
    return [part for part in result if part.max_score > 0]


def format_parts(rows: list[Part]) -> str:
    """A plain-text table of :func:`parts`, failing tests listed under their Part."""
    lines = [f"{'Part':<58} {'points':>13}"]
    for part in rows:
        shown = (f"{part.score:g} / {part.max_score:g}" if not part.awaiting
                 else f"awaiting grading ({part.awaiting:g})" if not part.score and
                 part.awaiting == part.max_score
                 else f"{part.score:g} / {part.max_score:g}*")
        lines.append(f"{part.title[:58]:<58} {shown:>13}")
        lines.extend(f"    FAILED {grade_id}: {message}" for grade_id, message in part.failures)
    score = sum(p.score for p in rows)
    top = sum(p.max_score for p in rows)
    awaiting = sum(p.awaiting for p in rows)
    lines.append(f"{'Total':<58} {f'{score:g} / {top - awaiting:g}':>13}")
    if awaiting:
        lines.append(f"(+ {awaiting:g} points of written answers, graded by hand)")
    return "\n".join(lines)




# ------------------------------------------------------------------------- make check NB=...
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
