"""The grading pipeline, end to end, for every assignment in solutions/.

For each assignment a scratch nbgrader course is built from the repository's own
nbgrader_config.py; the student copy is generated; then a batch of submissions is autograded in
one `nbgrader autograde` run, exactly as an instructor would:

- instructor        the source notebook itself               -> every autograded point
- blank             the unmodified student copy              -> 0 points, no crash
- always-equal      every answer returns an object whose ``__eq__`` is always True -> 0 points
- skip-tags         the blank copy with every test cell tagged ``skip-execution`` and
                    ``raises-exception``                      -> 0 points (tags stripped)
- deleted-tests     the instructor's answers with every test cell deleted
                    -> the tests are put back and run (every point, all grade cells present)
- infinite-loop     the last answer loops forever             -> that part times out and scores
                    0, the parts before it keep their points (later cells may call it)
- corrupt           a file that is not JSON                   -> reported, and nothing else lost
- tampered-blank    the blank copy plus ONE added cell that turns every later test cell into
                    ``pass`` (an IPython input transformer)   -> 0 points where the tests run
                    in the grader kernel; the assignments still in ``single_kernel`` score
                    points this way (strict xfail: the known gap, until they are ported)
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from course_grading.release import REPO_ROOT, SOLUTIONS_DIR, assignments, run_nbgrader

pytestmark = pytest.mark.slow

# The infinite-loop submission waits for the time limit in each cell that calls the looping
# answer, so the suite grades with a shorter limit than nbgrader_config.py's (still far above
# what any exercise cell needs, even on a busy 2-core machine).
TEST_CELL_TIMEOUT_S = 30
CALL_TIMEOUT_S = 15  # one call from a test (in the grader) into the student's code
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
ALWAYS_EQUAL_CLASS = '''class _AlwaysEqual:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = object.__hash__
'''


def _nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _is_test_cell(cell) -> bool:
    meta = _nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def _is_answer_code_cell(cell) -> bool:
    return cell.cell_type == "code" and bool(_nbgrader_meta(cell).get("solution"))


def _replace_solution_regions(source: str, replacement) -> str:
    """Replace each BEGIN/END SOLUTION region by ``replacement(indent, region_lines)``."""
    lines, out, region, indent = source.splitlines(), [], None, ""
    for line in lines:
        if line.strip() == BEGIN_SOLUTION:
            region, indent = [], line[: len(line) - len(line.lstrip())]
        elif line.strip() == END_SOLUTION and region is not None:
            out.extend(replacement(indent, region))
            region = None
        elif region is not None:
            region.append(line)
        else:
            out.append(line)
    return "\n".join(out)


def _assigned_names(region: list[str]) -> list[str]:
    tree = ast.parse("\n".join(region))
    names = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    names.append(name.id)
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
    return names


def _always_equal(indent: str, region: list[str]) -> list[str]:
    if indent:  # inside a function or method body
        return [f"{indent}return _AlwaysEqual()"]
    return [f"{name} = _AlwaysEqual()" for name in _assigned_names(region)] or ["pass"]


def _infinite_loop(indent: str, region: list[str]) -> list[str]:
    return [f"{indent}while True:", f"{indent}    pass"]


TAMPER_CELL = '''# added by the student: every later cell that tests something becomes `pass`
from IPython import get_ipython

def _no_tests(lines):
    text = "".join(lines)
    return ["pass\\n"] if "assert" in text or "check_" in text else lines

get_ipython().input_transformers_post.append(_no_tests)
'''


def tampered_submission(released_nb):
    """The blank copy with :data:`TAMPER_CELL` added after its first code cell."""
    nb = nbformat.from_dict(json.loads(json.dumps(released_nb)))
    first = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")
    nb.cells.insert(first + 1, nbformat.v4.new_code_cell(TAMPER_CELL))
    return nb


def single_kernel_assignments() -> list[str]:
    """Assignments whose tests still run in the (sandboxed) student kernel."""
    from traitlets.config import Config

    config = Config()
    exec((REPO_ROOT / "nbgrader_config.py").read_text(), {"get_config": lambda: config})
    return list(config.SandboxedExecute.get("single_kernel", []))


def always_equal_submission(source_nb):
    nb = nbformat.from_dict(json.loads(json.dumps(source_nb)))
    for cell in nb.cells:
        if _is_answer_code_cell(cell):
            cell.source = ALWAYS_EQUAL_CLASS + _replace_solution_regions(cell.source, _always_equal)
    return nb


def infinite_loop_submission(source_nb) -> tuple[object, str]:
    nb = nbformat.from_dict(json.loads(json.dumps(source_nb)))
    last = [cell for cell in nb.cells if _is_answer_code_cell(cell)][-1]
    last.source = _replace_solution_regions(last.source, _infinite_loop)
    return nb, _nbgrader_meta(last)["grade_id"]


def skip_tagged_submission(released_nb):
    nb = nbformat.from_dict(json.loads(json.dumps(released_nb)))
    for cell in nb.cells:
        if _is_test_cell(cell):
            cell.metadata["tags"] = ["skip-execution", "raises-exception"]
    return nb


def deleted_tests_submission(source_nb):
    nb = nbformat.from_dict(json.loads(json.dumps(source_nb)))
    nb.cells = [cell for cell in nb.cells if not _is_test_cell(cell)]
    return nb


class GradedCourse:
    """A scratch nbgrader course for one assignment, with its submissions autograded."""

    def __init__(self, root: Path, assignment: str):
        self.root, self.assignment = root, assignment
        self.notebooks = sorted(p.stem for p in (SOLUTIONS_DIR / assignment).glob("*.ipynb"))
        self.loop_grade_ids: dict[str, str] = {}
        shutil.copy(REPO_ROOT / "nbgrader_config.py", root)
        shutil.copytree(SOLUTIONS_DIR / assignment, root / "solutions" / assignment)
        generated = run_nbgrader(["generate_assignment", assignment, "--force"], root)
        assert generated.returncode == 0, generated.stderr
        self._submit_all()
        self.autograde = run_nbgrader(["autograde", assignment, "--force",
                               f"--Execute.timeout={TEST_CELL_TIMEOUT_S}",
                               f"--SandboxedExecute.timeout={TEST_CELL_TIMEOUT_S}",
                               f"--SandboxedExecute.call_timeout={CALL_TIMEOUT_S}"], root)

    def _submit(self, student: str, name: str, nb) -> None:
        folder = self.root / "submitted" / student / self.assignment
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(nb, str):
            (folder / f"{name}.ipynb").write_text(nb)
        else:
            nbformat.write(nb, folder / f"{name}.ipynb")

    def _submit_all(self) -> None:
        for name in self.notebooks:
            source = nbformat.read(self.root / "solutions" / self.assignment / f"{name}.ipynb", 4)
            released = nbformat.read(self.root / "release" / self.assignment / f"{name}.ipynb", 4)
            looping, loop_id = infinite_loop_submission(source)
            self.loop_grade_ids[name] = loop_id
            self._submit("instructor", name, source)
            self._submit("blank", name, released)
            self._submit("always-equal", name, always_equal_submission(source))
            self._submit("skip-tags", name, skip_tagged_submission(released))
            self._submit("deleted-tests", name, deleted_tests_submission(source))
            self._submit("infinite-loop", name, looping)
            self._submit("corrupt", name, '{"cells": [ this is not json')
            self._submit("tampered-blank", name, tampered_submission(released))

    def code_grades(self, student: str, notebook: str) -> dict[str, tuple[float, float]]:
        """``{grade_id: (auto_score, max_score)}`` of the autograded (code) test cells."""
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gradebook:
            submitted = gradebook.find_submission_notebook(notebook, self.assignment, student)
            return {grade.name: (grade.auto_score, grade.max_score)
                    for grade in submitted.grades if grade.cell_type == "code"}

    def autograded(self, student: str, notebook: str):
        path = self.root / "autograded" / student / self.assignment / f"{notebook}.ipynb"
        return nbformat.read(path, 4)


@pytest.fixture(scope="class")
def course(request, tmp_path_factory) -> GradedCourse:
    assignment = request.cls.assignment
    return GradedCourse(tmp_path_factory.mktemp(assignment), assignment)


def _total(grades) -> tuple[float, float]:
    return sum(score for score, _ in grades.values()), sum(top for _, top in grades.values())


class GradingChecks:
    """The checks every assignment must pass; one subclass per assignment (below), so that
    pytest-xdist's `--dist loadscope` grades different assignments on different workers."""

    assignment: str

    def test_instructor_solution_gets_every_autograded_point(self, course):
        for notebook in course.notebooks:
            grades = course.code_grades("instructor", notebook)
            assert grades, f"{notebook} has no autograded test cells"
            lost = {gid: g for gid, g in grades.items() if g[0] != g[1]}
            assert not lost, f"instructor solution lost points in {notebook}: {lost}"


    def test_blank_student_copy_scores_zero(self, course):
        for notebook in course.notebooks:
            score, top = _total(course.code_grades("blank", notebook))
            assert top > 0 and score == 0


    def test_always_equal_answers_score_zero(self, course):
        for notebook in course.notebooks:
            passed = {gid: g for gid, g in course.code_grades("always-equal", notebook).items()
                      if g[0] > 0}
            assert not passed, f"an always-True __eq__ earned points in {notebook}: {passed}"


    def test_skip_execution_tags_do_not_skip_tests(self, course):
        for notebook in course.notebooks:
            score, _ = _total(course.code_grades("skip-tags", notebook))
            assert score == 0


    def test_deleted_test_cells_are_restored_and_run(self, course):
        for notebook in course.notebooks:
            grades = course.code_grades("deleted-tests", notebook)
            assert all(score == top for score, top in grades.values()), grades
            restored = {_nbgrader_meta(cell).get("grade_id")
                        for cell in course.autograded("deleted-tests", notebook).cells
                        if _is_test_cell(cell)}
            assert restored == set(grades)


    def test_infinite_loop_times_out_and_scores_zero_for_that_part(self, course):
        for notebook in course.notebooks:
            answer_id = course.loop_grade_ids[notebook]
            grades = course.code_grades("infinite-loop", notebook)
            order = [_nbgrader_meta(cell).get("grade_id") for cell in
                     nbformat.read(SOLUTIONS_DIR / course.assignment / f"{notebook}.ipynb", 4).cells]
            own_tests = {gid: g for gid, g in grades.items() if gid.startswith(answer_id + "-")}
            earlier = {gid: g for gid, g in grades.items()
                       if order.index(gid) < order.index(answer_id)}
            assert own_tests, f"no test cell named {answer_id}-* for the looping answer"
            assert all(score == 0 for score, _ in own_tests.values()), own_tests
            assert all(score == top for score, top in earlier.values()), earlier
            outputs = [out for cell in course.autograded("infinite-loop", notebook).cells
                       if cell.cell_type == "code" for out in cell.get("outputs", [])]
            assert any(out.get("ename") in {"CellTimeoutError", "KeyboardInterrupt",
                                            "StudentKernelError"}
                       for out in outputs if out.output_type == "error")


    def test_one_added_cell_cannot_switch_the_tests_off(self, request, course):
        if course.assignment in single_kernel_assignments():
            request.applymarker(pytest.mark.xfail(strict=True, reason=(
                "single_kernel: its tests still run in the student kernel, where an added "
                "cell can change how they run (issue 15, not yet ported)")))
        for notebook in course.notebooks:
            passed = {gid: g for gid, g in course.code_grades("tampered-blank",
                                                              notebook).items() if g[0] > 0}
            assert not passed, f"an added cell earned points in {notebook}: {passed}"

    def test_corrupt_submission_is_reported_and_loses_nothing_else(self, course):
        log = course.autograde.stdout + course.autograde.stderr
        assert "corrupt" in log
        for student in ("instructor", "blank", "always-equal", "skip-tags", "deleted-tests",
                        "infinite-loop"):
            for notebook in course.notebooks:
                assert course.code_grades(student, notebook), f"{student}/{notebook} not graded"
        submitted = course.root / "submitted" / "corrupt" / course.assignment
        assert all((submitted / f"{nb}.ipynb").exists() for nb in course.notebooks)


for _assignment in assignments():
    _name = f"TestGrading_{_assignment}"
    globals()[_name] = type(_name, (GradingChecks,), {"assignment": _assignment})


def test_configured_cell_time_limit_is_set():
    text = (REPO_ROOT / "nbgrader_config.py").read_text()
    limit = re.search(r"^c\.Execute\.timeout\s*=\s*(\d+)", text, re.MULTILINE)
    assert limit and 0 < int(limit.group(1)) <= 120
    assert re.search(r"^c\.OverwriteCells\.add_missing_cells\s*=\s*True", text, re.MULTILINE)
