"""course_lib.regularization against torch.nn.Dropout, torch.nn.BatchNorm1d and numeric gradients."""

import numpy as np
import pytest
import torch

from course_lib import regularization as reg
from course_lib.checks import check_no_mutation
from course_lib.gradcheck import numerical_gradient, rel_error

TOL = 1e-5  # the chapter's numpy-vs-PyTorch agreement target (float64 here agrees far better)


# ---------------------------------------------------------------- dropout
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_scales_survivors_like_torch_dropout(rng, p):
    x = rng.normal(size=(200, 50)) + 3.0  # no exact zeros in x
    out, (mask,) = check_no_mutation(
        lambda x: reg.dropout_forward(x, p=p, training=True, rng=np.random.default_rng(1)), x)
    torch.manual_seed(0)
    want = torch.nn.Dropout(p).train()(torch.tensor(x)).numpy()
    # Masks are random in both, but the survivors' values must be x / (1 - p) in both.
    for got in (out, want):
        kept = got != 0
        np.testing.assert_allclose(got[kept], x[kept] / (1 - p), rtol=1e-12)
    assert abs((out == 0).mean() - p) < 0.02
    assert abs(out.mean() - x.mean()) < 0.1  # E[out] = x: inverted scaling


def test_dropout_is_identity_in_eval_mode_like_torch(rng):
    x = rng.normal(size=(4, 6))
    out, cache = reg.dropout_forward(x, p=0.5, training=False)
    np.testing.assert_array_equal(out, torch.nn.Dropout(0.5).eval()(torch.tensor(x)).numpy())
    np.testing.assert_array_equal(reg.dropout_backward(np.ones_like(x), cache), np.ones_like(x))


def test_dropout_backward_reuses_the_forward_mask_and_matches_autograd(rng):
    x, dout = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    out, cache = reg.dropout_forward(x, p=0.3, training=True, rng=np.random.default_rng(3))
    dx = check_no_mutation(reg.dropout_backward, dout, cache)
    (mask,) = cache
    x_t = torch.tensor(x, requires_grad=True)
    (x_t * torch.tensor(mask)).backward(torch.tensor(dout))
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(out, x * mask, rtol=1e-12)
    numeric = numerical_gradient(lambda z: np.sum(z * mask * dout), x.copy())
    assert rel_error(dx, numeric) < 1e-7


def test_dropout_edge_cases(rng):
    x = rng.normal(size=(3, 4))
    np.testing.assert_array_equal(reg.dropout_forward(x, p=1.0, training=True)[0], 0 * x)
    np.testing.assert_array_equal(reg.dropout_forward(x, p=0.0, training=True)[0], x)
    assert reg.dropout_forward(x.astype(np.float32), p=0.5, training=True,
                               rng=np.random.default_rng(0))[0].dtype == np.float32
    with pytest.raises(ValueError):
        reg.dropout_forward(x, p=1.5, training=True, rng=rng)
    with pytest.raises(TypeError):
        reg.dropout_forward(x, p=0.5, training=True, rng=None)


# ---------------------------------------------------------------- batch norm
def _torch_bn(x, gamma, beta, *, momentum=0.1, eps=1e-5):
    layer = torch.nn.BatchNorm1d(x.shape[1], momentum=momentum, eps=eps).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(gamma))
        layer.bias.copy_(torch.tensor(beta))
    return layer


@pytest.mark.parametrize("shape", [(2, 1), (8, 3), (5, 7), (6, 4, 3)])
def test_batchnorm_train_forward_backward_and_running_stats_match_torch(rng, shape):
    channels = shape[1]
    gamma, beta = rng.normal(size=channels), rng.normal(size=channels)
    layer = _torch_bn(np.zeros(shape), gamma, beta, momentum=0.2).train()
    running_mean, running_var = np.zeros(channels), np.ones(channels)
    for step in range(3):  # several steps: the running averages compound
        x = rng.normal(loc=step, scale=2.0, size=shape)
        dout = rng.normal(size=shape)
        out, cache, running_mean, running_var = check_no_mutation(
            lambda x, g, b, rm, rv: reg.batchnorm_forward(
                x, g, b, training=True, running_mean=rm, running_var=rv, momentum=0.2),
            x, gamma, beta, running_mean, running_var)
        dx, dgamma, dbeta = check_no_mutation(reg.batchnorm_backward, dout, cache)
        x_t = torch.tensor(x, requires_grad=True)
        layer.zero_grad()
        out_t = layer(x_t)
        out_t.backward(torch.tensor(dout))
        np.testing.assert_allclose(out, out_t.detach().numpy(), atol=TOL)
        np.testing.assert_allclose(running_mean, layer.running_mean.numpy(), atol=TOL)
        np.testing.assert_allclose(running_var, layer.running_var.numpy(), atol=TOL)
        np.testing.assert_allclose(dx, x_t.grad.numpy(), atol=TOL)
        np.testing.assert_allclose(dgamma, layer.weight.grad.numpy(), atol=TOL)
        np.testing.assert_allclose(dbeta, layer.bias.grad.numpy(), atol=TOL)


