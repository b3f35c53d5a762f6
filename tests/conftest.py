"""Shared fixtures of the course's tests."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def shapes_vgg_weights() -> None:
    """Skip the test when the course's pretrained ``shapes_vgg`` weights (both frameworks) are
    missing from ``course_lib/weights/`` (committed; ``make pretrained`` rewrites them)."""
    from course_lib import pretrained

    if not all(pretrained.weights_path("shapes_vgg", fw).is_file()
               for fw in pretrained.FRAMEWORKS):
        pytest.skip("pretrained weights not generated")


@pytest.fixture(scope="module")
def small_scenes():
    """Six 32x32 multi-object scenes of three classes (Chapter 9's detector tests)."""
    from course_lib import scenes

    return scenes.make_scenes(6, size=32, classes=("circle", "square", "star"), seed=5)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _sandboxed_kernel(tmp_path_factory, memory_bytes: int):
    import os

    from course_grading import sandbox

    if sandbox.missing_tools() or os.geteuid() != 0:
        pytest.skip("needs bubblewrap, setpriv, prlimit and root")
    scratch = tmp_path_factory.mktemp("scratch")
    venv = Path(os.environ.get("VIRTUAL_ENV", REPO_ROOT / ".venv"))
    policy = sandbox.SandboxPolicy(
        hidden_roots=(REPO_ROOT,), scratch=scratch,
        visible=(REPO_ROOT / "course_lib", REPO_ROOT / "course_grading", venv),
        blocked_modules={REPO_ROOT / "course_lib" / "layers.py": BLOCKED_MODULE_MESSAGE},
        memory_bytes=memory_bytes, max_processes=64)
    manager, client, runtime_dir = sandbox.start_sandboxed_kernel(policy)
    yield manager, client, scratch
    client.stop_channels()
    manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def sandboxed_kernel(tmp_path_factory):
    """A real student kernel in the grading sandbox: ``(manager, client, scratch)``, with a
    4 GiB address-space limit (tests/test_sandbox.py allocates past it).

    Skips where the sandbox cannot start (bubblewrap missing, not root).
    """
    yield from _sandboxed_kernel(tmp_path_factory, 4 * 1024**3)


@pytest.fixture(scope="module")
def grading_sized_kernel(tmp_path_factory):
    """As :func:`sandboxed_kernel`, with the 8 GiB that grading gives (TensorFlow needs it)."""
    yield from _sandboxed_kernel(tmp_path_factory, 8 * 1024**3)


BLOCKED_MODULE_MESSAGE = ("course_lib.layers is not available while grading: it holds "
                          "reference answers")
