"""Tests of course_lib.activations against PyTorch and SciPy oracles.

Every function is compared on random arrays of several shapes, at extreme inputs (±1000) with
numpy warnings turned into errors, and for shape, dtype and input preservation. Derivatives are
compared with PyTorch's autograd.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import special

from course_lib import activations

torch = pytest.importorskip("torch")

SHAPES = [(), (1,), (7,), (3, 4), (2, 3, 5)]
EXTREMES = np.array([-1000.0, -50.0, -1.0, -1e-12, 0.0, 1e-12, 1.0, 50.0, 1000.0])
ELEMENTWISE = {
    "step": activations.step,
    "sigmoid": activations.sigmoid,
    "sigmoid_grad": activations.sigmoid_grad,
    "tanh": activations.tanh,
    "tanh_grad": activations.tanh_grad,
    "relu": activations.relu,
    "relu_grad": activations.relu_grad,
}
# name: (course_lib function, course_lib derivative, PyTorch function)
WITH_DERIVATIVES = {
    "sigmoid": (activations.sigmoid, activations.sigmoid_grad, torch.sigmoid),
    "tanh": (activations.tanh, activations.tanh_grad, torch.tanh),
    "relu": (activations.relu, activations.relu_grad, torch.relu),
}


def _random(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 5.0) -> np.ndarray:
    return rng.normal(scale=scale, size=shape)


def _torch_value_and_grad(torch_fn, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's value and autograd derivative of an elementwise function, in float64."""
    z_t = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    out = torch_fn(z_t)
    (grad,) = torch.autograd.grad(out.sum(), z_t)
    return out.detach().numpy(), grad.numpy()


def _no_warnings(function, *args, **kwargs):
    """Call ``function`` with overflow, invalid and divide-by-zero errors and any warning raised.

    Underflow (``exp(-1000)`` rounding to 0.0) is the correct result, and numpy never warns
    about it by default, so it stays allowed.
    """
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise",
                                                under="ignore"):
        warnings.simplefilter("error")
        return function(*args, **kwargs)


# --- step -------------------------------------------------------------------------------------


def test_step_is_one_at_and_above_zero_and_zero_below():
    got = activations.step(np.array([-2.0, -1e-300, 0.0, 1e-300, 3.0]))
    np.testing.assert_array_equal(got, [0.0, 0.0, 1.0, 1.0, 1.0])


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_step_matches_numpy_heaviside_with_one_at_zero(rng, shape):
    z = np.array(_random(rng, shape))
    z.flat[0] = 0.0  # make sure z = 0 is covered
    np.testing.assert_array_equal(activations.step(z), np.heaviside(z, 1.0))


