"""The course's own pretrained models: trained offline by ``scripts/pretrain.py``, loaded by name.

Pretrained ImageNet models are a download away (``torchvision.models``, ``keras.applications``),
which an offline course cannot rely on. So the repository pretrains its own small networks on a
*source task* it can generate anywhere: the 10 ``SOURCE_CLASSES`` of ``course_lib.shapes``
(32 x 32 RGB, all four backgrounds mixed). Chapter 8 transfers them to the 6 unseen
``TARGET_CLASSES``.

- ``available_models()``: ``["shapes_resnet", "shapes_vgg"]``.
- ``load_pretrained(name, framework)``: the network of ``course_lib.blocks`` with its weights
  (checked against the sha256 in its model card first).
- ``model_card(name, framework)``: how the weights were made (data, seed, command, epochs,
  time, accuracy, file hash).
- ``source_task_data(split)``: the exact images and labels of the source task's ``"train"``,
  ``"val"`` and ``"test"`` splits; the cards' accuracies are measured on ``"test"``.
- ``as_inputs`` / ``predict`` / ``accuracy``: uint8 images -> each framework's float input, and
  evaluation in both frameworks.
- ``imagenet_model(name, framework)``: the standard ``weights=`` path, online only; offline it
  fails with a message that points here.
- ``reproduction_tolerance(accuracy, num_images)``: how far a retrained model's test accuracy
  may fall from its card's (see that function for why retraining is not bit-exact).

Taught in: ch07, 07_5_course-pretrained-models.ipynb; used in ch08.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from course_lib import blocks
from course_lib.shapes import BACKGROUNDS, SOURCE_CLASSES, ShapesData, make_shapes

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
FRAMEWORKS = ("torch", "keras")
IMAGE_SIZE = 32
# Images per class in each split of the source task, spread evenly over the four backgrounds.
SOURCE_SPLITS = {"train": 400, "val": 60, "test": 100}
# One seed per split (plus the background's index), so no two splits share an image.
SOURCE_SEEDS = {"train": 7_000, "val": 8_000, "test": 9_000}
_ARCHITECTURES: dict[str, dict[str, Callable]] = {
    "shapes_vgg": {"torch": blocks.small_vgg_torch, "keras": blocks.small_vgg_keras},
    "shapes_resnet": {"torch": blocks.small_resnet_torch, "keras": blocks.small_resnet_keras},
}
_EXTENSIONS = {"torch": ".pt", "keras": ".weights.h5"}


def available_models() -> list[str]:
    """Names accepted by ``load_pretrained`` and ``model_card``, sorted."""
    return sorted(_ARCHITECTURES)


def source_task_data(split: str, *, n_per_class: int | None = None) -> ShapesData:
    """One split of the source task: the 10 ``SOURCE_CLASSES``, 32 x 32, mixed backgrounds.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        n_per_class: images per class, a multiple of 4 (one quarter per background); default
            ``SOURCE_SPLITS[split]``, the size the pretrained models and their cards use. Another
            value gives other images (not a subset): keep the default to reproduce the cards.

    Returns:
        ``ShapesData``: images (N, 32, 32, 3) uint8, labels (N,) int64 (label i is
        ``SOURCE_CLASSES[i]``), shuffled with the split's seed. Same pixels on every machine.
    """
    if split not in SOURCE_SPLITS:
        raise ValueError(f"split must be one of {list(SOURCE_SPLITS)}, got {split!r}")
    n_per_class = SOURCE_SPLITS[split] if n_per_class is None else n_per_class
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or n_per_class < 4 \
            or n_per_class % len(BACKGROUNDS):
        raise ValueError(f"n_per_class must be a positive multiple of {len(BACKGROUNDS)} "
                         f"(one share per background), got {n_per_class!r}")
    seed = SOURCE_SEEDS[split]
    parts = [make_shapes(n_per_class // len(BACKGROUNDS), classes=SOURCE_CLASSES,
                         size=IMAGE_SIZE, background=background, seed=seed + index)
             for index, background in enumerate(BACKGROUNDS)]
    order = np.random.default_rng(seed).permutation(sum(len(p.labels) for p in parts))
    images = np.concatenate([p.images for p in parts])[order]
    labels = np.concatenate([p.labels for p in parts])[order]
    return ShapesData(images, labels, SOURCE_CLASSES)


def build_model(name: str, framework: str = "torch"):
    """The untrained network behind ``name`` (what ``scripts/pretrain.py`` trains)."""
    _check_name(name, framework)
    return _ARCHITECTURES[name][framework](len(SOURCE_CLASSES))


def weights_path(name: str, framework: str = "torch", *, weights_dir: str | Path | None = None
                 ) -> Path:
    """Where the weights of ``name`` live: ``<weights_dir>/<name>.pt`` or ``.weights.h5``."""
    _check_name(name, framework)
    return Path(weights_dir or WEIGHTS_DIR) / f"{name}{_EXTENSIONS[framework]}"


def card_path(name: str, framework: str = "torch", *, weights_dir: str | Path | None = None
              ) -> Path:
    """Where the model card of ``name`` lives: ``<weights_dir>/<name>.<framework>.json``."""
    _check_name(name, framework)
    return Path(weights_dir or WEIGHTS_DIR) / f"{name}.{framework}.json"


def reproduction_tolerance(accuracy: float, num_images: int, *, sigmas: float = 3.0) -> float:
    """How far a retrained model's test accuracy may lie from the card's: ``sigmas`` standard
    errors of the difference of two binomial estimates, ``sqrt(2 p (1 - p) / n)``.

    Retraining is deterministic on one machine but not across machines: PyTorch (oneDNN, ATen)
    and TensorFlow pick vectorized kernels by the processor's instruction set, so an AVX-512
    machine and an AVX2 one sum in different orders and, after thousands of steps, end at
    different weights (measured: ``shapes_vgg`` in PyTorch reached 0.977 test accuracy on an
    AVX-512 CPU, 0.979 there with ``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2``, and
    0.982 on the machine that made its card). Two such runs are two different trained
    networks, each scored on the same ``n`` test images; we treat their accuracies as two
    independent estimates of ``p``, whose difference has standard error
    ``sqrt(2 p (1 - p) / n)``.

    Args:
        accuracy: the card's test accuracy ``p``, in [0, 1].
        num_images: ``n``, the number of test images it was measured on (> 0).
        sigmas: how many standard errors to allow (3: a correct script fails about 0.3 % of
            the time).

    Returns:
        The tolerance as a fraction, e.g. ``0.0178`` for ``p = 0.982``, ``n = 1000``.
    """
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"accuracy must be a fraction in [0, 1], got {accuracy!r}")
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images <= 0:
        raise ValueError(f"num_images must be a positive int, got {num_images!r}")
    return sigmas * float(np.sqrt(2.0 * accuracy * (1.0 - accuracy) / num_images))


def model_card(name: str, framework: str = "torch", *,
               weights_dir: str | Path | None = None) -> dict:
    """The model card of a pretrained model: a dict read from its JSON file.

    Keys include ``data`` (classes, image size, backgrounds, images per class and seed of each
    split), ``seed``, ``command``, ``epochs``, ``train_seconds``, ``num_params``,
    ``val_accuracy``, ``test_accuracy`` (fractions in [0, 1]), ``file``, ``sha256``,
    ``file_bytes``.
    """
    path = card_path(name, framework, weights_dir=weights_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no model card {path}; regenerate the weights with "
                                f"`python scripts/pretrain.py --model {name} "
                                f"--framework {framework}`")
    return json.loads(path.read_text())


def load_pretrained(name: str, framework: str = "torch", *,
                    weights_dir: str | Path | None = None):
    """A course model with its pretrained weights, after checking the file's sha256.

    Args:
        name: one of ``available_models()``.
        framework: ``"torch"`` (an ``nn.Module`` on the CPU, in eval mode; move it with
            ``.to(device)``) or ``"keras"`` (a functional ``keras.Model``).
        weights_dir: folder with the weights and cards; default ``course_lib/weights``.

    Returns:
        The model: input float32 in [0, 1], (N, 3, 32, 32) for torch, (N, 32, 32, 3) for Keras
        (see ``as_inputs``); output logits (N, 10). ``model.features`` (torch) or
        ``model.get_layer("features")`` (Keras) is the backbone.

    Raises:
        ValueError: unknown name or framework, or the file's hash differs from the card's.
        FileNotFoundError: the weights or the card are missing.
    """
    card = model_card(name, framework, weights_dir=weights_dir)
    path = weights_path(name, framework, weights_dir=weights_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file {path}; regenerate it with "
                                f"`python scripts/pretrain.py --model {name} "
                                f"--framework {framework}`")
    digest = file_sha256(path)
    if digest != card["sha256"]:
        raise ValueError(f"{path} is corrupted or was replaced: its sha256 is {digest}, the "
                         f"model card says {card['sha256']}. Restore it (git checkout) or "
                         f"regenerate it with scripts/pretrain.py")
    model = build_model(name, framework)
    if framework == "torch":
        import torch

        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval()
    model.load_weights(path)
    return model


def file_sha256(path: str | Path) -> str:
    """The hex sha256 digest of a file's bytes (what the model cards record)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def as_inputs(images: np.ndarray, framework: str = "torch"):
    """uint8 images (N, H, W, 3) -> float32 in [0, 1]: a torch NCHW tensor or a numpy NHWC array.

    The course's models expect exactly this (no mean/std normalization).
    """
    _check_framework(framework)
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 of shape (N, H, W, 3), got {images.dtype} "
                         f"{images.shape}")
    x = images.astype(np.float32) / 255.0
    if framework == "keras":
        return x
    import torch

    return torch.from_numpy(x.transpose(0, 3, 1, 2).copy())  # (N, H, W, C) -> (N, C, H, W)


