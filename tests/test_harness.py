"""Grader-side proxies (course_grading.harness) against a real sandboxed student kernel."""

from __future__ import annotations

import numpy as np
import pytest

from course_grading import harness
from student_kernel import names, start_student

pytestmark = pytest.mark.slow

STUDENT_CODE = r'''
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

def numerical_slope(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)

def scale_in_place(x, state):
    x *= 3
    state["steps"] = state.get("steps", 0) + 1
    state["m"] += 1.0
    return None

def run_optimizer(optimizer, w, steps):
    for _ in range(steps):
        w = optimizer.step(w, 2 * w)
    return w, optimizer.lr

def cut_the_channel():
    import gc, socket
    for sock in gc.get_objects():
        if isinstance(sock, socket.socket) and sock.family == socket.AF_UNIX \
                and not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

def send_garbage():
    import gc, io
    for stream in gc.get_objects():
        if isinstance(stream, io.BufferedRWPair):
            try:
                stream.write(b"11\n{not json!}")
                stream.flush()
            except OSError:
                pass
    return 1

def calls_back_badly(f):
    return f("not a number")
'''


@pytest.fixture(scope="module")
def student(sandboxed_kernel):
    return start_student(sandboxed_kernel, STUDENT_CODE, timeout=5)


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
    """A student function that cuts the grading connection: its own call fails with a
    grading error (not a crash of the grader), and the next request connects afresh."""
    cutter = names(student, "cut_the_channel")["cut_the_channel"]
    with pytest.raises(harness.StudentKernelError, match="closed|broke|failed"):
        cutter()
    assert names(student, "picky")["picky"](2) == 2


def test_a_reply_that_is_not_data_is_refused(student):
    liar = names(student, "send_garbage")["send_garbage"]
    with pytest.raises(harness.StudentKernelError, match="not data|broke"):
        liar()
    assert names(student, "picky")["picky"](3) == 3


def test_grader_functions_passed_in_run_here_on_data(student):
    found = names(student, "numerical_slope", "calls_back_badly")
    slope, bad = found["numerical_slope"], found["calls_back_badly"]
    seen = []

    def f(v):
        seen.append(type(v))
        return v**3

    assert abs(slope(f, 2.0) - 12.0) < 1e-4
    assert seen and all(kind is float for kind in seen)  # data came over, not objects

    def needs_number(v):
        return v + 1.0

    with pytest.raises(TypeError):  # the grader function's error reached the student code
        bad(needs_number)


def test_grader_objects_passed_in_answer_attribute_reads_and_method_calls(student):
    run = names(student, "run_optimizer")["run_optimizer"]

    class Recorder:
        lr = 0.25

        def __init__(self):
            self.seen = []

        def step(self, w, dw):
            self.seen.append(np.array(dw))
            return w - self.lr * dw

    recorder = Recorder()
    w, lr = run(recorder, np.array([1.0, -2.0]), 3)
    np.testing.assert_allclose(w, np.array([1.0, -2.0]) * 0.5**3)
    assert lr == 0.25 and len(recorder.seen) == 3


def test_in_place_changes_to_arguments_are_mirrored_here(student):
    scale_in_place = names(student, "scale_in_place")["scale_in_place"]
    x, state = np.arange(3.0), {"m": np.zeros(2)}
    m = state["m"]
    assert scale_in_place(x, state) is None
    np.testing.assert_array_equal(x, [0.0, 3.0, 6.0])
    assert state["steps"] == 1
    assert state["m"] is m  # changed in place, as the student code did
    np.testing.assert_array_equal(m, [1.0, 1.0])


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
