"""course_lib.conv against torch.nn.functional (float64) and a few hand-computed cases."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import conv
from course_lib.checks import check_no_mutation

# (N, C, H, W, F, KH, KW, stride, pad): batch of one, non-square inputs and kernels, pairs
CONV_CASES = [
    (1, 1, 5, 5, 1, 2, 2, 1, 0),
    (2, 3, 7, 9, 4, 3, 3, 1, 1),
    (3, 2, 8, 6, 5, 3, 2, 2, 0),
    (2, 4, 9, 10, 3, 5, 3, (2, 1), (2, 1)),
    (1, 3, 6, 11, 2, 1, 1, 3, 0),
    (2, 2, 4, 4, 3, 4, 4, 1, 2),
]


def _torch_conv(x, w, b, stride, pad):
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                    stride=stride, padding=pad).numpy()


@pytest.mark.parametrize("implementation", [conv.conv2d_naive, conv.conv2d_im2col])
@pytest.mark.parametrize("n, c, h, w_, f, kh, kw, stride, pad", CONV_CASES)
def test_conv2d_matches_torch_conv2d(rng, implementation, n, c, h, w_, f, kh, kw, stride, pad):
    x, w, b = rng.normal(size=(n, c, h, w_)), rng.normal(size=(f, c, kh, kw)), rng.normal(size=f)
    out = check_no_mutation(lambda x, w, b: implementation(x, w, b, stride=stride, pad=pad),
                            x, w, b)
    want = _torch_conv(x, w, b, stride, pad)
    assert out.shape == want.shape
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


def test_the_notes_example_5x5_image_2x2_filter_gives_a_4x4_map():
    x = np.arange(25).reshape(1, 1, 5, 5)
    w = np.array([[[[1, 0], [0, -1]]]])
    out = conv.conv2d_naive(x, w)
    assert out.shape == (1, 1, 4, 4)
    assert out.dtype.kind == "i"  # integer inputs, no bias: exact integers
    np.testing.assert_array_equal(out, np.full((1, 1, 4, 4), -6))
    np.testing.assert_array_equal(conv.conv2d_im2col(x, w), out)


def test_convolution_is_cross_correlation_not_flipped():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0  # a single impulse
    w = np.arange(9.0).reshape(1, 1, 3, 3)
    out = conv.conv2d_naive(x, w, pad=1)[0, 0]
    np.testing.assert_array_equal(out, w[0, 0, ::-1, ::-1])  # correlation shows the kernel flipped


def test_im2col_matches_torch_unfold(rng):
    x = rng.normal(size=(2, 3, 7, 6))
    cols = conv.im2col(x, (3, 2), stride=(2, 1), pad=(1, 0))
    want = F.unfold(torch.from_numpy(x), (3, 2), stride=(2, 1), padding=(1, 0)).numpy()
    np.testing.assert_array_equal(cols, want)


@pytest.mark.parametrize("size, stride", [(2, None), (3, 1), ((2, 3), (1, 2)), (3, 2), (1, 1)])
@pytest.mark.parametrize("shape", [(1, 1, 4, 4), (2, 3, 7, 9), (3, 2, 6, 5)])
def test_pooling_matches_torch(rng, size, stride, shape):
    x = rng.normal(size=shape)
    for ours, theirs in [(conv.max_pool2d, F.max_pool2d), (conv.avg_pool2d, F.avg_pool2d)]:
        out = check_no_mutation(lambda x: ours(x, size=size, stride=stride), x)
        want = theirs(torch.from_numpy(x), size, stride=stride).numpy()
        assert out.shape == want.shape
        np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


def test_pooling_keeps_integers_exact_and_averages_uint8_without_overflow():
    x = np.array([[[[1, 2, 250, 255], [3, 4, 251, 254], [0, 0, 9, 9], [0, 8, 9, 9]]]],
                 dtype=np.uint8)
    np.testing.assert_array_equal(conv.max_pool2d(x, size=2), [[[[4, 255], [8, 9]]]])
    np.testing.assert_allclose(conv.avg_pool2d(x, size=2), [[[[2.5, 252.5], [2.0, 9.0]]]])


@pytest.mark.parametrize("size, kernel, stride, pad, dilation", [
    (5, 2, 1, 0, 1), (28, 3, 1, 1, 1), (28, 3, 2, 1, 1), (7, 3, 2, 0, 1), (8, 3, 3, 0, 1),
    (32, 5, 1, 2, 1), (10, 3, 1, 0, 2), (11, 3, 2, 2, 3), (1, 1, 1, 0, 1), (224, 7, 2, 3, 1),
])
def test_conv_output_size_matches_torch_conv2d(size, kernel, stride, pad, dilation):
    layer = torch.nn.Conv2d(1, 1, kernel, stride=stride, padding=pad, dilation=dilation)
    with torch.no_grad():
        want = layer(torch.zeros(1, 1, size, size)).shape[-1]
    assert conv.conv_output_size(size, kernel, stride=stride, pad=pad, dilation=dilation) == want


def test_conv_output_size_rejects_a_kernel_that_does_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        conv.conv_output_size(4, 3, dilation=2)
    with pytest.raises(TypeError):
        conv.conv_output_size(4.0, 3)
    with pytest.raises(ValueError):
        conv.conv_output_size(4, 3, stride=0)


def test_conv_rejects_bad_shapes():
    x = np.zeros((1, 3, 5, 5))
    with pytest.raises(ValueError, match="one kernel per input channel"):
        conv.conv2d_naive(x, np.zeros((2, 1, 3, 3)))
    with pytest.raises(ValueError, match="one bias per filter"):
        conv.conv2d_im2col(x, np.zeros((2, 3, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="N, C, H, W"):
        conv.max_pool2d(np.zeros((5, 5)), size=2)
    with pytest.raises(ValueError, match="pair"):
        conv.conv2d_naive(x, np.zeros((2, 3, 3, 3)), stride=(1, 1, 1))


@pytest.mark.parametrize("layers, want", [
    ([(3, 1)], [3]),
    ([(3, 1), (3, 1), (3, 1)], [3, 5, 7]),                       # three 3x3 convs = 7x7 field
    ([(3, 1), (2, 2), (3, 1), (2, 2), (3, 1)], [3, 4, 8, 10, 18]),
    ([(7, 2), (3, 2), (3, 1)], [7, 11, 19]),                      # ResNet stem, then a 3x3 conv
    ([(3, 1, 2), (3, 1, 4)], [5, 13]),                           # dilated convolutions
])
def test_receptive_field_follows_the_recurrence(layers, want):
    assert conv.receptive_field(layers) == want


def test_receptive_field_matches_the_support_of_torch_gradients():
    stack = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3), torch.nn.AvgPool2d(2),
                                torch.nn.Conv2d(1, 1, 3, stride=2), torch.nn.Conv2d(1, 1, 3))
    for module in stack:
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.ones_(module.weight)
    x = torch.ones(1, 1, 40, 40, requires_grad=True)
    out = stack(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    want = conv.receptive_field([(3, 1), (2, 2), (3, 2), (3, 1)])[-1]
    assert int(rows.max() - rows.min() + 1) == want


def test_receptive_field_rejects_bad_layers():
    with pytest.raises(ValueError):
        conv.receptive_field([(3,)])
    with pytest.raises(ValueError):
        conv.receptive_field([(3, 0)])
    with pytest.raises(TypeError):
        conv.receptive_field("3,1")
