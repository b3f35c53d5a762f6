"""Root pytest configuration: what `make test` collects besides tests/.

Lesson notebooks (chapters/) and instructor notebooks (solutions/) are collected by nbval
itself (see the addopts in pyproject.toml); student copies of the exercises are not run here,
since they stop at `raise NotImplementedError()` by design (tests/test_grading.py grades them).
"""


collect_ignore_glob = [
    "chapters/*/exercises/*",
    ".venv/*",
    "_build/*",
    "**/.ipynb_checkpoints/*",
]
