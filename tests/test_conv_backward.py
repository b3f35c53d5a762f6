"""Backward pass of course_lib.conv (loops and col2im) against numerical gradients,
torch.autograd and tf.GradientTape, float64, relative error <= 1e-8."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import conv
from course_lib.checks import check_no_mutation
from course_lib.gradcheck import check_layer_gradients, rel_error

TOLERANCE = 1e-8  # relative error of every gradient, float64
# A convolution is linear in x, in w and in b, so centered differences have no truncation error
# at any step: a larger step than the usual 1e-5 only shrinks the round-off, ~eps * |L| / h.
LINEAR_STEP = 1.0
BACKWARDS = [conv.conv_backward_naive, conv.conv_backward]

# (N, C, H, W, F, KH, KW, stride, pad): batch of one, non-square images and kernels, pairs,
# kernels that do not tile the input (the last rows/columns are read by no window)
CASES = [
    (1, 1, 5, 5, 1, 2, 2, 1, 0),
    (2, 3, 7, 9, 4, 3, 3, 1, 1),
    (3, 2, 8, 6, 5, 3, 2, 2, 0),          # 8 rows, 3-kernel at stride 2: row 7 is never read
    (2, 4, 9, 10, 3, 5, 3, (2, 1), (2, 1)),
    (1, 3, 6, 11, 2, 1, 1, 3, 0),          # 1x1 kernel at stride 3 skips pixels
    (2, 2, 4, 4, 3, 4, 4, 1, 2),           # padding larger than half the kernel
    (2, 2, 10, 7, 2, 3, 3, 3, 1),          # stride 3, 12 padded rows: the last one unread
]


def _random_case(rng, n, c, h, w_, f, kh, kw):
    return rng.normal(size=(n, c, h, w_)), rng.normal(size=(f, c, kh, kw)), rng.normal(size=f)


def _torch_grads(x, w, b, dout, stride, pad):
    tensors = [torch.tensor(value, requires_grad=True) for value in (x, w, b)]
    F.conv2d(*tensors, stride=stride, padding=pad).backward(torch.from_numpy(dout))
    return [tensor.grad.numpy() for tensor in tensors]


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("n, c, h, w_, f, kh, kw, stride, pad", CASES)
def test_conv_backward_matches_torch_autograd(rng, backward, n, c, h, w_, f, kh, kw, stride,
                                              pad):
    x, w, b = _random_case(rng, n, c, h, w_, f, kh, kw)
    out, cache = conv.conv_forward(x, w, b, stride=stride, pad=pad)
    dout = rng.normal(size=out.shape)
    grads = check_no_mutation(backward, dout, cache)
    for name, ours, want in zip(("dx", "dw", "db"), grads, _torch_grads(x, w, b, dout, stride,
                                                                         pad)):
        assert ours.shape == want.shape, name
        assert rel_error(ours, want) <= TOLERANCE, name


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("case", [CASES[1], CASES[2], CASES[3], CASES[6]])
def test_conv_backward_matches_numerical_gradients(rng, backward, case):
    n, c, h, w_, f, kh, kw, stride, pad = case
    errors = check_layer_gradients(
        lambda x, w, b: conv.conv_forward(x, w, b, stride=stride, pad=pad), backward,
        *_random_case(rng, n, c, h, w_, f, kh, kw), h=LINEAR_STEP)
    assert max(errors) <= TOLERANCE, errors


@pytest.mark.parametrize("case", [CASES[1], CASES[3], CASES[6]])
def test_conv_backward_matches_tensorflow_gradient_tape(rng, case):
    tf = pytest.importorskip("tensorflow")
    n, c, h, w_, f, kh, kw, stride, pad = case
    x, w, b = _random_case(rng, n, c, h, w_, f, kh, kw)
    out, cache = conv.conv_forward(x, w, b, stride=stride, pad=pad)
    dout = rng.normal(size=out.shape)
    (sh, sw), (ph, pw) = conv._pair(stride, "stride", 1), conv._pair(pad, "pad", 0)
    x_tf = tf.Variable(x.transpose(0, 2, 3, 1))  # (N, C, H, W) -> (N, H, W, C)
    w_tf = tf.Variable(w.transpose(2, 3, 1, 0))  # (F, C, KH, KW) -> (KH, KW, C, F)
    b_tf = tf.Variable(b)
    with tf.GradientTape() as tape:
        out_tf = tf.nn.conv2d(x_tf, w_tf, strides=[1, sh, sw, 1],
                              padding=[[0, 0], [ph, ph], [pw, pw], [0, 0]]) + b_tf
        loss = tf.reduce_sum(out_tf * dout.transpose(0, 2, 3, 1))
    dx_tf, dw_tf, db_tf = (grad.numpy() for grad in tape.gradient(loss, [x_tf, w_tf, b_tf]))
    dx, dw, db = conv.conv_backward(dout, cache)
    assert rel_error(dx, dx_tf.transpose(0, 3, 1, 2)) <= TOLERANCE
    assert rel_error(dw, dw_tf.transpose(3, 2, 0, 1)) <= TOLERANCE
    assert rel_error(db, db_tf) <= TOLERANCE


@pytest.mark.parametrize("seed", range(20))
def test_naive_and_col2im_backward_agree_on_random_geometries(seed):
    rng = np.random.default_rng(seed)
    kh, kw = (int(k) for k in rng.integers(1, 5, size=2))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
    pad = tuple(int(p) for p in rng.integers(0, 3, size=2))
    h, w_ = (int(size) for size in rng.integers(max(kh, kw), 11, size=2))
    x, w, b = _random_case(rng, int(rng.integers(1, 4)), int(rng.integers(1, 4)), h, w_,
                           int(rng.integers(1, 4)), kh, kw)
    out, cache = conv.conv_forward(x, w, b, stride=stride, pad=pad)
    dout = rng.normal(size=out.shape)
    for naive, fast in zip(conv.conv_backward_naive(dout, cache), conv.conv_backward(dout, cache)):
        np.testing.assert_allclose(naive, fast, rtol=1e-12, atol=1e-12)


def test_conv_forward_equals_the_forward_only_functions(rng):
    x, w, b = _random_case(rng, 2, 3, 9, 8, 4, 3, 2)
    out, cache = conv.conv_forward(x, w, b, stride=(2, 1), pad=1)
    np.testing.assert_array_equal(out, conv.conv2d_im2col(x, w, b, stride=(2, 1), pad=1))
    np.testing.assert_allclose(out, conv.conv2d_naive(x, w, b, stride=(2, 1), pad=1),
                               rtol=1e-12, atol=1e-12)
    assert cache[2:4] == ((2, 1), (1, 1))


def test_col2im_matches_torch_fold_and_is_the_adjoint_of_im2col(rng):
    x = rng.normal(size=(2, 3, 7, 6))
    cols = rng.normal(size=conv.im2col(x, (3, 2), stride=(2, 1), pad=(1, 0)).shape)
    ours = conv.col2im(cols, x.shape, (3, 2), stride=(2, 1), pad=(1, 0))
    want = F.fold(torch.from_numpy(cols), (7, 6), (3, 2), stride=(2, 1), padding=(1, 0)).numpy()
    np.testing.assert_allclose(ours, want, rtol=1e-12, atol=1e-12)
    # <im2col(x), cols> == <x, col2im(cols)>: the definition of an adjoint
    lhs = np.sum(conv.im2col(x, (3, 2), stride=(2, 1), pad=(1, 0)) * cols)
    assert lhs == pytest.approx(np.sum(x * ours), rel=1e-12)


def test_input_gradient_is_a_full_correlation_with_rotated_kernels(rng):
    x, w, b = _random_case(rng, 2, 3, 6, 7, 4, 3, 2)
    out, cache = conv.conv_forward(x, w, b)
    dout = rng.normal(size=out.shape)
    w_rotated = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (F, C, KH, KW) -> (C, F, KH, KW)
    dx_full = conv.conv2d_naive(dout, w_rotated, pad=(2, 1))  # "full": pad by K - 1
    np.testing.assert_allclose(conv.conv_backward(dout, cache)[0], dx_full, rtol=1e-12,
                               atol=1e-12)


def test_conv_backward_rejects_a_dout_of_the_wrong_shape(rng):
    out, cache = conv.conv_forward(*_random_case(rng, 2, 1, 5, 5, 3, 3, 3))
    for backward in BACKWARDS:
        with pytest.raises(ValueError, match="shape of the output"):
            backward(np.zeros((2, 3, 4, 3)), cache)
    with pytest.raises(ValueError, match="cols must have shape"):
        conv.col2im(np.zeros((2, 9, 8)), (2, 1, 5, 5), 3)
