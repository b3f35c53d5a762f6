"""Grader-side proxies (course_grading.harness) against a real sandboxed student kernel."""

from __future__ import annotations

import numpy as np
import pytest

from course_grading import harness

pytestmark = pytest.mark.slow

STUDENT_CODE = '''
import numpy as np

def scale(x, factor=2.0):
    return np.asarray(x) * factor

def picky(x):
    if x < 0:
        raise ValueError("x must be non-negative")
    return x

class OwnError(Exception):
    pass

def custom():
    raise OwnError("mine")

class AlwaysEqual:
    def __eq__(self, other):
        return True

def cheat():
    return AlwaysEqual()

class Counter:
    def __init__(self, start):
        self.value = start
    def step(self):
        self.value += 1
        return self.value

def squares(n):
    for i in range(n):
        yield i * i

def forever():
    while True:
        pass

TABLE = {"w": np.ones((2, 2), dtype=np.float32), "name": "digits"}
'''


@pytest.fixture(scope="module")
def student(sandboxed_kernel):
    manager, client, scratch = sandboxed_kernel
    kernel = harness.StudentKernel(client, scratch, timeout=5,
                                   interrupt=manager.interrupt_kernel)
    kernel.install()
    kernel._run(STUDENT_CODE)
    return kernel


def names(student, *wanted):
    return harness.student_names(student, wanted, {})


def test_functions_are_called_remotely_and_return_real_arrays(student):
    found = names(student, "scale", "TABLE", "np")
    assert "np" not in found  # modules are never taken from the student: the grader imports
    result = found["scale"](np.arange(3, dtype=np.float32), factor=3)
    assert type(result) is np.ndarray and result.dtype == np.float32
    np.testing.assert_array_equal(result, [0, 3, 6])
    assert found["TABLE"]["name"] == "digits" and found["TABLE"]["w"].dtype == np.float32


def test_student_exceptions_keep_their_builtin_type(student):
    found = names(student, "picky", "custom")
    with pytest.raises(ValueError, match="non-negative"):
        found["picky"](-1)
    assert found["picky"](4) == 4
    with pytest.raises(harness.StudentError, match="OwnError: mine"):
        found["custom"]()


def test_an_object_that_equals_everything_stays_a_proxy_and_equals_nothing(student):
    result = names(student, "cheat")["cheat"]()
    assert isinstance(result, harness.Remote)
    assert (result == 1) is False and (result == result) is True  # identity, nothing more
    with pytest.raises(Exception):
        np.testing.assert_allclose(result, 1.0)


def test_objects_stay_in_the_student_kernel_and_answer_as_data(student):
    found = names(student, "Counter", "squares")
    counter = found["Counter"](10)
    assert counter.step() == 11 and counter.value == 11
    assert list(found["squares"](4)) == [0, 1, 4, 9]


def test_missing_names_are_left_for_a_nameerror(student):
    assert names(student, "not_defined_anywhere") == {}


def test_a_call_that_never_returns_times_out_and_the_kernel_recovers(student):
    with pytest.raises(harness.StudentKernelError, match="did not finish"):
        names(student, "forever")["forever"]()
    assert names(student, "picky")["picky"](1) == 1


def test_a_broken_channel_fails_the_submission_not_the_grader(student):
    student._run("_saved, _course_serve = _course_serve, (lambda *a: None)")
    with pytest.raises(harness.StudentKernelError, match="did not answer"):
        names(student, "picky")
    student._run("_course_serve = _saved")
    assert names(student, "picky")["picky"](2) == 2


def test_import_statements_collects_the_instructors_imports_once():
    sources = ["import numpy as np\nfrom course_lib.checks import check_array\nX = np.ones(3)",
               "import numpy as np\nimport torch", "def broken(:"]
    assert harness.import_statements(sources) == (
        "import numpy as np\nfrom course_lib.checks import check_array\nimport torch")


def test_free_names_are_what_a_cell_reads_but_does_not_define():
    source = ("import numpy as np\nfrom course_lib import checks\nexpected = scale(x)\n"
              "def helper(a):\n    return a + offset\nfor i in range(3):\n    total = i\n")
    assert harness.free_names(source) == {"scale", "x", "offset", "range"}
    assert harness.free_names("def broken(:") == set()
