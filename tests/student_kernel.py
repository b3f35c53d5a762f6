"""A student kernel for the harness tests (test_harness.py, test_harness_frameworks.py).

The sandboxed kernel of ``conftest.py`` with the harness's student side installed and the
test module's student code run in it, as grading does before the first test cell.
"""

from __future__ import annotations

from course_grading import harness


def start_student(sandboxed, code: str, *, timeout: float) -> harness.StudentKernel:
    """``sandboxed`` is a (manager, client, scratch) kernel fixture; ``code`` the student's."""
    _, client, scratch = sandboxed
    kernel = harness.StudentKernel(client, scratch, timeout=timeout)
    kernel.install()
    kernel._execute(code)
    return kernel


def names(student: harness.StudentKernel, *wanted: str) -> dict:
    """The student's values of ``wanted`` as the grader gets them (data, proxies, modules)."""
    return harness.student_names(student, wanted, {})
