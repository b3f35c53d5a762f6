"""Figures every chapter draws: decision boundaries, learning curves, image grids, functions.

Each function draws on a Matplotlib ``Axes``/``Figure`` and returns it (never calls ``show``),
so notebooks can add to a figure and tests can inspect it.

Taught in: ch01 (boundaries, activations, image grids), ch02 onwards (learning curves).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


def plot_decision_boundary(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    *,
    ax: plt.Axes | None = None,
    resolution: int = 200,
    margin: float = 0.5,
    title: str | None = None,
) -> plt.Axes:
    """Shade the regions a 2-D classifier assigns to each class, with the data on top.

    Args:
        predict: maps points of shape (M, 2) to M class labels (or M scores; a score's class
            is taken as ``score > 0.5``, so probabilities work too).
        x: points, shape (N, 2). y: their labels, shape (N,).
        resolution: grid points per axis. margin: space around the data, in data units.

    Returns:
        The ``Axes`` drawn on.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (N, 2), got {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},), got {y.shape}")
    ax = ax if ax is not None else plt.subplots(figsize=(4, 4))[1]
    lo, hi = x.min(axis=0) - margin, x.max(axis=0) + margin
    grid_x, grid_y = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    )
    grid = np.column_stack([grid_x.ravel(), grid_y.ravel()])  # (resolution**2, 2)
    labels = np.asarray(predict(grid)).reshape(-1)
    if labels.shape[0] != grid.shape[0]:
        raise ValueError(f"predict returned {labels.shape[0]} values for {grid.shape[0]} points")
    if labels.dtype.kind == "f":
        labels = (labels > 0.5).astype(int)
    ax.contourf(grid_x, grid_y, labels.reshape(grid_x.shape), alpha=0.3, cmap="coolwarm")
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", edgecolors="k", s=30)
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title)
    return ax


def plot_learning_curves(
    history, *, metrics: Sequence[str] | None = None, title: str | None = None
) -> plt.Figure:
    """Training and validation curves, one panel per metric.

    Args:
        history: a Keras ``History`` (uses its ``.history`` dict) or a mapping such as the
            course's own training loops return: ``{"loss": [...], "val_loss": [...], ...}``.
        metrics: which metrics to draw; default: every key without a ``val_`` prefix.

    Returns:
        The ``Figure``; each panel shows ``metric`` and, if present, ``val_metric`` per epoch.
    """
    curves = getattr(history, "history", history)
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError("history must be a Keras History or a non-empty dict of lists")
    names = list(metrics) if metrics is not None else [
        key for key in curves if not key.startswith("val_") and key not in ("lr", "learning_rate")
    ]
    missing = [name for name in names if name not in curves]
    if missing or not names:
        raise ValueError(f"metrics {missing or names} not in history keys {sorted(curves)}")
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = np.arange(1, len(curves[name]) + 1)
        ax.plot(epochs, curves[name], marker="o", ms=3, label="train")
        if f"val_{name}" in curves:
            ax.plot(epochs, curves[f"val_{name}"], marker="o", ms=3, label="validation")
        ax.set(xlabel="epoch", ylabel=name, title=name)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_images(
    images: np.ndarray,
    labels: Sequence | None = None,
    *,
    ncols: int = 8,
    channels_first: bool = False,
    cmap: str = "gray",
    size: float = 1.2,
) -> plt.Figure:
    """A grid of images with optional labels as titles.

    Args:
        images: (N, H, W) grayscale, or (N, H, W, C) with C in {1, 3};
            (N, C, H, W) with ``channels_first=True`` (PyTorch layout). Any numeric range:
            uint8 is shown as 0..255, floats are scaled per image.
        labels: N labels (numbers or strings) shown above the images.
        ncols: images per row. size: inches per image.

    Returns:
        The ``Figure``.
    """
    images = np.asarray(images)
    if images.ndim == 4 and channels_first:
        images = images.transpose(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]  # (N, H, W, 1) -> (N, H, W)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError(
            f"images must be (N, H, W), (N, H, W, 1|3) or, with channels_first=True, "
            f"(N, 1|3, H, W); got shape {images.shape}"
        )
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"got {len(labels)} labels for {len(images)} images")
    nrows = max(1, int(np.ceil(len(images) / ncols)))
    ncols = min(ncols, len(images))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + 0.3 * nrows), squeeze=False
    )
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= len(images):
            continue
        image = images[index]
        if image.ndim == 3 and image.dtype != np.uint8:
            span = np.ptp(image) or 1.0
            image = (image - image.min()) / span  # imshow wants RGB floats in [0, 1]
        ax.imshow(image, cmap=cmap if image.ndim == 2 else None)
        if labels is not None:
            ax.set_title(str(labels[index]), fontsize=9)
    fig.tight_layout()
    return fig


def plot_functions(
    functions: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    *,
    x: np.ndarray | None = None,
    ncols: int = 4,
    title: str | None = None,
) -> plt.Figure:
    """One small panel per named function of one variable, e.g. activations and derivatives.

    Args:
        functions: ``{"label": f}`` where ``f`` maps an array to an array of the same shape.
        x: where to evaluate; default 401 points on [-5, 5].

    Returns:
        The ``Figure``.
    """
    if not functions:
        raise ValueError("functions must name at least one function")
    x = np.linspace(-5, 5, 401) if x is None else np.asarray(x, dtype=float)
    ncols = min(ncols, len(functions))
    nrows = int(np.ceil(len(functions) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 2.4 * nrows), squeeze=False)
    for ax in axes.flat[len(functions):]:
        ax.axis("off")
    for ax, (label, function) in zip(axes.flat, functions.items()):
        ax.plot(x, np.asarray(function(x)), lw=2)
        ax.axhline(0, color="gray", lw=0.5)
        ax.axvline(0, color="gray", lw=0.5)
        ax.set_title(label)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
