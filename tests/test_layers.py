"""course_lib.layers against PyTorch autograd (float64) and numerical gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import layers
from course_lib.checks import check_no_mutation
from course_lib.gradcheck import check_layer_gradients

SHAPES = [(1, 1, 1), (2, 3, 4), (5, 7, 3)]  # (N, D, M): batch of one, non-square, ...


def _torch_grads(function, *arrays, dout):
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out = function(*tensors)
    out.backward(torch.tensor(dout, dtype=torch.float64))
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


@pytest.mark.parametrize("n, d, m", SHAPES)
def test_affine_forward_and_backward_match_torch_autograd(rng, n, d, m):
    x, w, b = rng.normal(size=(n, d)), rng.normal(size=(d, m)), rng.normal(size=m)
    dout = rng.normal(size=(n, m))
    out, cache = check_no_mutation(layers.affine_forward, x, w, b)
    grads = check_no_mutation(layers.affine_backward, dout, cache)
    want_out, want_grads = _torch_grads(lambda x, w, b: x @ w + b, x, w, b, dout=dout)
    np.testing.assert_allclose(out, want_out, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, want_grads):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_affine_flattens_each_sample_and_returns_dx_in_the_input_shape(rng):
    x, w, b = rng.normal(size=(3, 2, 4)), rng.normal(size=(8, 5)), rng.normal(size=5)
    out, cache = layers.affine_forward(x, w, b)
    np.testing.assert_allclose(out, x.reshape(3, 8) @ w + b)
    dx, dw, db = layers.affine_backward(np.ones((3, 5)), cache)
    assert (dx.shape, dw.shape, db.shape) == ((3, 2, 4), (8, 5), (5,))


@pytest.mark.parametrize("bad", [((2, 3), (4, 5), (5,)), ((2, 3), (3, 5), (3,)), ((3,), (3, 2), (2,))])
def test_affine_forward_rejects_mismatched_shapes(bad):
    with pytest.raises(ValueError):
        layers.affine_forward(*(np.zeros(shape) for shape in bad))


@pytest.mark.parametrize("name, torch_fn", [("relu", torch.relu), ("sigmoid", torch.sigmoid)])
@pytest.mark.parametrize("shape", [(1, 1), (4, 3), (2, 3, 5)])
def test_activation_pairs_match_torch_autograd(rng, name, torch_fn, shape):
    forward, backward = getattr(layers, f"{name}_forward"), getattr(layers, f"{name}_backward")
    x = rng.normal(scale=3.0, size=shape)
    x.flat[0] = 0.0  # the kink of ReLU: derivative taken as 0, as in torch
    dout = rng.normal(size=shape)
    out, cache = check_no_mutation(forward, x)
    dx = check_no_mutation(backward, dout, cache)
    want_out, (want_dx,) = _torch_grads(torch_fn, x, dout=dout)
    np.testing.assert_allclose(out, want_out, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-12, atol=1e-15)


def test_sigmoid_is_stable_and_keeps_float32(rng):
    x = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        out, cache = layers.sigmoid_forward(x)
        dx = layers.sigmoid_backward(np.ones_like(x), cache)
    np.testing.assert_allclose(out, torch.sigmoid(torch.tensor(x)).numpy(), rtol=1e-12, atol=0)
    assert dx[0, 2] == 0.25 and dx[0, 0] == 0.0
    assert layers.sigmoid_forward(x.astype(np.float32))[0].dtype == np.float32


@pytest.mark.parametrize("n, k", [(1, 2), (4, 3), (7, 10)])
@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_softmax_cross_entropy_matches_torch_cross_entropy(rng, n, k, scale):
    logits = rng.normal(scale=scale, size=(n, k))
    y = rng.integers(0, k, size=n)
    loss, dlogits = check_no_mutation(layers.softmax_cross_entropy, logits, y)
    logits_t = torch.tensor(logits, requires_grad=True)
    want = F.cross_entropy(logits_t, torch.tensor(y))
    want.backward()
    assert isinstance(loss, float) and np.isfinite(loss)
    np.testing.assert_allclose(loss, want.item(), rtol=1e-12)
    np.testing.assert_allclose(dlogits, logits_t.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_softmax_cross_entropy_gradient_is_softmax_minus_onehot_over_n(rng):
    logits, y = rng.normal(size=(5, 4)), np.array([0, 3, 1, 1, 2])
    _, dlogits = layers.softmax_cross_entropy(logits, y)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(dlogits, (softmax - np.eye(4)[y]) / 5, rtol=1e-12)
    np.testing.assert_allclose(dlogits.sum(axis=1), 0.0, atol=1e-15)


@pytest.mark.parametrize("logits, y, error", [
    (np.zeros((3, 4)), np.array([0.0, 1.0, 2.0]), TypeError),   # float labels
    (np.zeros((3, 4)), np.eye(4)[:3].astype(int), ValueError),  # one-hot labels
    (np.zeros((3, 4)), np.array([0, 1, 4]), ValueError),        # label out of range
    (np.zeros((3, 4)), np.array([0, -1, 2]), ValueError),
    (np.zeros(4), np.array([0]), ValueError),                   # logits without a batch axis
])
def test_softmax_cross_entropy_rejects_bad_labels(logits, y, error):
    with pytest.raises(error):
        layers.softmax_cross_entropy(logits, y)


def test_log_softmax_is_finite_where_the_naive_formula_is_not():
    logits = np.array([[1000.0, 0.0, -1000.0]])
    np.testing.assert_allclose(layers.log_softmax(logits), [[0.0, -1000.0, -2000.0]])


@pytest.mark.parametrize("shape", [(1,), (6,), (4, 3)])
def test_mse_loss_matches_torch(rng, shape):
    y_hat, y = rng.normal(size=shape), rng.normal(size=shape)
    loss, dy_hat = check_no_mutation(layers.mse_loss, y_hat, y)
    y_hat_t = torch.tensor(y_hat, requires_grad=True)
    want = F.mse_loss(y_hat_t, torch.tensor(y))
    want.backward()
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, want.item(), rtol=1e-12)
    np.testing.assert_allclose(dy_hat, y_hat_t.grad.numpy(), rtol=1e-12)


def test_mse_loss_refuses_shapes_that_would_broadcast():
    with pytest.raises(ValueError, match="same shape"):
        layers.mse_loss(np.zeros((4, 1)), np.zeros(4))


@pytest.mark.parametrize("forward, backward, shapes", [
    (layers.affine_forward, layers.affine_backward, [(3, 4), (4, 2), (2,)]),
    (layers.relu_forward, layers.relu_backward, [(3, 5)]),
    (layers.sigmoid_forward, layers.sigmoid_backward, [(3, 5)]),
])
def test_every_layer_passes_a_numerical_gradient_check(rng, forward, backward, shapes):
    inputs = [rng.normal(size=shape) for shape in shapes]
    assert max(check_layer_gradients(forward, backward, *inputs)) < 1e-7


def test_two_layer_loss_matches_torch_autograd(rng):
    params = layers.init_two_layer_params(6, 5, 4, seed=1)
    x, y = rng.normal(size=(8, 6)), rng.integers(0, 4, size=8)
    loss, grads = layers.two_layer_loss(params, x, y)
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    logits = torch.relu(torch.tensor(x) @ tensors["w1"] + tensors["b1"]) @ tensors["w2"] \
        + tensors["b2"]
    want = F.cross_entropy(logits, torch.tensor(y))
    want.backward()
    np.testing.assert_allclose(loss, want.item(), rtol=1e-12)
    assert sorted(grads) == sorted(params)
    for key, tensor in tensors.items():
        np.testing.assert_allclose(grads[key], tensor.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_init_two_layer_params_shapes_scale_and_seed():
    params = layers.init_two_layer_params(200, 300, 10, seed=0)
    assert {k: v.shape for k, v in params.items()} == {
        "w1": (200, 300), "b1": (300,), "w2": (300, 10), "b2": (10,)}
    assert abs(params["w1"].std() - np.sqrt(2 / 200)) < 0.005
    assert not params["b1"].any()
    again = layers.init_two_layer_params(200, 300, 10, seed=0)
    assert all(np.array_equal(params[k], again[k]) for k in params)
    with pytest.raises(ValueError):
        layers.init_two_layer_params(0, 3, 2)
