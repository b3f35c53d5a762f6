"""PyTorch and TensorFlow in one process: import order and log noise, handled once.

The course shows PyTorch and Keras side by side, so most notebooks load both. Two problems
appear only then, and both must be handled *before* TensorFlow is imported:

1. **A crash.** TensorFlow and Triton (the compiler PyTorch loads when it creates its first
   optimizer, or when torchvision is imported) each bundle their own copy of LLVM. If TensorFlow
   loads first, Triton's later load segfaults the process. Loading Triton first avoids it.
2. **Log noise.** TensorFlow writes native (C++) log lines to stderr while its shared libraries
   load ("All log messages before absl::InitializeLog() ...", "oneDNN custom operations are
   on", "Could not find cuda drivers"), before ``TF_CPP_MIN_LOG_LEVEL`` can filter them, and
   Jupyter copies them into cell outputs.

``prepare_tensorflow_import()`` (called by ``import course_lib``) installs a one-shot import hook:
the first ``import tensorflow`` (also via ``import keras``) loads Triton first when it is
installed, and runs with the process's native stderr pointed at /dev/null. Set the environment
variable ``COURSE_SHOW_TF_LOGS=1`` to keep TensorFlow's start-up lines.

Taught in: ch01, 01_1_neurons-and-perceptrons.ipynb (why notebooks import course_lib first).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

TF_LOG_ENV = {
    # 0 = all, 1 = no INFO, 2 = no WARNING, 3 = no ERROR either. 3 because on a machine without
    # a GPU the CUDA-enabled wheel logs "failed call to cuInit" as an ERROR on the first op.
    # Python-level errors still raise exceptions as usual.
    "TF_CPP_MIN_LOG_LEVEL": "3",
}
SHOW_LOGS_ENV = "COURSE_SHOW_TF_LOGS"


def prepare_tensorflow_import() -> None:
    """Make the coming ``import tensorflow`` safe beside PyTorch, and quiet.

    A no-op once TensorFlow is imported (too late) or when the hook is already installed.
    """
    if os.environ.get(SHOW_LOGS_ENV) != "1":
        for name, value in TF_LOG_ENV.items():
            os.environ.setdefault(name, value)  # respect values the user already set
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, _TensorFlowImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _TensorFlowImportHook())


class _TensorFlowImportHook(importlib.abc.MetaPathFinder):
    """Wraps the loader of the top-level ``tensorflow`` package; passes everything else on.

    It stays installed until TensorFlow is actually executed: libraries that merely probe for
    TensorFlow with ``importlib.util.find_spec`` must not use it up.
    """

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _GuardedLoader(spec.loader, self)
        return spec


class _GuardedLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, hook: _TensorFlowImportHook) -> None:
        self._loader, self._hook = loader, hook

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        if self._hook in sys.meta_path:
            sys.meta_path.remove(self._hook)
        _load_triton_first()
        quiet = os.environ.get(SHOW_LOGS_ENV) != "1"
        with _native_stderr_silenced() if quiet else contextlib.nullcontext():
            self._loader.exec_module(module)


def _load_triton_first() -> None:
    if "triton" not in sys.modules and importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401 - loads Triton's LLVM before TensorFlow's (see module doc)


@contextlib.contextmanager
def _native_stderr_silenced():
    """Point file descriptor 2 at /dev/null (what C/C++ code writes to), then restore it."""
    sys.stderr.flush()
    saved_fd = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        os.close(devnull)
