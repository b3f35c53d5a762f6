"""course_lib.gradcheck: numerical gradients against exact ones and PyTorch autograd."""

import numpy as np
import pytest
import torch

from course_lib import gradcheck, layers


@pytest.mark.parametrize("shape", [(), (1,), (3, 4), (2, 3, 2)])
def test_numerical_gradient_matches_torch_autograd(rng, shape):
    x = rng.normal(size=shape)
    x_t = torch.tensor(x, requires_grad=True)
    (torch.sin(x_t) * x_t**2).sum().backward()
    numeric = gradcheck.numerical_gradient(lambda v: np.sum(np.sin(v) * v**2), x)
    assert numeric.shape == x.shape
    assert gradcheck.rel_error(numeric, x_t.grad.numpy()) < 1e-8


def test_numerical_gradient_leaves_x_exactly_as_it_was(rng):
    x = rng.normal(size=(4, 3))
    before = x.copy()
    gradcheck.numerical_gradient(lambda v: np.sum(v**3), x)
    assert np.array_equal(x, before)


def test_numerical_gradient_restores_x_when_f_raises(rng):
    x = rng.normal(size=5)
    before = x.copy()

    def failing(v):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        gradcheck.numerical_gradient(failing, x)
    assert np.array_equal(x, before)


def test_numerical_gradient_sees_the_nudge_through_a_closure(rng):
    params = layers.init_two_layer_params(3, 4, 2, seed=0)
    x, y = rng.normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    _, grads = layers.two_layer_loss(params, x, y)
    numeric = gradcheck.numerical_gradient(
        lambda _: layers.two_layer_loss(params, x, y)[0], params["w2"])
    assert gradcheck.rel_error(numeric, grads["w2"]) < 1e-7


def test_centered_differences_are_exact_for_quadratics():
    a = np.array([[2.0, 0.5], [0.5, 1.0]])
    x = np.array([0.3, -0.7])
    numeric = gradcheck.numerical_gradient(lambda v: 0.5 * v @ a @ v, x, h=1e-3)
    np.testing.assert_allclose(numeric, a @ x, rtol=1e-9)


@pytest.mark.parametrize("bad", [np.arange(3), [1.0, 2.0], np.zeros(3, dtype=bool)])
def test_numerical_gradient_rejects_non_float_arrays(bad):
    with pytest.raises(TypeError):
        gradcheck.numerical_gradient(np.sum, bad)


def test_numerical_gradient_rejects_a_bad_step():
    with pytest.raises(ValueError):
        gradcheck.numerical_gradient(np.sum, np.zeros(2), h=0.0)


def test_rel_error_values():
    assert gradcheck.rel_error(np.ones(3), np.ones(3)) == 0.0
    assert gradcheck.rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert gradcheck.rel_error([1.0, 2.0], [1.0, 3.0]) == pytest.approx(1 / 5)
    a, b = np.array([1.0, -2.0]), np.array([1.1, -2.0])
    assert gradcheck.rel_error(a, b) == gradcheck.rel_error(b, a)
    assert gradcheck.rel_error(torch.ones(2), np.ones(2)) == 0.0
    with pytest.raises(ValueError):
        gradcheck.rel_error(np.zeros(2), np.zeros(3))


def test_check_layer_gradients_passes_correct_layers_and_catches_a_bug(rng):
    x, w, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=2)
    copies = [x.copy(), w.copy(), b.copy()]
    errors = gradcheck.check_layer_gradients(layers.affine_forward, layers.affine_backward,
                                             x, w, b)
    assert len(errors) == 3 and max(errors) < 1e-8
    assert all(np.array_equal(a, c) for a, c in zip((x, w, b), copies))

    def backward_forgets_batch_sum(dout, cache):
        dx, dw, _ = layers.affine_backward(dout, cache)
        return dx, dw, dout.mean(axis=0)  # mean instead of sum over the batch

    errors = gradcheck.check_layer_gradients(layers.affine_forward, backward_forgets_batch_sum,
                                             x, w, b)
    assert errors[2] > 0.1


def test_check_layer_gradients_counts_the_gradients():
    with pytest.raises(ValueError, match="gradients"):
        gradcheck.check_layer_gradients(layers.affine_forward, lambda d, c: np.zeros(1),
                                        np.ones((2, 2)), np.ones((2, 2)), np.ones(2))
