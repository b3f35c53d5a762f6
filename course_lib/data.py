"""Offline data: every data set the course uses ships with an installed package or is generated.

- ``load_digits_splits``: scikit-learn's 8x8 handwritten digits (1,797 real images) with fixed,
  stratified train/validation/test splits, as numpy arrays.
- ``digits_torch_loaders`` / ``digits_tf_datasets``: the same splits as PyTorch ``DataLoader``s
  and ``tf.data.Dataset``s.
- ``load_sample_photo``: scikit-learn's two sample photos (RGB, uint8).
- ``logic_gate`` and ``make_toy_2d``: tiny 2-D sets for perceptrons and decision boundaries.

Taught in: ch01 (toy sets, photos), ch02 onwards (digits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOGIC_GATES = {
    "and": (0, 0, 0, 1),
    "or": (0, 1, 1, 1),
    "nand": (1, 1, 1, 0),
    "nor": (1, 0, 0, 0),
    "xor": (0, 1, 1, 0),
}
TOY_SETS = ("blobs", "moons", "spirals", "xor")
SAMPLE_PHOTOS = ("china.jpg", "flower.jpg")
DIGITS_PIXEL_MAX = 16.0  # scikit-learn's digits store ink as integers 0..16


def logic_gate(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The truth table of a two-input logic gate.

    Args:
        name: one of ``"and"``, ``"or"``, ``"nand"``, ``"nor"``, ``"xor"`` (any case).

    Returns:
        ``x`` of shape (4, 2) with rows 00, 01, 10, 11 (float64) and ``y`` of shape (4,) (int64).
    """
    key = _check_choice(name, LOGIC_GATES, "name").lower()
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    return x, np.array(LOGIC_GATES[key], dtype=np.int64)


