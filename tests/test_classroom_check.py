"""``make check NB=...`` (course_grading.classroom.check): a student's check before submitting.

The notebook runs in the student's own kernel; the check prints points per Part and every
failing test with its message, and exits 1 when a test fails (``nbgrader validate`` exits 0).
Two runs of Chapter 1's exercise: the instructor's solution (exit 0, every autograded point)
and the solution with one broken answer (exit 1, only that Part loses its points); the rest
are unit tests on small notebooks, without a kernel.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_grading.classroom.check import (
    changed_locked_cells, failure_message, format_parts, main, parts)
from course_grading.release import CHAPTERS_DIR, SOLUTIONS_DIR

SOLUTION = SOLUTIONS_DIR / "01_perceptrons" / "01_exercises.ipynb"
STUDENT_COPY = CHAPTERS_DIR / "01_perceptrons" / "exercises" / "01_exercises.ipynb"


def _check(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_grading.classroom.check",
                           *map(str, paths)], capture_output=True, text=True, timeout=600)


def _grade(cell, grade_id: str, points: float | None = None, *, solution=False, locked=False):
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "grade": points is not None,
                                 "solution": solution, "locked": locked,
                                 **({"points": points} if points is not None else {})}
    return cell


def _error(ename: str, evalue: str, line: int) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue,
            "traceback": [f"\x1b[36mCell\x1b[39m In[3], line {line}", f"{ename}: {evalue}"]}


def _toy_notebook():
    test = _grade(new_code_cell("assert f(1) == 2\n### BEGIN HIDDEN TESTS\n"
                                "assert f(5) == 10\n### END HIDDEN TESTS"), "p1-test", 2)
    test.outputs = [nbformat.from_dict(_error("AssertionError", "f(5) should be 10", 3))]
    passing = _grade(new_code_cell("assert True"), "p1-test-ok", 1)
    written = _grade(new_markdown_cell("YOUR ANSWER HERE"), "p2-written", 2, solution=True)
    return new_notebook(cells=[
        new_markdown_cell("# Intro"), new_markdown_cell("## Part 1 — Doubling (3 points)"),
        _grade(new_code_cell("def f(x):\n    return x + 1"), "p1", solution=True),
        test, passing,
        new_markdown_cell("## Part 2 — Why (2 points, graded by hand)"), written])


def test_parts_group_tests_under_their_heading_with_messages():
    rows = parts(_toy_notebook())
    assert [(p.title, p.score, p.max_score, p.awaiting) for p in rows] == [
        ("Part 1 — Doubling", 1.0, 3.0, 0.0), ("Part 2 — Why", 0.0, 2.0, 2.0)]
    assert rows[0].failures == [("p1-test", "AssertionError: f(5) should be 10 "
                                             "(in a hidden test)")]
    table = format_parts(rows)
    assert "Part 1 — Doubling" in table and "FAILED p1-test" in table
    assert "awaiting grading (2)" in table and "1 / 3" in table


def test_failure_in_the_visible_part_is_not_called_hidden():
    cell = _toy_notebook().cells[3]
    cell.outputs = [nbformat.from_dict(_error("AssertionError", "f(1) should be 2", 1))]
    assert failure_message(cell) == "AssertionError: f(1) should be 2"
    cell.outputs = []
    assert failure_message(cell) is None


def test_changed_locked_cell_is_reported():
    nb = nbformat.read(STUDENT_COPY, 4)
    assert changed_locked_cells(nb) == []
    test_cell = next(c for c in nb.cells
                     if c.metadata.get("nbgrader", {}).get("grade_id") == "ch01-relu-test-values")
    test_cell.source = "assert True"
    assert changed_locked_cells(nb) == ["ch01-relu-test-values"]


@pytest.mark.slow
def test_check_passes_the_solution_and_fails_a_broken_answer(tmp_path):
    nb = nbformat.read(SOLUTION, 4)
    answer = next(c for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == "ch01-relu")
    answer.source = "def relu(z):\n    return np.asarray(z, dtype=float)  # forgot the max"
    broken = tmp_path / "01_exercises.ipynb"
    nbformat.write(nb, broken)
    before = broken.read_bytes()
    good, bad = _check(SOLUTION), _check(broken)
    print("\n" + good.stdout + "\n" + bad.stdout)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Part 1 — A numerically stable sigmoid" in good.stdout
    assert "Total" in good.stdout and "22 / 22" in good.stdout
    assert "All 16 visible tests pass" in good.stdout
    assert bad.returncode == 1, bad.stdout + bad.stderr
    failed = [line.split()[1].rstrip(":") for line in bad.stdout.splitlines()
              if line.strip().startswith("FAILED")]
    assert failed == ["ch01-relu-test-values"]
    assert "21 / 22" in bad.stdout and "1 of 16 tests FAILED" in bad.stdout
    assert broken.read_bytes() == before  # the student's file is not rewritten


def test_unreadable_notebook_exits_2(tmp_path, capsys):
    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": [ not json')
    assert main([str(path)]) == 2
    assert "could not run it" in capsys.readouterr().out