def predict(model, images: np.ndarray, framework: str = "torch", *,
            batch_size: int = 250) -> np.ndarray:
    """Predicted class indices (N,) int64 for uint8 images (N, H, W, 3), in eval mode."""
    x = as_inputs(images, framework)
    if framework == "keras":
        logits = model.predict(x, batch_size=batch_size, verbose=0)
        return np.asarray(logits).argmax(axis=1).astype(np.int64)
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            labels = [model(batch.to(device)).argmax(dim=1).cpu()
                      for batch in torch.split(x, batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(labels).numpy().astype(np.int64)


def accuracy(model, data: ShapesData, framework: str = "torch") -> float:
    """Fraction of ``data`` classified correctly (what the cards' ``test_accuracy`` reports)."""
    return float(np.mean(predict(model, data.images, framework) == data.labels))


def imagenet_model(name: str, framework: str = "torch"):
    """An ImageNet-pretrained model through the standard ``weights=`` APIs (needs the network).

    torch: ``torchvision.models.get_model(name, weights="DEFAULT")``, e.g. ``"resnet18"``;
    keras: ``keras.applications.<name>(weights="imagenet")``, e.g. ``"ResNet50"``. Both download
    the weights the first time (tens to hundreds of MB) and cache them. Never called by the
    course's notebooks or tests.

    Raises:
        ValueError: unknown framework or model name.
        RuntimeError: the weights could not be downloaded (offline); the message says that the
            course uses ``load_pretrained`` instead.
    """
    _check_framework(framework)
    try:
        if framework == "torch":
            import torchvision

            if name not in torchvision.models.list_models():
                raise ValueError(f"torchvision has no model {name!r}; see "
                                 f"torchvision.models.list_models()")
            return torchvision.models.get_model(name, weights="DEFAULT")
        import keras

        if not callable(getattr(keras.applications, name, None)):
            raise ValueError(f"keras.applications has no model {name!r}, e.g. 'ResNet50'")
        return getattr(keras.applications, name)(weights="imagenet")
    except ValueError:
        raise
    except Exception as error:  # urllib's URLError, Keras's "URL fetch failure", ...
        raise RuntimeError(
            f"could not get the ImageNet weights of {name!r} ({framework}): they are downloaded "
            f"on first use and this machine seems to be offline ({type(error).__name__}: "
            f"{error}). Offline, the course uses its own pretrained models: "
            f"course_lib.pretrained.load_pretrained(name, framework) with name in "
            f"{available_models()}.") from error


def _check_framework(framework: str) -> None:
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {list(FRAMEWORKS)}, got {framework!r}")


def _check_name(name: str, framework: str) -> None:
    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; choose one of {available_models()}")
    _check_framework(framework)
