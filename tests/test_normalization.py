"""course_lib.normalization against torch.nn.LayerNorm / GroupNorm / InstanceNorm2d, Keras's
LayerNormalization / GroupNormalization, torch.autograd and numerical gradients (float64)."""

import numpy as np
import pytest
import torch

from course_lib import normalization as norm
from course_lib.checks import check_no_mutation
from course_lib.gradcheck import check_layer_gradients

TOL = 1e-10  # issue 17's agreement target in float64 (the errors measured are ~1e-15)
SHAPES_4D = [(2, 4, 3, 5), (1, 6, 4, 4), (5, 8, 1, 1), (3, 6, 7, 2)]


def _params(rng, shape):
    return rng.normal(size=shape), rng.normal(size=shape)


def _torch_forward_backward(layer, x, dout):
    """Output and gradients of a float64 torch layer: (out, dx, dweight, dbias)."""
    x_t = torch.tensor(x, requires_grad=True)
    out = layer(x_t)
    out.backward(torch.tensor(dout))
    return (out.detach().numpy(), x_t.grad.numpy(), layer.weight.grad.numpy(),
            layer.bias.grad.numpy())


def _set_affine(layer, gamma, beta):
    layer = layer.double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(gamma))
        layer.bias.copy_(torch.tensor(beta))
    return layer


def _assert_close(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=0, atol=TOL * max(1.0, np.abs(w).max()))


# ---------------------------------------------------------------- layer norm
@pytest.mark.parametrize("shape", [(4, 7), (1, 3), *SHAPES_4D, (3, 5, 6)])
def test_layernorm_forward_and_backward_match_torch_layernorm(rng, shape):
    x = rng.normal(loc=2.0, scale=3.0, size=shape)
    dout = rng.normal(size=shape)
    gamma, beta = _params(rng, shape[1:])
    out, cache = check_no_mutation(norm.layernorm_forward, x, gamma, beta)
    grads = check_no_mutation(norm.layernorm_backward, dout, cache)
    layer = _set_affine(torch.nn.LayerNorm(shape[1:], eps=1e-5), gamma, beta)
    _assert_close((out, *grads), _torch_forward_backward(layer, x, dout))


@pytest.mark.parametrize("shape", [(4, 7), (2, 4, 3, 5), (3, 6, 7, 2)])
def test_layernorm_matches_keras_layernormalization(rng, shape):
    import keras

    x = rng.normal(size=shape)
    gamma, beta = _params(rng, shape[1:])
    out, _ = norm.layernorm_forward(x, gamma, beta, eps=1e-5)
    # Keras is channels last: (N, C, H, W) -> (N, H, W, C), and its gamma is (H, W, C)
    to_last = (0, *range(2, len(shape)), 1)
    axes = list(range(1, len(shape)))
    layer = keras.layers.LayerNormalization(axis=axes, epsilon=1e-5, dtype="float64")
    x_last = x.transpose(to_last)
    layer.build(x_last.shape)
    param_last = tuple(a - 1 for a in to_last[1:])       # (C, H, W) -> (H, W, C)
    layer.set_weights([gamma.transpose(param_last), beta.transpose(param_last)])
    got = keras.ops.convert_to_numpy(layer(x_last)).transpose(np.argsort(to_last))
    _assert_close((got,), (out,))


def test_layernorm_gradients_match_numerical_gradients(rng):
    x = rng.normal(size=(3, 4, 2, 3))
    gamma, beta = _params(rng, (4, 2, 3))
    errors = check_layer_gradients(norm.layernorm_forward, norm.layernorm_backward,
                                   x, gamma, beta, seed=7)
    assert max(errors) < 1e-7, errors


def test_layernorm_normalizes_each_sample_on_its_own(rng):
    x = rng.normal(size=(5, 3, 4, 4))
    ones, zeros = np.ones((3, 4, 4)), np.zeros((3, 4, 4))
    out, _ = norm.layernorm_forward(x, ones, zeros)
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(1, 2, 3)), 1.0, atol=1e-4)  # eps shrinks it
    alone, _ = norm.layernorm_forward(x[2:3], ones, zeros)           # no batch dependence
    np.testing.assert_allclose(alone, out[2:3], rtol=0, atol=1e-14)


# ---------------------------------------------------------------- group norm
@pytest.mark.parametrize("shape, num_groups", [
    ((2, 4, 3, 5), 2), ((1, 6, 4, 4), 3), ((5, 8, 1, 1), 4), ((3, 6, 7, 2), 1),
    ((3, 6, 7, 2), 6), ((4, 6), 2), ((2, 4, 9), 4),
])
def test_groupnorm_forward_and_backward_match_torch_groupnorm(rng, shape, num_groups):
    x = rng.normal(loc=-1.0, scale=2.0, size=shape)
    dout = rng.normal(size=shape)
    gamma, beta = _params(rng, shape[1])
    out, cache = check_no_mutation(
        lambda *a: norm.groupnorm_forward(*a, num_groups=num_groups), x, gamma, beta)
    grads = check_no_mutation(norm.groupnorm_backward, dout, cache)
    layer = _set_affine(torch.nn.GroupNorm(num_groups, shape[1], eps=1e-5), gamma, beta)
    _assert_close((out, *grads), _torch_forward_backward(layer, x, dout))


@pytest.mark.parametrize("shape, num_groups", [((2, 4, 3, 5), 2), ((3, 6, 7, 2), 3),
                                               ((2, 6, 2, 2), 6)])
