"""course_lib.pooling: forward/backward pairs against torch.autograd, tf.GradientTape and
numerical gradients (float64, relative error <= 1e-8), ties as PyTorch routes them."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import conv, pooling
from course_lib.checks import check_no_mutation
from course_lib.gradcheck import check_layer_gradients, rel_error

TOLERANCE = 1e-8
# Average pooling is linear: no truncation error, and a large step shrinks round-off. Max pooling
# is linear only while no nudge changes a window's maximum: the usual small step.
STEPS = {"max": 1e-5, "avg": 1.0}
PAIRS = {
    "max": (pooling.max_pool_forward, pooling.max_pool_backward, F.max_pool2d, conv.max_pool2d),
    "avg": (pooling.avg_pool_forward, pooling.avg_pool_backward, F.avg_pool2d, conv.avg_pool2d),
}
# (shape, size, stride, pad): tiling, overlapping, non-tiling (the last rows dropped), padded
GEOMETRIES = [
    ((2, 3, 8, 8), 2, None, 0),
    ((1, 2, 7, 9), 3, 2, 0),
    ((2, 1, 9, 6), (3, 2), (2, 1), 0),
    ((3, 2, 7, 7), 2, None, 0),
    ((2, 2, 6, 7), 3, 2, 1),
    ((1, 3, 5, 8), (3, 4), (1, 3), (1, 2)),
]


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("shape, size, stride, pad", GEOMETRIES)
def test_pool_backward_matches_torch_autograd(rng, kind, shape, size, stride, pad):
    forward, backward, torch_pool, _ = PAIRS[kind]
    x = rng.normal(size=shape)
    out, cache = check_no_mutation(lambda x: forward(x, size=size, stride=stride, pad=pad), x)
    x_torch = torch.tensor(x, requires_grad=True)
    out_torch = torch_pool(x_torch, size, stride=stride, padding=pad)
    np.testing.assert_allclose(out, out_torch.detach().numpy(), rtol=1e-12, atol=1e-12)
    dout = rng.normal(size=out.shape)
    out_torch.backward(torch.from_numpy(dout))
    assert rel_error(backward(dout, cache), x_torch.grad) <= TOLERANCE


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("shape, size, stride, pad", GEOMETRIES[1:3] + GEOMETRIES[4:])
def test_pool_backward_matches_numerical_gradients(rng, kind, shape, size, stride, pad):
    forward, backward, _, _ = PAIRS[kind]
    errors = check_layer_gradients(lambda x: forward(x, size=size, stride=stride, pad=pad),
                                   backward, rng.normal(size=shape), h=STEPS[kind])
    assert max(errors) <= TOLERANCE


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("shape, size, stride, pad", GEOMETRIES)
def test_pool_backward_matches_tensorflow_gradient_tape(rng, kind, shape, size, stride, pad):
    tf = pytest.importorskip("tensorflow")
    forward, backward, _, _ = PAIRS[kind]
    x = rng.normal(size=shape)
    out, cache = forward(x, size=size, stride=stride, pad=pad)
    dout = rng.normal(size=out.shape)
    (kh, kw), (ph, pw) = conv._pair(size, "size", 1), conv._pair(pad, "pad", 0)
    sh, sw = conv._pair((kh, kw) if stride is None else stride, "stride", 1)
    x_tf = tf.Variable(x.transpose(0, 2, 3, 1))  # NHWC
    tf_pool = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
    with tf.GradientTape() as tape:  # PyTorch's padding: -inf for max, zeros (counted) for avg
        padded = tf.pad(x_tf, [[0, 0], [ph, ph], [pw, pw], [0, 0]],
                        constant_values=-np.inf if kind == "max" else 0.0)
        out_tf = tf_pool(padded, (kh, kw), (sh, sw), "VALID")
        loss = tf.reduce_sum(out_tf * dout.transpose(0, 2, 3, 1))
    dx_tf = tape.gradient(loss, x_tf).numpy().transpose(0, 3, 1, 2)
    assert rel_error(backward(dout, cache), dx_tf) <= TOLERANCE


@pytest.mark.parametrize("kind", PAIRS)
def test_pool_forward_equals_the_forward_only_functions(rng, kind):
    forward, _, _, forward_only = PAIRS[kind]
    x = rng.normal(size=(2, 3, 9, 7))
    out, _ = forward(x, size=(3, 2), stride=(2, 1))
    np.testing.assert_allclose(out, forward_only(x, size=(3, 2), stride=(2, 1)), rtol=1e-15)


@pytest.mark.parametrize("size, stride, pad", [(2, None, 0), (3, 1, 1), (3, 2, 0), (2, 1, 0)])
def test_max_pool_backward_routes_ties_to_the_first_maximum_as_torch_does(rng, size, stride,
                                                                          pad):
    x = rng.integers(0, 3, size=(2, 2, 7, 8)).astype(np.float64)  # many ties
    x[0, 0] = 1.0  # a constant map: every window is one big tie
    out, cache = pooling.max_pool_forward(x, size=size, stride=stride, pad=pad)
    dout = rng.normal(size=out.shape)
    x_torch = torch.tensor(x, requires_grad=True)
    F.max_pool2d(x_torch, size, stride=stride, padding=pad).backward(torch.from_numpy(dout))
    np.testing.assert_allclose(pooling.max_pool_backward(dout, cache), x_torch.grad.numpy(),
                               rtol=1e-12, atol=1e-12)


def test_pool_backward_keeps_float32(rng):
    x = rng.normal(size=(2, 3, 6, 6)).astype(np.float32)
    for forward, backward, _, _ in PAIRS.values():
        out, cache = forward(x, size=2)
        assert out.dtype == np.float32
        assert backward(np.ones_like(out), cache).dtype == np.float32


def test_pooling_rejects_bad_arguments(rng):
    x = rng.normal(size=(1, 1, 6, 6))
    with pytest.raises(ValueError, match="half the window"):
        pooling.max_pool_forward(x, size=2, pad=2)
    with pytest.raises(TypeError, match="floating point"):
        pooling.avg_pool_forward(np.ones((1, 1, 4, 4), dtype=np.int64), size=2)
    out, cache = pooling.max_pool_forward(x, size=2)
    with pytest.raises(ValueError, match="shape of the output"):
        pooling.max_pool_backward(np.zeros((1, 1, 2, 2)), cache)
