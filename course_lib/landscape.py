"""Loss landscapes of two parameters and the paths that descent methods take across them.

- ``descent_path``: the points visited by plain gradient descent from a starting point.
- ``loss_grid``: a loss evaluated on a 2-D grid of parameter values.
- ``plot_loss_contour``: contour lines of such a grid (log-spaced levels by default).
- ``plot_descent_path``: a path of parameter values drawn on top of a contour plot.

Each plotting function draws on a Matplotlib ``Axes`` and returns it (never calls ``show``).

Taught in: ch02, 02_2_gradient-descent.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np


def descent_path(
    grad_fn: Callable[[np.ndarray], np.ndarray],
    start: Sequence[float] | np.ndarray,
    *,
    lr: float,
    num_steps: int,
    max_norm: float = 1e6,
) -> np.ndarray:
    """Run ``theta <- theta - lr * grad_fn(theta)`` and return every point visited.

    Args:
        grad_fn: maps parameters of shape (P,) to the gradient of the loss, shape (P,).
        start: the initial parameters, shape (P,).
        lr: learning rate (step size) eta, > 0.
        num_steps: number of updates, >= 0.
        max_norm: stop early once ``|theta|`` exceeds it (the run is diverging), so the path
            stays finite and free of overflow warnings.

    Returns:
        The path, shape (num_steps + 1, P) (fewer rows if it stopped early); row 0 is ``start``.

    Taught in: ch02, 02_2_gradient-descent.ipynb
    """
    theta = np.array(start, dtype=np.float64, copy=True)
    if theta.ndim != 1:
        raise ValueError(f"start must be a vector of shape (P,); got shape {theta.shape}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) \
            or num_steps < 0:
        raise ValueError(f"num_steps must be a non-negative int, got {num_steps!r}")
    path = [theta]
    for _ in range(num_steps):
        grad = np.asarray(grad_fn(theta), dtype=np.float64)
        if grad.shape != theta.shape:
            raise ValueError(f"grad_fn returned shape {grad.shape}, expected {theta.shape}")
        theta = theta - lr * grad
        path.append(theta)
        if not np.all(np.isfinite(theta)) or np.linalg.norm(theta) > max_norm:
            break
    return np.stack(path)


def loss_grid(
    loss_fn: Callable[[np.ndarray], float],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    *,
    resolution: int = 100,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate a loss of two parameters on a regular grid.

    Args:
        loss_fn: maps a point of shape (2,) to a scalar loss.
        xlim, ylim: ranges of the first and second parameter.
        resolution: grid points per axis, >= 2.

    Returns:
        ``grid_x, grid_y, values``, each of shape (resolution, resolution), as
        ``np.meshgrid`` lays them out (rows follow the second parameter).

    Taught in: ch02, 02_2_gradient-descent.ipynb
    """
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) \
            or resolution < 2:
        raise ValueError(f"resolution must be an int >= 2, got {resolution!r}")
    for name, limits in (("xlim", xlim), ("ylim", ylim)):
        if len(limits) != 2 or not limits[0] < limits[1]:
            raise ValueError(f"{name} must be (low, high) with low < high, got {limits!r}")
    grid_x, grid_y = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    values = np.array([
        float(loss_fn(np.array([px, py]))) for px, py in zip(grid_x.ravel(), grid_y.ravel())
    ]).reshape(grid_x.shape)
    return grid_x, grid_y, values


def plot_loss_contour(
    loss_fn: Callable[[np.ndarray], float],
    *,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    ax: plt.Axes | None = None,
    levels: int = 20,
    log_levels: bool = True,
    resolution: int = 100,
    labels: tuple[str, str] = ("$w$", "$b$"),
    title: str | None = None,
) -> plt.Axes:
    """Contour lines of a loss of two parameters.

    Args:
        loss_fn: maps a point of shape (2,) to a scalar loss (>= 0 when ``log_levels``).
        xlim, ylim: ranges of the two parameters.
        levels: number of contour levels.
        log_levels: space the levels logarithmically between the grid's smallest and largest
            loss, so the valley floor gets as many lines as the steep walls.
        labels: axis labels of the two parameters.

    Returns:
        The ``Axes`` drawn on.

    Taught in: ch02, 02_2_gradient-descent.ipynb
    """
    grid_x, grid_y, values = loss_grid(loss_fn, xlim, ylim, resolution=resolution)
    ax = ax if ax is not None else plt.subplots(figsize=(4, 3.5))[1]
    if log_levels:
        low = max(values.min(), 1e-12)
        contour_levels = np.geomspace(low, max(values.max(), low * 10), levels)
    else:
        contour_levels = np.linspace(values.min(), values.max(), levels)
    ax.contour(grid_x, grid_y, values, levels=contour_levels, cmap="viridis", linewidths=0.8)
    ax.set(xlim=xlim, ylim=ylim, xlabel=labels[0], ylabel=labels[1], title=title)
    return ax


def plot_descent_path(
    path: np.ndarray,
    *,
    ax: plt.Axes | None = None,
    label: str | None = None,
    color: str | None = None,
    marker: str | None = "o",
    markersize: float = 3,
    alpha: float = 1.0,
) -> plt.Axes:
    """Draw a path of 2-D parameter values (e.g. from ``descent_path``), start to end.

    The start is drawn as a black square and the last point as a star. Points outside the
    axes' current limits are clipped by Matplotlib, so a diverging path leaves the picture.

    Args:
        path: shape (T, 2), one row per step.
        label, color, marker, markersize, alpha: passed to ``Axes.plot``.

    Returns:
        The ``Axes`` drawn on.

    Taught in: ch02, 02_2_gradient-descent.ipynb
    """
    path = np.asarray(path, dtype=np.float64)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) == 0:
        raise ValueError(f"path must have shape (T, 2) with T >= 1; got {path.shape}")
    ax = ax if ax is not None else plt.subplots(figsize=(4, 3.5))[1]
    limits = (ax.get_xlim(), ax.get_ylim()) if ax.has_data() else None
    (line,) = ax.plot(path[:, 0], path[:, 1], marker=marker, ms=markersize, lw=1.2,
                      color=color, label=label, alpha=alpha)
    ax.plot(*path[0], marker="s", color="black", ms=5)
    ax.plot(*path[-1], marker="*", color=line.get_color(), ms=10)
    if limits is not None:  # keep the contour's view; a diverging path must not rescale it
        ax.set(xlim=limits[0], ylim=limits[1])
    return ax
