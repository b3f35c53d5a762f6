"""course_lib.surfaces: analytic gradients, minima, run_optimizer paths and the two figures."""

import dataclasses
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_lib import optim
from course_lib.surfaces import (
    ILL_CONDITIONED_QUADRATIC, ROSENBROCK, SADDLE, SURFACES, plot_convergence, plot_trajectories,
    run_optimizer,
)


def _numeric_gradient(f, xy, h=1e-6):
    gradient = np.zeros_like(xy)
    for k in range(2):
        step = np.zeros(2)
        step[k] = h
        gradient[..., k] = (f(xy + step) - f(xy - step)) / (2 * h)
    return gradient


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_gradient_matches_central_differences(surface, rng):
    points = rng.uniform(-2, 2, size=(7, 2))
    numeric = _numeric_gradient(surface.f, points)
    assert np.allclose(surface.grad(points), numeric, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_functions_broadcast_over_leading_dimensions(surface, rng):
    points = rng.normal(size=(3, 4, 2))
    assert surface.f(points).shape == (3, 4)
    assert surface.grad(points).shape == (3, 4, 2)
    assert surface.grad(points[0, 0]).shape == (2,)


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_minima_are_stationary_and_lowest(surface, rng):
    minima = np.array(surface.minima)
    assert np.allclose(surface.f(minima), surface.min_value)
    assert np.allclose(surface.grad(minima), 0.0)
    grid = rng.uniform([surface.xlim[0], surface.ylim[0]], [surface.xlim[1], surface.ylim[1]],
                       size=(2000, 2))
    assert np.all(surface.f(grid) >= surface.min_value - 1e-12)


def test_saddle_is_a_saddle_at_the_origin():
    origin = np.zeros(2)
    assert np.allclose(SADDLE.grad(origin), 0.0)
    assert SADDLE.f(np.array([0.1, 0.0])) > SADDLE.f(origin) > SADDLE.f(np.array([0.0, 0.1]))


def test_run_optimizer_returns_start_then_one_row_per_step():
    path = run_optimizer(optim.sgd, (1.0, 2.0), ILL_CONDITIONED_QUADRATIC.grad, 5, lr=0.1)
    assert path.shape == (6, 2)
    assert np.array_equal(path[0], [1.0, 2.0])
    # one hand-computed SGD step: grad = (x / 10, 2 y)
    assert np.allclose(path[1], [1.0 - 0.1 * 0.1, 2.0 - 0.1 * 4.0])


def test_run_optimizer_with_zero_steps_and_state_rules():
    assert run_optimizer(optim.adam, (0.5, 0.5), ROSENBROCK.grad, 0, lr=0.1).shape == (1, 2)
    path = run_optimizer(optim.adam, ROSENBROCK.start, ROSENBROCK.grad, 3000, lr=0.05)
    assert np.allclose(path[-1], [1.0, 1.0], atol=1e-3)


def test_run_optimizer_does_not_mutate_start():
    start = np.array([-7.0, 2.0])
    run_optimizer(optim.momentum, start, ILL_CONDITIONED_QUADRATIC.grad, 10, lr=0.1)
    assert np.array_equal(start, [-7.0, 2.0])


def test_run_optimizer_fills_diverged_rows_with_nan_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = run_optimizer(optim.sgd, ROSENBROCK.start, ROSENBROCK.grad, 200, lr=0.1)
    assert path.shape == (201, 2)
    assert np.isnan(path[-1]).all() and np.isfinite(path[0]).all()


@pytest.mark.parametrize("num_steps", [-1, 2.5, True])
def test_run_optimizer_rejects_bad_num_steps(num_steps):
    with pytest.raises((TypeError, ValueError), match="num_steps"):
        run_optimizer(optim.sgd, (0.0, 0.0), SADDLE.grad, num_steps, lr=0.1)


def test_functions_reject_points_without_two_coordinates():
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        ROSENBROCK.f(np.zeros((4, 3)))


def test_surfaces_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ROSENBROCK.min_value = 1.0


def test_plot_trajectories_draws_one_line_per_path_plus_minimum():
    paths = {
        "sgd": run_optimizer(optim.sgd, SADDLE.start, SADDLE.grad, 20, lr=0.1),
        "adam": run_optimizer(optim.adam, SADDLE.start, SADDLE.grad, 20, lr=0.1),
    }
    ax = plot_trajectories(SADDLE, paths)
    assert isinstance(ax, plt.Axes)
    assert len(ax.get_lines()) == 3  # two paths and the minima marker
    assert ax.get_xlim() == SADDLE.xlim
    with pytest.raises(ValueError, match="shape"):
        plot_trajectories(SADDLE, {"bad": np.zeros((5, 3))})


def test_plot_convergence_uses_a_log_axis_on_a_given_axes():
    fig, ax = plt.subplots()
    path = run_optimizer(optim.sgd, (-7.0, 2.0), ILL_CONDITIONED_QUADRATIC.grad, 30, lr=0.5)
    assert plot_convergence(ILL_CONDITIONED_QUADRATIC, {"sgd": path}, ax=ax) is ax
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == 1
