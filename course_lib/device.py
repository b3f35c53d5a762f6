"""Devices and reproducibility: one place that decides where code runs and seeds every RNG.

Taught in: ch01, 01_1_neurons-and-perceptrons.ipynb (and used by every notebook's first cell).
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass, field

import numpy as np

def get_device(prefer: str | None = None) -> "torch.device":  # noqa: F821 - torch is lazy
    """Pick the PyTorch device: CUDA if available, else Apple MPS, else CPU.

    Args:
        prefer: force ``"cpu"``, ``"cuda"`` or ``"mps"``; ``None`` picks the best available.
            Set the environment variable ``COURSE_DEVICE`` to do the same without editing code.

    Returns:
        A ``torch.device``. Lessons pass it to ``model.to(device)``; nothing is hard-coded.

    Raises:
        ValueError: ``prefer`` names an unknown or unavailable device.
    """
    import torch

    prefer = prefer or os.environ.get("COURSE_DEVICE") or None
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": _mps_available(torch)}
    if prefer is not None:
        if prefer not in available:
            raise ValueError(f"prefer must be one of {sorted(available)} or None, got {prefer!r}")
        if not available[prefer]:
            raise ValueError(f"device {prefer!r} is not available on this machine; use None")
        return torch.device(prefer)
    for name in ("cuda", "mps"):
        if available[name]:
            return torch.device(name)
    return torch.device("cpu")


def _mps_available(torch_module) -> bool:
    backend = getattr(torch_module.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


@dataclass(frozen=True)
class DeviceReport:
    """What each framework will run on. ``str(report)`` is a short, human-readable summary."""

    torch_version: str
    torch_device: str
    torch_device_name: str
    tensorflow_version: str | None
    tensorflow_gpus: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        tf_part = (
            "TensorFlow not checked or not installed"
            if self.tensorflow_version is None
            else f"TensorFlow {self.tensorflow_version}: "
            + (", ".join(self.tensorflow_gpus) if self.tensorflow_gpus else "CPU only")
        )
        return (
            f"PyTorch {self.torch_version}: {self.torch_device} ({self.torch_device_name}) | "
            + tf_part
        )


def describe_devices(*, include_tensorflow: bool = True) -> DeviceReport:
    """Report the PyTorch device ``get_device()`` picks and the GPUs TensorFlow sees.

    Args:
        include_tensorflow: import TensorFlow to ask it (takes a few seconds the first time).

    Returns:
        A ``DeviceReport``; print it in a notebook's first cell.
    """
    import torch

    device = get_device()
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    elif device.type == "mps":
        name = "Apple GPU"
    else:
        name = "CPU"
    tf_version, tf_gpus = None, []
    if include_tensorflow:
        try:
            import tensorflow as tf
        except ImportError:
            pass
        else:
            tf_version = tf.__version__
            tf_gpus = [gpu.name for gpu in tf.config.list_physical_devices("GPU")]
    return DeviceReport(torch.__version__, device.type, name, tf_version, tf_gpus)


def set_seed(seed: int, *, deterministic: bool = False) -> None:
    """Seed Python, numpy, and PyTorch/TensorFlow when they are installed.

    Call it after the imports in a notebook's first cell. PyTorch and TensorFlow are seeded
    only if they are already imported, so a numpy-only notebook never pays for loading them.

    Args:
        seed: a non-negative integer.
        deterministic: also ask the frameworks for deterministic kernels (slower on GPU; some
            operations then raise instead of running nondeterministically).

    Raises:
        TypeError / ValueError: ``seed`` is not a non-negative int.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.manual_seed(seed)  # seeds CPU, CUDA and MPS generators
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
    if "tensorflow" in sys.modules or "keras" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)  # Python, numpy and the backend's (TensorFlow's) RNG
        if deterministic and "tensorflow" in sys.modules:
            sys.modules["tensorflow"].config.experimental.enable_op_determinism()
