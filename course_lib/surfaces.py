"""Two-dimensional test functions for watching optimizers move, and the figures that show them.

Each surface maps points ``xy`` of shape (..., 2) to values of shape (...) and has an
analytic gradient of shape (..., 2):

- ``ILL_CONDITIONED_QUADRATIC``: ``x**2 / 20 + y**2``, a long narrow valley (curvatures 1/10
  and 2, condition number 20); minimum 0 at the origin.
- ``ROSENBROCK``: ``(1 - x)**2 + 100 * (y - x**2)**2``, a curved banana-shaped valley; minimum 0
  at (1, 1).
- ``SADDLE``: ``x**2 + y**4 / 4 - y**2 / 2``, the saddle ``x**2 - y**2 / 2`` near the origin,
  bent up far away (plain ``x**2 - y**2`` has no minimum); two minima -1/4 at (0, +-1).

``run_optimizer`` applies a rule from ``course_lib.optim`` to a surface's gradient and returns
the path; ``plot_trajectories`` draws paths on the contours, ``plot_convergence`` the
loss gap ``f - f_min`` per step on a log scale.

Taught in: ch03, 03_2_trajectories.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np


def ill_conditioned_quadratic(xy: np.ndarray) -> np.ndarray:
    """``x**2 / 20 + y**2`` at points of shape (..., 2); returns shape (...)."""
    x, y = _split(xy)
    return x**2 / 20 + y**2


def ill_conditioned_quadratic_grad(xy: np.ndarray) -> np.ndarray:
    """Gradient ``(x / 10, 2 y)`` of :func:`ill_conditioned_quadratic`, shape (..., 2)."""
    x, y = _split(xy)
    return np.stack([x / 10, 2 * y], axis=-1)


def rosenbrock(xy: np.ndarray) -> np.ndarray:
    """Rosenbrock's function ``(1 - x)**2 + 100 (y - x**2)**2``, shape (..., 2) -> (...)."""
    x, y = _split(xy)
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def rosenbrock_grad(xy: np.ndarray) -> np.ndarray:
    """Gradient of :func:`rosenbrock`, shape (..., 2)."""
    x, y = _split(xy)
    return np.stack([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)], axis=-1)


def saddle(xy: np.ndarray) -> np.ndarray:
    """``x**2 + y**4 / 4 - y**2 / 2``: a saddle at the origin, minima at (0, +-1)."""
    x, y = _split(xy)
    return x**2 + y**4 / 4 - y**2 / 2


def saddle_grad(xy: np.ndarray) -> np.ndarray:
    """Gradient ``(2 x, y**3 - y)`` of :func:`saddle`, shape (..., 2)."""
    x, y = _split(xy)
    return np.stack([2 * x, y**3 - y], axis=-1)


@dataclass(frozen=True)
class Surface:
    """A test function with its gradient, where to look at it, and its lowest value.

    Attributes:
        name: title for figures.
        f: points (..., 2) -> values (...). grad: points (..., 2) -> gradients (..., 2).
        xlim, ylim: the window the figures show.
        minima: the points where ``f`` is lowest. min_value: ``f`` there.
        start: a start point that makes the surface's difficulty visible.
    """

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray], np.ndarray]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    min_value: float
    start: tuple[float, float]


ILL_CONDITIONED_QUADRATIC = Surface(
    "ill-conditioned quadratic", ill_conditioned_quadratic, ill_conditioned_quadratic_grad,
    xlim=(-8.0, 8.0), ylim=(-3.0, 3.0), minima=((0.0, 0.0),), min_value=0.0, start=(-7.0, 2.0),
)
ROSENBROCK = Surface(
    "Rosenbrock", rosenbrock, rosenbrock_grad,
    xlim=(-2.0, 2.0), ylim=(-1.0, 3.0), minima=((1.0, 1.0),), min_value=0.0, start=(-1.5, 2.0),
)
SADDLE = Surface(
    "saddle", saddle, saddle_grad,
    xlim=(-2.0, 2.0), ylim=(-1.6, 1.6), minima=((0.0, -1.0), (0.0, 1.0)), min_value=-0.25,
    start=(-1.8, 1e-3),
)
SURFACES = (ILL_CONDITIONED_QUADRATIC, ROSENBROCK, SADDLE)


