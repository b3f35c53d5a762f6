"""course_lib.frameworks: TensorFlow beside PyTorch without a crash and without log noise.

Each check runs in a fresh interpreter, since both effects happen at import time.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None
needs_tensorflow = pytest.mark.skipif(not HAS_TENSORFLOW, reason="needs TensorFlow")


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "COURSE_"))}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**clean, **env}, timeout=300)


def test_importing_course_lib_loads_no_framework():
    result = run_python("import sys, course_lib, course_lib.data, course_lib.plot, "
                        "course_lib.checks, course_lib.activations\n"
                        "print('torch' in sys.modules, 'tensorflow' in sys.modules)")
    assert result.stdout.split() == ["False", "False"], result.stderr


@pytest.mark.slow
@needs_tensorflow
def test_tensorflow_import_is_silent_after_course_lib():
    code = ("import course_lib, keras, tensorflow as tf\n"
            "print(int(tf.reduce_sum(tf.ones((2, 2))).numpy()))")
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4"
    assert result.stderr.strip() == "", f"TensorFlow wrote to stderr:\n{result.stderr}"


@pytest.mark.slow
@needs_tensorflow
def test_a_probe_for_tensorflow_does_not_use_up_the_hook():
    # torch._dynamo and others look for TensorFlow with find_spec without importing it.
    code = ("import importlib.util, course_lib\n"
            "assert importlib.util.find_spec('tensorflow') is not None\n"
            "import tensorflow\n")
    result = run_python(code)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


@pytest.mark.slow
@needs_tensorflow
def test_pytorch_optimizers_and_torchvision_work_after_tensorflow():
    # Without course_lib this segfaults: TensorFlow's LLVM, then Triton's (see the module doc).
    code = ("import course_lib, tensorflow, torch, torchvision\n"
            "w = torch.nn.Parameter(torch.zeros(2))\n"
            "torch.optim.SGD([w], lr=0.1)\n"
            "print('ok')")
    result = run_python(code)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert result.stdout.strip() == "ok"


@pytest.mark.slow
@needs_tensorflow
def test_course_show_tf_logs_keeps_native_start_up_lines():
    loud = run_python("import course_lib, tensorflow", COURSE_SHOW_TF_LOGS="1")
    quiet = run_python("import course_lib, tensorflow")
    assert loud.returncode == quiet.returncode == 0
    assert quiet.stderr.strip() == ""
    # On this CPU-only machine the CUDA-enabled wheel always reports the missing driver.
    if "cuda" in loud.stderr.lower() or "absl" in loud.stderr:
        assert len(loud.stderr) > len(quiet.stderr)
