"""The environment the Makefile builds: up to date after one install, nbgrader wired into Lab."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_grading.release import REPO_ROOT

BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.mark.skipif(not (REPO_ROOT / ".venv").is_dir(), reason="runs inside the Makefile's .venv")
def test_second_make_run_does_not_reinstall():
    # `make -q` exits 0 only when the target is up to date, i.e. nothing would be reinstalled.
    result = subprocess.run(["make", "-q", "env"], cwd=REPO_ROOT, capture_output=True)
    assert result.returncode == 0, "the environment stamp is stale: `make` would reinstall"


def test_jupyterlab_has_the_nbgrader_extensions():
    lab = subprocess.run([str(BIN / "jupyter"), "labextension", "list"], capture_output=True,
                         text=True, env=_env(), timeout=120)
    assert "@jupyter/nbgrader" in lab.stdout + lab.stderr
    server = subprocess.run([str(BIN / "jupyter"), "server", "extension", "list"],
                            capture_output=True, text=True, env=_env(), timeout=120)
    listing = server.stdout + server.stderr
    for extension in ("formgrader", "assignment_list", "validate_assignment"):
        assert f"nbgrader.server_extensions.{extension} \x1b[32menabled" in listing or \
            f"nbgrader.server_extensions.{extension} enabled" in listing, extension


@pytest.mark.slow
def test_course_lib_installs_from_the_repository_alone(tmp_path):
    # What `pip install "course-lib @ git+<repo URL>"` does on Colab: build a wheel from the
    # repository root and install it; only numpy, matplotlib, scikit-learn and pillow are
    # required, and the pretrained weights with their model cards travel inside the wheel.
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(REPO_ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    wheel = next(tmp_path.glob("course_lib-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "course_lib/data.py" in names and "course_lib/device.py" in names
    from course_lib.pretrained import available_models

    for name in available_models():
        for suffix in (".pt", ".weights.h5", ".torch.json", ".keras.json"):
            assert f"course_lib/weights/{name}{suffix}" in names, f"{name}{suffix} not shipped"
    assert not [name for name in names if name.startswith(("tests/", "solutions/", "chapters/"))]
    metadata = next(name for name in names if name.endswith("METADATA"))
    requires = [line for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
                if line.startswith("Requires-Dist") and "extra ==" not in line]
    assert sorted(line.split(":")[1].strip() for line in requires) == [
        "matplotlib", "numpy", "pillow", "scikit-learn"]
