"""course_lib.landscape: descent paths and contour plots of two-parameter losses."""

import numpy as np
import pytest
from matplotlib import pyplot as plt

from course_lib import landscape

CURVATURE = np.array([1.0, 10.0])  # loss = 0.5 * sum(CURVATURE * theta**2)


def _grad(theta):
    return CURVATURE * theta


def _loss(theta):
    return 0.5 * np.sum(CURVATURE * theta**2)


def test_descent_path_matches_the_closed_form_on_a_quadratic():
    start = np.array([1.0, 1.0])
    path = landscape.descent_path(_grad, start, lr=0.05, num_steps=10)
    steps = np.arange(11)[:, None]
    np.testing.assert_allclose(path, start * (1 - 0.05 * CURVATURE) ** steps)
    assert np.array_equal(start, [1.0, 1.0])  # the start is not modified


def test_descent_path_stops_when_it_diverges():
    path = landscape.descent_path(_grad, [1.0, 1.0], lr=0.5, num_steps=1000, max_norm=1e3)
    assert len(path) < 1000 and np.linalg.norm(path[-1]) > 1e3
    assert np.all(np.isfinite(path))


@pytest.mark.parametrize("kwargs", [dict(lr=0.0, num_steps=3), dict(lr=0.1, num_steps=-1),
                                    dict(lr=0.1, num_steps=2.5)])
def test_descent_path_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        landscape.descent_path(_grad, [1.0, 1.0], **kwargs)


def test_descent_path_checks_the_gradient_shape():
    with pytest.raises(ValueError, match="shape"):
        landscape.descent_path(lambda t: np.zeros(3), [1.0, 1.0], lr=0.1, num_steps=1)


def test_loss_grid_evaluates_every_point():
    grid_x, grid_y, values = landscape.loss_grid(_loss, (-1, 1), (-2, 2), resolution=5)
    assert grid_x.shape == grid_y.shape == values.shape == (5, 5)
    np.testing.assert_allclose(values, 0.5 * (grid_x**2 + 10 * grid_y**2))
    with pytest.raises(ValueError):
        landscape.loss_grid(_loss, (1, -1), (-2, 2))


def test_contour_and_path_keep_the_contour_view():
    ax = landscape.plot_loss_contour(_loss, xlim=(-1, 1), ylim=(-1, 1), resolution=20)
    assert ax.collections, "no contour drawn"
    path = landscape.descent_path(_grad, [0.9, 0.9], lr=0.25, num_steps=5)  # diverges in y
    landscape.plot_descent_path(path, ax=ax, label="gd")
    assert ax.get_xlim() == (-1, 1) and ax.get_ylim() == (-1, 1)
    np.testing.assert_allclose(ax.lines[0].get_xydata(), path)
    assert [line.get_label() for line in ax.lines][0] == "gd"


def test_plot_descent_path_rejects_bad_shapes():
    with pytest.raises(ValueError):
        landscape.plot_descent_path(np.zeros((3, 3)))
    plt.close("all")