def test_groupnorm_matches_keras_groupnormalization(rng, shape, num_groups):
    import keras

    x = rng.normal(size=shape)
    gamma, beta = _params(rng, shape[1])
    out, _ = norm.groupnorm_forward(x, gamma, beta, num_groups=num_groups)
    layer = keras.layers.GroupNormalization(groups=num_groups, epsilon=1e-5,
                                            dtype="float64")
    x_last = x.transpose(0, 2, 3, 1)                      # (N, C, H, W) -> (N, H, W, C)
    layer.build(x_last.shape)
    layer.set_weights([gamma, beta])
    got = keras.ops.convert_to_numpy(layer(x_last)).transpose(0, 3, 1, 2)
    _assert_close((got,), (out,))


@pytest.mark.parametrize("num_groups", [1, 2, 4])
def test_groupnorm_gradients_match_numerical_gradients(rng, num_groups):
    x = rng.normal(size=(2, 4, 3, 2))
    gamma, beta = _params(rng, 4)
    errors = check_layer_gradients(
        lambda *a: norm.groupnorm_forward(*a, num_groups=num_groups),
        norm.groupnorm_backward, x, gamma, beta, seed=7)
    assert max(errors) < 1e-7, errors


def test_groupnorm_with_one_group_is_layernorm_with_a_per_channel_affine(rng):
    x = rng.normal(size=(3, 4, 2, 5))
    gamma, beta = _params(rng, 4)
    out, _ = norm.groupnorm_forward(x, gamma, beta, num_groups=1)
    full = np.broadcast_to(gamma[:, None, None], (4, 2, 5))
    shift = np.broadcast_to(beta[:, None, None], (4, 2, 5))
    want, _ = norm.layernorm_forward(x, np.array(full), np.array(shift))
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-13)


# ---------------------------------------------------------------- instance norm
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 2, 3, 3), (4, 5, 6)])
def test_instancenorm_matches_torch_instancenorm(rng, shape):
    x = rng.normal(size=shape)
    dout = rng.normal(size=shape)
    gamma, beta = _params(rng, shape[1])
    out, cache = norm.instancenorm_forward(x, gamma, beta)
    grads = norm.instancenorm_backward(dout, cache)
    kind = torch.nn.InstanceNorm2d if len(shape) == 4 else torch.nn.InstanceNorm1d
    layer = _set_affine(kind(shape[1], affine=True, eps=1e-5), gamma, beta)
    _assert_close((out, *grads), _torch_forward_backward(layer, x, dout))


def test_float32_stays_float32(rng):
    x = rng.normal(size=(2, 4, 3, 3)).astype(np.float32)
    gamma, beta = np.ones(4, np.float32), np.zeros(4, np.float32)
    out, cache = norm.groupnorm_forward(x, gamma, beta, num_groups=2)
    assert out.dtype == np.float32
    assert norm.groupnorm_backward(np.ones_like(out), cache)[0].dtype == np.float32


def test_bad_arguments_raise_with_a_message(rng):
    x = rng.normal(size=(2, 6, 3, 3))
    with pytest.raises(ValueError, match="divides C = 6"):
        norm.groupnorm_forward(x, np.ones(6), np.zeros(6), num_groups=4)
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        norm.groupnorm_forward(x, np.ones(3), np.zeros(3), num_groups=3)
    with pytest.raises(ValueError, match="shape of one sample"):
        norm.layernorm_forward(x, np.ones(6), np.zeros(6))
    with pytest.raises(ValueError, match="eps"):
        norm.layernorm_forward(x, np.ones((6, 3, 3)), np.zeros((6, 3, 3)), eps=0.0)
    with pytest.raises(ValueError, match="positions"):
        norm.instancenorm_forward(x[:, :, 0, 0], np.ones(6), np.zeros(6))
    out, cache = norm.layernorm_forward(x, np.ones((6, 3, 3)), np.zeros((6, 3, 3)))
    with pytest.raises(ValueError, match="dout"):
        norm.layernorm_backward(out[:1], cache)


# ---------------------------------------------------------------- lesson support
def test_plot_normalization_axes_draws_four_cubes():
    fig = norm.plot_normalization_axes()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["batch norm", "layer norm", "instance norm", "group norm"]


@pytest.mark.parametrize("kind", ["batch", "group"])
def test_small_batch_cnn_shapes_and_norm_layers(kind):
    model = norm.build_small_batch_cnn(kind)
    out = model(torch.zeros(2, 1, 8, 8))
    assert tuple(out.shape) == (2, 10)
    wanted = torch.nn.BatchNorm2d if kind == "batch" else torch.nn.GroupNorm
    assert sum(isinstance(m, wanted) for m in model.modules()) == 3
    with pytest.raises(ValueError, match="norm must be"):
        norm.build_small_batch_cnn("layer")


def test_train_small_batch_is_seeded_and_returns_accuracies():
    config = {"norm": "group", "batch_size": 64, "lr": 0.05, "num_epochs": 1}
    first = norm.train_small_batch(config, seed=1)
    assert first == norm.train_small_batch(config, seed=1)
    assert set(first) == {"val_accuracy", "val_accuracy_train_mode"}
    assert first["val_accuracy"] == first["val_accuracy_train_mode"]  # GN: no batch statistics
    assert 0.0 <= first["val_accuracy"] <= 1.0