def make_toy_2d(
    name: str, n_samples: int = 200, *, noise: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A labelled 2-D point cloud for decision-boundary pictures.

    Args:
        name: ``"blobs"`` (two Gaussian blobs, linearly separable), ``"moons"``,
            ``"spirals"`` (two interleaved arms) or ``"xor"`` (four noisy XOR clusters).
        n_samples: total number of points, >= 4 (split evenly between the two classes).
        noise: standard deviation of the Gaussian jitter, >= 0.
        seed: seed of the generator, so the same call gives the same points.

    Returns:
        ``x`` of shape (n_samples, 2) float64 and ``y`` of shape (n_samples,) int64 in {0, 1}.
    """
    key = _check_choice(name, TOY_SETS, "name").lower()
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise TypeError(f"n_samples must be an int, got {type(n_samples).__name__}")
    if n_samples < 4:
        raise ValueError(f"n_samples must be >= 4, got {n_samples}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    if key == "blobs":
        from sklearn.datasets import make_blobs

        x, y = make_blobs(
            n_samples=n_samples, centers=[(-1.5, -1.0), (1.5, 1.0)],
            cluster_std=0.5 + noise, random_state=seed,
        )
    elif key == "moons":
        from sklearn.datasets import make_moons

        x, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    elif key == "spirals":
        x, y = _spirals(n_samples, noise, rng)
    else:
        x, y = _xor_clusters(n_samples, noise, rng)
    return x.astype(np.float64), y.astype(np.int64)


def _spirals(n_samples: int, noise: float, rng: np.random.Generator):
    n_per_class = [n_samples // 2, n_samples - n_samples // 2]
    points, labels = [], []
    for label, n in enumerate(n_per_class):
        radius = np.linspace(0.05, 1.0, n)
        angle = 3.5 * np.pi * radius + label * np.pi
        arm = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
        points.append(arm + rng.normal(scale=noise, size=arm.shape))
        labels.append(np.full(n, label))
    return np.concatenate(points), np.concatenate(labels)


def _xor_clusters(n_samples: int, noise: float, rng: np.random.Generator):
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    which = np.arange(n_samples) % 4
    x = corners[which] + rng.normal(scale=noise, size=(n_samples, 2))
    return x, np.array(LOGIC_GATES["xor"])[which]


@dataclass(frozen=True)
class DigitsSplits:
    """Fixed train/validation/test splits of scikit-learn's digits (features scaled to [0, 1])."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def num_classes(self) -> int:
        return 10


def load_digits_splits(
    *, val_size: float = 0.15, test_size: float = 0.15, image_shape: str = "flat", seed: int = 0
) -> DigitsSplits:
    """scikit-learn's handwritten digits, split once and for all (stratified by label).

    Args:
        val_size, test_size: fractions of the 1,797 images, each in (0, 1), summing to < 1.
        image_shape: ``"flat"`` -> (N, 64), ``"nchw"`` -> (N, 1, 8, 8) for PyTorch,
            ``"nhwc"`` -> (N, 8, 8, 1) for Keras.
        seed: the split's seed; the course's figures use the default.

    Returns:
        A ``DigitsSplits`` of float32 images in [0, 1] and int64 labels 0..9.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    shapes = {"flat": (-1, 64), "nchw": (-1, 1, 8, 8), "nhwc": (-1, 8, 8, 1)}
    _check_choice(image_shape, shapes, "image_shape")
    for arg, value in (("val_size", val_size), ("test_size", test_size)):
        if not 0 < value < 1:
            raise ValueError(f"{arg} must be a fraction in (0, 1), got {value}")
    if val_size + test_size >= 1:
        raise ValueError(f"val_size + test_size must be < 1, got {val_size + test_size}")
    digits = load_digits()
    x = (digits.data / DIGITS_PIXEL_MAX).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=seed
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_size / (1 - test_size), stratify=y_rest, random_state=seed
    )
    shape = shapes[image_shape]
    return DigitsSplits(
        x_train.reshape(shape), y_train, x_val.reshape(shape), y_val,
        x_test.reshape(shape), y_test,
    )


def digits_torch_loaders(
    batch_size: int = 64, *, image_shape: str = "nchw", seed: int = 0
) -> dict[str, "torch.utils.data.DataLoader"]:  # noqa: F821 - torch is lazy
    """The digits splits as PyTorch loaders: ``{"train", "val", "test"}``.

    The training loader reshuffles every epoch with its own seeded generator; the others keep
    their order. Images are (N, 1, 8, 8) by default (``image_shape="flat"`` for MLPs).
    """
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    _check_batch_size(batch_size)
    splits = load_digits_splits(image_shape=image_shape, seed=seed)
    loaders = {}
    for split in ("train", "val", "test"):
        dataset = TensorDataset(
            torch.from_numpy(getattr(splits, f"x_{split}")),
            torch.from_numpy(getattr(splits, f"y_{split}")),
        )
        shuffle = split == "train"
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        loaders[split] = DataLoader(
            dataset, batch_size=batch_size, shuffle=shuffle, generator=generator
        )
    return loaders


def digits_tf_datasets(
    batch_size: int = 64, *, image_shape: str = "nhwc", seed: int = 0
) -> dict[str, "tf.data.Dataset"]:  # noqa: F821 - tensorflow is lazy
    """The digits splits as batched ``tf.data.Dataset``s: ``{"train", "val", "test"}``.

    The training set is reshuffled each epoch (seeded); images are (N, 8, 8, 1) by default.
    """
    import tensorflow as tf

    _check_batch_size(batch_size)
    splits = load_digits_splits(image_shape=image_shape, seed=seed)
    datasets = {}
    for split in ("train", "val", "test"):
        x, y = getattr(splits, f"x_{split}"), getattr(splits, f"y_{split}")
        dataset = tf.data.Dataset.from_tensor_slices((x, y))
        if split == "train":
            dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        datasets[split] = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return datasets


def load_sample_photo(name: str = "china.jpg") -> np.ndarray:
    """One of scikit-learn's sample photos as an (H, W, 3) uint8 RGB array (values 0..255).

    Args:
        name: ``"china.jpg"`` (a temple, 427x640) or ``"flower.jpg"`` (427x640).
    """
    from sklearn.datasets import load_sample_image

    _check_choice(name, SAMPLE_PHOTOS, "name")
    return load_sample_image(name)


def _check_choice(value, choices, arg: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{arg} must be a string, one of {sorted(choices)}; got {value!r}")
    if value.lower() not in choices:
        raise ValueError(f"unknown {arg} {value!r}; choose one of {sorted(choices)}")
    return value


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
