"""Run an exercise notebook's own test cells against other answers, without nbgrader.

``tests/test_exercise_mutants.py`` uses this to check that the graded tests of the instructor
notebooks (``solutions/<assignment>/*.ipynb``) reject plausible wrong answers (mutants) and
accept other correct ones (variants).

How: every code cell of the instructor notebook runs once, in order, in one namespace (the
lesson's demos and figures are skipped: they grade nothing). For each answer under test, the
answer's cell is replaced (the function or class is redefined in that namespace, so the
notebook's test helpers see it too), then the test cells of that part run: first the visible
part (what the student sees), then, if that passed, the whole cell with its hidden tests.
Afterwards the namespace gets its names back for the next answer.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS_DIR = REPO_ROOT / "solutions"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
# Cells that only show something (plots, demo runs): they grade nothing and are not run.
SKIPPED_SUFFIXES = ("-demo", "-figure", "-curve")


@dataclass(frozen=True)
class Answer:
    """One answer to try in place of the instructor's.

    ``part`` is the grade_id of the answer cell (e.g. ``ch01-sigmoid``). The answer's code is
    ``source`` if given, else the instructor's cell with each ``(old, new)`` of ``replace``
    applied in turn (each ``old`` must occur in the cell). ``wrong`` says whether it is a
    mutant (must fail) or a correct variant (must pass); ``hidden_only`` marks a mutant that
    only the hidden tests can catch (e.g. the answer to a multiple-choice question).
    """

    part: str
    name: str
    source: str | None = None
    replace: tuple[tuple[str, str], ...] = ()
    hidden_only: bool = False
    wrong: bool = True

    @property
    def id(self) -> str:
        return f"{self.part}:{self.name}"


def mutant(part, name, *pairs, source=None, hidden_only=False) -> Answer:
    """A wrong answer: ``pairs`` are ``(old, new)`` text replacements of the solution."""
    return Answer(part, name, source=source, replace=tuple(pairs),
                  hidden_only=hidden_only)


def variant(part, name, *pairs, source=None) -> Answer:
    """A correct answer written differently (same arguments as ``mutant``)."""
    return Answer(part, name, source=source, replace=tuple(pairs), wrong=False)


@dataclass
class TestCell:
    grade_id: str
    visible: str
    full: str


@dataclass
class Outcome:
    """Which test cells of the part failed, on the visible tests and on all of them."""

    visible_failures: dict[str, str] = field(default_factory=dict)
    full_failures: dict[str, str] = field(default_factory=dict)

    @property
    def caught(self) -> bool:
        return bool(self.visible_failures or self.full_failures)

    @property
    def caught_visibly(self) -> bool:
        return bool(self.visible_failures)


def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _visible(source: str) -> str:
    if HIDDEN_BEGIN not in source:
        return source
    head, rest = source.split(HIDDEN_BEGIN, 1)
    return head + rest.split(HIDDEN_END, 1)[1] if HIDDEN_END in rest else head


def _without_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in (SOLUTION_BEGIN, SOLUTION_END,
                                             HIDDEN_BEGIN, HIDDEN_END))


class ExerciseNotebook:
    """The instructor notebook of one assignment, run once; answers are tried in copies."""

    def __init__(self, assignment: str):
        os.environ.setdefault("MPLBACKEND", "Agg")
        (path,) = sorted((SOLUTIONS_DIR / assignment).glob("*.ipynb"))
        self.path = path
        self.answers: dict[str, str] = {}
        self.tests: dict[str, list[TestCell]] = {}
        self.namespace: dict = {"__name__": "__main__"}
        notebook = nbformat.read(path, as_version=4)
        with _quiet():
            for cell in notebook.cells:
                self._run_cell(cell)

    def _run_cell(self, cell) -> None:
        if cell.cell_type != "code":
            return
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id", "")
        source = _strip_magics(cell.source)
        if grade_id.endswith(SKIPPED_SUFFIXES):
            return
        if meta.get("solution"):
            self.answers[grade_id] = source
        elif meta.get("grade"):
            part = grade_id.split("-test-")[0]
            self.tests.setdefault(part, []).append(
                TestCell(grade_id, _visible(source), source))
        exec(compile(_without_markers(source), f"<{grade_id}>", "exec"),
             self.namespace)

    def answer_source(self, answer: Answer) -> str:
        if answer.source is not None:
            return answer.source
        source = self.answers[answer.part]
        for old, new in answer.replace:
            if old not in source:
                raise ValueError(f"{answer.id}: {old!r} is not in the solution")
            source = source.replace(old, new)
        return _without_markers(source)

    def run(self, answer: Answer) -> Outcome:
        """Define ``answer`` in a copy of the namespace and run the part's test cells."""
        if answer.part not in self.tests:
            raise KeyError(f"no test cells for {answer.part} in {self.path.name}")
        outcome = Outcome()
        namespace, saved = self.namespace, dict(self.namespace)
        try:
            with _quiet():
                exec(compile(self.answer_source(answer), f"<{answer.id}>",
                             "exec"), namespace)
                for test in self.tests[answer.part]:
                    error = _run_test(test.visible, namespace)
                    if error:
                        outcome.visible_failures[test.grade_id] = error
                        continue
                    error = _run_test(_without_markers(test.full), namespace)
                    if error:
                        outcome.full_failures[test.grade_id] = error
        finally:  # the notebook's own names again, for the next answer
            namespace.clear()
            namespace.update(saved)
        return outcome


def _run_test(source: str, namespace: dict) -> str:
    """'' when the cell runs through, else the exception's type and first line."""
    try:
        exec(compile(source, "<test>", "exec"), namespace)
    except Exception as error:  # noqa: BLE001 - any exception fails the cell
        first_line = (str(error).splitlines() or [""])[0]
        return f"{type(error).__name__}: {first_line[:160]}"
    return ""


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@cache
def notebook(assignment: str) -> ExerciseNotebook:
    return ExerciseNotebook(assignment)


def catch_report(assignment: str, answers: list[Answer]) -> str:
    """One line per answer: caught visibly / by hidden tests only / not caught."""
    lines = []
    for answer in answers:
        outcome = notebook(assignment).run(answer)
        kind = ("visible" if outcome.caught_visibly else
                "hidden" if outcome.caught else "PASSED")
        failures = outcome.visible_failures or outcome.full_failures
        lines.append(f"{kind:8s} {answer.id}  {next(iter(failures.values()), '')}"
                     [:200])
    return "\n".join(lines)


