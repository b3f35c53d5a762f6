"""Two-process autograding (course_grading.twoprocess) through `nbgrader autograde`, end to end.

A small assignment built here (setup cell, one answer, a test cell with a hidden part) is
graded with the course's nbgrader_config.py plus ``SandboxedExecute`` in place of nbgrader's
``Execute``. Each submission is a real notebook; the table below is what each must score.
The test cells run in the grader kernel, so a cell the student adds cannot reach them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from course_grading import sandbox
from course_grading.release import REPO_ROOT, run_nbgrader

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(sandbox.missing_tools()) or os.geteuid() != 0,
                       reason="needs bubblewrap, setpriv, prlimit and root"),
]

ASSIGNMENT, NOTEBOOK = "99_demo", "demo"
POINTS = 3
SANDBOXED_CONFIG = '''
c.SandboxedExecute.timeout = 20
c.SandboxedExecute.call_timeout = 10
'''
SETUP = "import numpy as np\nfrom course_lib.checks import check_array"
ANSWER = ('def double(x):\n    """2 * x for an array x (float64)."""\n'
          '    ### BEGIN SOLUTION\n    return 2.0 * np.asarray(x, dtype=np.float64)\n'
          '    ### END SOLUTION')
TEST = ('"""double: values and dtype."""\n'
        'check_array(double(np.arange(3)), np.array([0.0, 2.0, 4.0]), name="double",\n'
        '            dtype=np.float64)\n'
        '### BEGIN HIDDEN TESTS\nSECRET_MARKER = "hidden-test-text-7f3a"\n'
        'rng = np.random.default_rng(5)\nx = rng.normal(size=(4, 3))\n'
        'check_array(double(x), 2 * x, name="double on random input")\n'
        '### END HIDDEN TESTS')
WRONG = "def double(x):\n    return np.asarray(x, dtype=np.float64)"
ALWAYS_EQUAL = ("class Yes(np.ndarray):\n    def __eq__(self, other):\n        return True\n"
                "def double(x):\n    return np.zeros(3).view(Yes)")
# One added cell each: what earned points against the single-kernel pipeline.
TAMPERING = {
    "input-transformer": "get_ipython().input_transformers_post.append(lambda lines: [])",
    "run-cell-wrapped": ("_run = get_ipython().run_cell\nget_ipython().run_cell = "
                         "lambda *a, **k: _run('pass')"),
    "exception-handler": ("get_ipython().set_custom_exc((BaseException,), "
                          "lambda *a, **k: None)"),
    "settrace": "import sys\nsys.settrace(lambda *a: None)",
    "patched-checks": ("import course_lib.checks as c\nc.check_array = lambda *a, **k: None\n"
                       "import numpy.testing as t\nt.assert_allclose = lambda *a, **k: None"),
    "patched-builtins": ("import builtins\nbuiltins.AssertionError = type('AE', (Exception,),"
                         " {})\nbuiltins.isinstance = lambda *a: True"),
    "reads-solutions": ("import glob\nfor p in glob.glob('/**/solutions/**/*.ipynb', "
                        "recursive=True):\n    print(open(p).read())"),
    "writes-gradebook": ("import glob\nfor p in glob.glob('/**/gradebook.db', recursive=True):"
                         "\n    open(p, 'w').write('')"),
    "try-wraps-later-cells": (
        "import ast\nclass Wrap(ast.NodeTransformer):\n    def visit_Module(self, node):\n"
        "        handler = ast.ExceptHandler(type=ast.Name('BaseException', ast.Load()),\n"
        "                                    name=None, body=[ast.Pass()])\n"
        "        node.body = [ast.Try(body=node.body or [ast.Pass()], handlers=[handler],\n"
        "                             orelse=[], finalbody=[])]\n"
        "        return ast.fix_missing_locations(node)\n"
        "get_ipython().ast_transformers.append(Wrap())"),
    "patched-numpy": ("np.testing.assert_allclose = lambda *a, **k: None\n"
                      "np.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a: True"),
    "patched-torch": ("import torch\ntorch.allclose = lambda *a, **k: True\n"
                      "torch.testing.assert_close = lambda *a, **k: None"),
    "patched-sys-modules": (
        "import sys, types\nfake = types.ModuleType('course_lib.checks')\n"
        "fake.check_array = lambda *a, **k: None\nsys.modules['course_lib.checks'] = fake"),
    "fork-bomb": ("import os, time\nfor _ in range(100000):\n    try:\n        pid = os.fork()\n"
                  "    except OSError:\n        break\n    if pid == 0:\n"
                  "        time.sleep(3600)\n        os._exit(0)"),
    "memory-bomb": "hog = [bytearray(10**8) for _ in range(1000)]",
    "endless-loop": "while True:\n    pass",
    "50-MB-output": "print('x' * 50_000_000)",
}
# Answers that tamper with whoever calls them, or claim to equal anything.
FRAME_WALKER = ("def double(x):\n    import sys\n    frame = sys._getframe(1)\n"
                "    while frame is not None:\n"
                "        frame.f_globals['check_array'] = lambda *a, **k: None\n"
                "        frame = frame.f_back\n    return np.zeros(np.shape(x))")
GC_PATCHER = ("def double(x):\n    import gc\n    nothing = (lambda *a, **k: None).__code__\n"
              "    for obj in gc.get_objects():\n"
              "        if getattr(obj, '__name__', '') in ('check_array', 'assert_allclose'):\n"
              "            try:\n                obj.__code__ = nothing\n"
              "            except Exception:\n                pass\n"
              "    return np.zeros(np.shape(x))")
ARRAY_LIAR = ("class Liar:\n    def __array__(self, dtype=None, copy=None):\n"
              "        return np.array([0.0, 2.0, 4.0])\n    def __eq__(self, other):\n"
              "        return True\n    def __float__(self):\n        return 0.0\n"
              "def double(x):\n    return Liar()")
FLOAT_LIAR = ("class Close(float):\n    def __eq__(self, other):\n        return True\n"
              "def double(x):\n    return [Close(0.0) for _ in np.ravel(x)]")
# submission -> (answer source, extra cell or None, expected points)
SUBMISSIONS = {
    "instructor": (ANSWER, None, POINTS),
    "instructor-plus-harmless-cell": (ANSWER, "print('my own experiment', double([1]))",
                                      POINTS),
    "blank": (None, None, 0),
    "wrong": (WRONG, None, 0),
    "always-equal": (ALWAYS_EQUAL, None, 0),
    "kills-kernel": ("def double(x):\n    import os\n    os._exit(1)", None, 0),
    "blank-input-transformer": (None, TAMPERING["input-transformer"], 0),
    "frame-walker": (FRAME_WALKER, None, 0),
    "gc-patcher": (GC_PATCHER, None, 0),
    "array-liar": (ARRAY_LIAR, None, 0),
    "float-liar": (FLOAT_LIAR, None, 0),
    "instructor-then-endless-loop": (ANSWER, TAMPERING["endless-loop"], POINTS),
    "instructor-plus-50-MB-output": (ANSWER, TAMPERING["50-MB-output"], POINTS),
    "instructor-after-memory-bomb": (ANSWER, TAMPERING["memory-bomb"], POINTS),
    # a wrong answer that returns values: only tampering could make its checks pass
    **{f"wrong-{name}": (WRONG, cell, 0) for name, cell in TAMPERING.items()},
}


# Submissions that are not a readable notebook of the right name: graded as nothing, never
# a crash of the batch (make grade, #16, reports their status).
BROKEN_FILES = {
    "malformed-json": lambda folder, nb: (folder / f"{NOTEBOOK}.ipynb").write_text(
        '{"cells": [ this is not json'),
    "renamed-notebook": lambda folder, nb: nbformat.write(nb, folder / f"{NOTEBOOK}-Copy1.ipynb"),
    "missing-notebook": lambda folder, nb: None,
}


def _cell(kind, source, grade_id, *, solution=False, grade=False, locked=False, points=0):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    return make(source, metadata={"nbgrader": meta})


def _source_notebook():
    return nbformat.v4.new_notebook(cells=[
        _cell("code", SETUP, "demo-setup", locked=True),
        _cell("code", ANSWER, "demo-double", solution=True),
        _cell("code", TEST, "demo-double-test", grade=True, locked=True, points=POINTS),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    config = (REPO_ROOT / "nbgrader_config.py").read_text() + SANDBOXED_CONFIG
    (root / "nbgrader_config.py").write_text(config)
    source_dir = root / "solutions" / ASSIGNMENT
    source_dir.mkdir(parents=True)
    nbformat.write(_source_notebook(), source_dir / f"{NOTEBOOK}.ipynb")
    generated = run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root)
    assert generated.returncode == 0, generated.stderr
    released = nbformat.read(root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)
    for student, (answer, extra, _) in SUBMISSIONS.items():
        nb = nbformat.from_dict(json.loads(json.dumps(released)))
        if answer is not None:
            nb.cells[1].source = answer
        if extra is not None:
            nb.cells.insert(1, nbformat.v4.new_code_cell(extra))
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{NOTEBOOK}.ipynb")
    for student, write in BROKEN_FILES.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        write(folder, released)
    shutil.copy(root / "gradebook.db", root / "gradebook-before.db")
    result = run_nbgrader(["autograde", ASSIGNMENT, "--force"], root, timeout=1800)
    (root / "autograde.log").write_text(result.stdout + result.stderr)
    return root, result


def _score(root: Path, student: str) -> float:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        return gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student).score


@pytest.mark.parametrize("student", sorted(SUBMISSIONS))
def test_each_submission_scores_what_its_code_earns(graded, student):
    root, result = graded
    expected = SUBMISSIONS[student][2]
    autograded = root / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    log = (result.stdout + result.stderr)
    assert autograded.is_file(), "grading failed: " + "\n".join(
        line for line in log.splitlines() if "ERROR" in line or student in line)[-3000:]
    assert _score(root, student) == expected, log[-3000:]


def _comment(root: Path, student: str) -> str:
    """The first line of the error the student sees under the test cell (feedback)."""
    path = root / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    if not path.is_file():
        return "(no autograded notebook: nbgrader failed on this submission)"
    for cell in nbformat.read(path, 4).cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "demo-double-test":
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            return f"{errors[0].ename}: {errors[0].evalue}"[:150] if errors else ""
    return "(test cell missing)"


def test_every_lost_point_comes_with_a_message_and_the_table(graded):
    """Each submission that scores 0 shows the student why under the test cell; the table
    (submission, score, expected, message) is printed for the closing note (pytest -s)."""
    root, _ = graded
    rows = []
    for student, (_, _, expected) in sorted(SUBMISSIONS.items()):
        score, comment = _score(root, student), _comment(root, student)
        rows.append(f"| {student} | {score:g} | {expected:g} | {comment} |")
        if score == 0 and expected == 0 and student != "blank":
            assert comment, f"{student} lost its points without a message"
        assert "hidden-test-text-7f3a" not in comment
    print("\n| submission | score | expected | message under the test |\n|---|---|---|---|")
    print("\n".join(rows))


@pytest.mark.parametrize("student", sorted(BROKEN_FILES))
def test_unreadable_or_misnamed_submissions_score_nothing_and_stop_nothing(graded, student):
    from nbgrader.api import Gradebook, MissingEntry

    root, _ = graded
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        try:
            score = gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student).score
        except MissingEntry:
            score = 0
    assert score == 0
    assert _score(root, "instructor") == POINTS


def test_output_flood_is_cut_before_it_reaches_feedback(graded):
    root, _ = graded
    path = root / "autograded" / "instructor-plus-50-MB-output" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert path.stat().st_size < 1_000_000


def test_hidden_tests_never_reach_the_student_kernel_or_its_output(graded):
    root, _ = graded
    autograded = root / "autograded" / "wrong-reads-solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    nb = nbformat.read(autograded, 4)
    outputs = json.dumps([cell.get("outputs", []) for cell in nb.cells
                          if not cell.metadata.get("nbgrader", {}).get("grade")])
    assert "hidden-test-text-7f3a" not in outputs


def test_the_gradebook_survives_a_submission_that_tries_to_erase_it(graded):
    root, _ = graded
    assert (root / "gradebook.db").stat().st_size > 0
    assert _score(root, "instructor") == POINTS
