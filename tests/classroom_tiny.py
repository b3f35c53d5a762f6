"""A tiny nbgrader assignment for the classroom tests (hub, gradebook backends).

One answer cell (``add(a, b)``) and two autograded test cells of 1 point each; grading it
through the course's sandboxed two-process pipeline takes a few seconds, so tests can grade
many submissions of it. ``ANSWERS`` are the bodies a student may write, with their score.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import nbformat

ASSIGNMENT = "00_tiny"
NOTEBOOK = "00_tiny.ipynb"
SOLUTION = "return a + b"
ANSWERS = {  # answer body -> points (of 2)
    "correct": ("return a + b", 2.0),
    "partly": ("return int(a) + int(b)", 1.0),  # integers right, floats wrong
    "wrong": ("return a - b", 0.0),
}
MAX_SCORE = 2.0


def _meta(grade_id: str, *, grade: bool, solution: bool, points: float = 0) -> dict:
    meta = {"grade": grade, "solution": solution, "locked": not solution,
            "grade_id": grade_id, "schema_version": 3}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook() -> nbformat.NotebookNode:
    """The instructor's notebook: the solution between nbgrader's markers, hidden tests."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A tiny assignment\nWrite `add(a, b)`.",
                                      metadata=_meta("intro", grade=False, solution=False)),
        nbformat.v4.new_code_cell(
            "def add(a, b):\n    ### BEGIN SOLUTION\n    " + SOLUTION + "\n    ### END SOLUTION",
            metadata=_meta("add", grade=False, solution=True)),
        nbformat.v4.new_code_cell("assert add(1, 2) == 3, 'add(1, 2) should be 3'",
                                  metadata=_meta("test-ints", grade=True, solution=False,
                                                 points=1)),
        nbformat.v4.new_code_cell(
            "assert abs(add(0.5, 0.25) - 0.75) < 1e-12, 'add(0.5, 0.25) should be 0.75'",
            metadata=_meta("test-floats", grade=True, solution=False, points=1)),
    ]
    return nb


def write_source(course: Path) -> Path:
    """Write ``solutions/00_tiny/00_tiny.ipynb`` into a course folder."""
    path = course / "solutions" / ASSIGNMENT / NOTEBOOK
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(source_notebook(), path)
    return path


def answered(released: dict, kind: str) -> dict:
    """A student's copy of the released notebook (JSON dict) with answer ``kind`` written in."""
    body = ANSWERS[kind][0]
    for cell in released["cells"]:
        if cell["cell_type"] == "code" and cell["metadata"].get("nbgrader", {}).get("solution"):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            lines = [line for line in source.splitlines()
                     if "NotImplementedError" not in line and "YOUR CODE HERE" not in line]
            cell["source"] = "\n".join(lines + ["    " + body])
    return released


def lms_zip(path: Path, members: dict[str, tuple[str, tuple]]) -> Path:
    """An LMS download: ``members`` maps each archive name to (text, zip date_time)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, (text, when) in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=when), text)
    return path