# --- sigmoid, tanh, relu against PyTorch / SciPy ----------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sigmoid_matches_scipy_expit_on_random_arrays(rng, shape):
    z = _random(rng, shape)
    np.testing.assert_allclose(activations.sigmoid(z), special.expit(z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(WITH_DERIVATIVES))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_activation_matches_pytorch_on_random_arrays(rng, name, shape):
    ours, _, torch_fn = WITH_DERIVATIVES[name]
    z = _random(rng, shape)
    want, _ = _torch_value_and_grad(torch_fn, z)
    np.testing.assert_allclose(ours(z), want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(WITH_DERIVATIVES))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_derivative_matches_pytorch_autograd_on_random_arrays(rng, name, shape):
    _, ours_grad, torch_fn = WITH_DERIVATIVES[name]
    z = _random(rng, shape)
    _, want = _torch_value_and_grad(torch_fn, z)
    np.testing.assert_allclose(ours_grad(z), want, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("name", sorted(WITH_DERIVATIVES))
def test_value_and_derivative_match_pytorch_at_extremes_and_zero(name):
    ours, ours_grad, torch_fn = WITH_DERIVATIVES[name]
    want_value, want_grad = _torch_value_and_grad(torch_fn, EXTREMES)
    np.testing.assert_allclose(_no_warnings(ours, EXTREMES), want_value, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(_no_warnings(ours_grad, EXTREMES), want_grad, rtol=1e-10, atol=1e-15)


def test_sigmoid_saturates_to_exact_limits_without_warnings():
    got = _no_warnings(activations.sigmoid, np.array([-1000.0, 1000.0]))
    np.testing.assert_array_equal(got, [0.0, 1.0])
    assert np.all(np.isfinite(_no_warnings(activations.sigmoid_grad, np.array([-1000.0, 1000.0]))))


def test_tanh_is_two_sigmoid_of_two_z_minus_one(rng):
    z = _random(rng, (50,))
    np.testing.assert_allclose(activations.tanh(z), 2 * activations.sigmoid(2 * z) - 1, atol=1e-12)


def test_derivatives_peak_at_zero_with_known_values():
    z = np.linspace(-10, 10, 2001)  # includes 0
    assert activations.sigmoid_grad(z).max() == pytest.approx(0.25)
    assert activations.tanh_grad(z).max() == pytest.approx(1.0)
    assert z[np.argmax(activations.sigmoid_grad(z))] == pytest.approx(0.0)


def test_relu_derivative_is_zero_at_zero_like_pytorch():
    _, want = _torch_value_and_grad(torch.relu, np.array([0.0]))
    assert activations.relu_grad(np.array([0.0]))[0] == want[0] == 0.0


# --- softmax ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, axis", [((5,), -1), ((4, 3), -1), ((4, 3), 0), ((2, 3, 5), 1),
                                         ((2, 3, 5), -1), ((1, 6), -1)], ids=str)
def test_softmax_matches_scipy_and_pytorch_along_the_given_axis(rng, shape, axis):
    z = _random(rng, shape)
    got = activations.softmax(z, axis=axis)
    np.testing.assert_allclose(got, special.softmax(z, axis=axis), rtol=1e-12, atol=1e-15)
    want = torch.softmax(torch.tensor(z, dtype=torch.float64), dim=axis).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_softmax_is_finite_and_sums_to_one_at_extremes_without_warnings():
    z = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0], [-1000.0, -1000.0, -1000.0]])
    got = _no_warnings(activations.softmax, z)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(got, special.softmax(z, axis=-1), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(got[1], [0.0, 0.0, 1.0], atol=1e-300)
    np.testing.assert_allclose(got[2], [1 / 3] * 3, rtol=1e-12)


def test_softmax_is_unchanged_by_adding_a_constant(rng):
    z = _random(rng, (4, 6))
    np.testing.assert_allclose(activations.softmax(z + 500.0), activations.softmax(z), atol=1e-12)


def test_two_class_softmax_equals_sigmoid_of_the_difference(rng):
    z = _random(rng, (10, 2))
    np.testing.assert_allclose(activations.softmax(z)[:, 0], activations.sigmoid(z[:, 0] - z[:, 1]),
                               atol=1e-12)


def test_softmax_default_axis_is_the_last(rng):
    z = _random(rng, (3, 4))
    np.testing.assert_allclose(activations.softmax(z), activations.softmax(z, axis=-1))
    assert not np.allclose(activations.softmax(z), activations.softmax(z, axis=0))


# --- shapes, dtypes, inputs -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_elementwise_functions_keep_the_shape_and_return_float64(rng, name, shape):
    got = np.asarray(ELEMENTWISE[name](_random(rng, shape)))
    assert got.shape == shape
    assert got.dtype == np.float64


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 4), (2, 3, 5)], ids=str)
def test_softmax_keeps_the_shape_and_returns_float64(rng, shape):
    got = activations.softmax(_random(rng, shape))
    assert got.shape == shape and got.dtype == np.float64


@pytest.mark.parametrize("name", sorted(ELEMENTWISE) + ["softmax"])
def test_functions_do_not_modify_their_input(rng, name):
    function = getattr(activations, name)
    z = _random(rng, (4, 5))
    original = z.copy()
    function(z)
    np.testing.assert_array_equal(z, original)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE) + ["softmax"])
def test_functions_accept_lists_and_integer_arrays(name):
    function = getattr(activations, name)
    from_list = function([-2, 0, 3])
    from_float = function(np.array([-2.0, 0.0, 3.0]))
    np.testing.assert_allclose(np.asarray(from_list, dtype=float), from_float)
    np.testing.assert_allclose(function(np.array([-2, 0, 3], dtype=np.int64)), from_float)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "step"])
def test_float32_input_gives_the_same_values_as_float64(rng, name):
    function = getattr(activations, name)
    z = _random(rng, (20,)).astype(np.float32)
    np.testing.assert_allclose(function(z), function(z.astype(np.float64)), rtol=1e-12)