def run_optimizer(
    rule: Callable, start, grad_fn: Callable[[np.ndarray], np.ndarray], num_steps: int,
    **hyper,
) -> np.ndarray:
    """Follow ``rule`` (e.g. ``course_lib.optim.adam``) from ``start`` for ``num_steps`` steps.

    Args:
        rule: an update rule ``rule(w, dw, state, **hyper) -> (w_next, state)``.
        start: the first point, shape (2,) (any shape works; the path gets it as trailing dims).
        grad_fn: point -> gradient of the same shape, e.g. ``ROSENBROCK.grad``.
        num_steps: number of updates, >= 0.
        **hyper: the rule's keyword arguments (``lr=...``, ``beta=...``).

    Returns:
        The path, shape (num_steps + 1, 2): row 0 is ``start``, row k the point after k steps.
        If a step overflows (a learning rate too large), the rows from there on are NaN.
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)):
        raise TypeError(f"num_steps must be an int, got {type(num_steps).__name__}")
    if num_steps < 0:
        raise ValueError(f"num_steps must be >= 0, got {num_steps}")
    w = np.array(start, dtype=np.float64)
    path = np.full((num_steps + 1, *w.shape), np.nan)
    path[0] = w
    state = None
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(1, num_steps + 1):
            w, state = rule(w, grad_fn(w), state, **hyper)
            if not np.all(np.isfinite(w)):
                break
            path[step] = w
    return path


def plot_trajectories(
    surface: Surface, trajectories: Mapping[str, np.ndarray], ax: plt.Axes | None = None, *,
    num_levels: int = 20, marker_every: int = 1,
) -> plt.Axes:
    """Draw optimizer paths on the contour lines of a surface.

    Args:
        surface: one of this module's surfaces (or any ``Surface``).
        trajectories: ``{"label": path}`` with paths of shape (num_steps + 1, 2).
        num_levels: number of contour lines, spaced evenly in ``log(f - f_min)``.
        marker_every: put a dot on every this many points of each path.

    Returns:
        The ``Axes`` drawn on.
    """
    ax = ax if ax is not None else plt.subplots(figsize=(5, 4))[1]
    grid_x, grid_y = np.meshgrid(np.linspace(*surface.xlim, 300), np.linspace(*surface.ylim, 300))
    gap = surface.f(np.stack([grid_x, grid_y], axis=-1)) - surface.min_value  # (300, 300)
    levels = np.geomspace(max(gap.max() * 1e-6, 1e-3), gap.max(), num_levels)
    ax.contour(grid_x, grid_y, gap, levels=levels, colors="gray", linewidths=0.6, alpha=0.7)
    for label, path in trajectories.items():
        path = np.asarray(path)
        if path.ndim != 2 or path.shape[1] != 2:
            raise ValueError(f"trajectory {label!r} must have shape (num_steps + 1, 2), got "
                             f"{path.shape}")
        ax.plot(path[:, 0], path[:, 1], "-o", lw=1.2, ms=2, markevery=marker_every, label=label)
    ax.plot(*np.transpose(surface.minima), "k*", ms=12, label="minimum")
    ax.set(xlim=surface.xlim, ylim=surface.ylim, xlabel="$x$", ylabel="$y$", title=surface.name)
    ax.legend(fontsize=7, loc="best")
    return ax


def plot_convergence(
    surface: Surface, trajectories: Mapping[str, np.ndarray], ax: plt.Axes | None = None,
) -> plt.Axes:
    """Loss gap ``f(path) - f_min`` against the step number, log scale, one line per path.

    Args:
        surface: the surface the paths were computed on.
        trajectories: ``{"label": path}`` with paths of shape (num_steps + 1, 2).

    Returns:
        The ``Axes`` drawn on.
    """
    ax = ax if ax is not None else plt.subplots(figsize=(5, 3.5))[1]
    for label, path in trajectories.items():
        gap = surface.f(np.asarray(path)) - surface.min_value  # (num_steps + 1,)
        ax.semilogy(np.arange(len(gap)), np.maximum(gap, 1e-16), lw=1.2, label=label)
    ax.set(xlabel="step", ylabel="$f - f_{min}$", title=f"{surface.name}: convergence")
    ax.legend(fontsize=7, loc="best")
    return ax


def _split(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xy = np.asarray(xy, dtype=np.float64)
    if xy.shape[-1:] != (2,):
        raise ValueError(f"points must have shape (..., 2), got {xy.shape}")
    return xy[..., 0], xy[..., 1]