@pytest.mark.parametrize("n", [1, 6])
def test_batchnorm_eval_uses_running_stats_like_torch(rng, n):
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    running_mean, running_var = rng.normal(size=4), rng.uniform(0.5, 2.0, size=4)
    layer = _torch_bn(np.zeros((n, 4)), gamma, beta).eval()
    layer.running_mean.copy_(torch.tensor(running_mean))
    layer.running_var.copy_(torch.tensor(running_var))
    x, dout = rng.normal(size=(n, 4)), rng.normal(size=(n, 4))
    out, cache, new_mean, new_var = reg.batchnorm_forward(
        x, gamma, beta, training=False, running_mean=running_mean, running_var=running_var)
    dx, dgamma, dbeta = reg.batchnorm_backward(dout, cache)
    x_t = torch.tensor(x, requires_grad=True)
    out_t = layer(x_t)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=TOL)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), atol=TOL)
    np.testing.assert_allclose(dgamma, layer.weight.grad.numpy(), atol=TOL)
    np.testing.assert_array_equal(new_mean, running_mean)
    np.testing.assert_array_equal(new_var, running_var)
    assert new_mean is not running_mean


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_backward_matches_numeric_gradients(rng, training):
    x, gamma, beta = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=3)
    stats = dict(running_mean=rng.normal(size=3), running_var=rng.uniform(0.5, 2, size=3))
    dout = rng.normal(size=(5, 3))

    def loss(_):
        return np.sum(reg.batchnorm_forward(x, gamma, beta, training=training, **stats)[0] * dout)

    _, cache, _, _ = reg.batchnorm_forward(x, gamma, beta, training=training, **stats)
    grads = reg.batchnorm_backward(dout, cache)
    for value, grad in zip((x, gamma, beta), grads):
        assert rel_error(grad, numerical_gradient(loss, value)) < 1e-6


def test_batchnorm_defaults_and_errors(rng):
    x = rng.normal(size=(4, 2))
    out, _, mean, var = reg.batchnorm_forward(x, np.ones(2), np.zeros(2), training=False,
                                              running_mean=None, running_var=None)
    np.testing.assert_allclose(out, x / np.sqrt(1 + 1e-5))
    with pytest.raises(ValueError):
        reg.batchnorm_forward(x[:1], np.ones(2), np.zeros(2), training=True,
                              running_mean=None, running_var=None)
    with pytest.raises(ValueError):
        reg.batchnorm_forward(x, np.ones(3), np.zeros(3), training=True,
                              running_mean=None, running_var=None)


# ---------------------------------------------------------------- penalties
def test_penalties_values_and_gradients_match_autograd(rng):
    w = rng.normal(size=(4, 3))
    for penalty, torch_fn in [(reg.l1_penalty, lambda t: 0.3 * t.abs().sum()),
                              (reg.l2_penalty, lambda t: 0.15 * (t ** 2).sum())]:
        value, grad = check_no_mutation(lambda w: penalty(w, lam=0.3), w)
        w_t = torch.tensor(w, requires_grad=True)
        want = torch_fn(w_t)
        want.backward()
        assert isinstance(value, float)
        np.testing.assert_allclose(value, want.item(), rtol=1e-12)
        np.testing.assert_allclose(grad, w_t.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError):
        reg.l2_penalty(w, lam=-1.0)


def test_l2_gradient_step_equals_torch_sgd_weight_decay(rng):
    w = rng.normal(size=5)
    _, grad = reg.l2_penalty(w, lam=0.1)
    param = torch.nn.Parameter(torch.tensor(w))
    optimizer = torch.optim.SGD([param], lr=0.5, weight_decay=0.1)
    param.grad = torch.zeros_like(param)
    optimizer.step()
    np.testing.assert_allclose(w - 0.5 * grad, param.detach().numpy(), rtol=1e-12)
