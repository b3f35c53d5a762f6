"""Instructor tooling around nbgrader: student-copy generation and grading hardening.

Not part of ``course_lib`` (which students import); used by ``nbgrader_config.py``,
``make exercises`` and ``tests/test_grading.py``.
"""
