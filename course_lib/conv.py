"""Convolution and pooling in numpy, NCHW layout: forward passes, and convolution's backward pass.

Shapes follow the course's letters: N images, C input channels, H x W pixels, F filters of
KH x KW pixels, output OH x OW. Images are ``(N, C, H, W)`` as in PyTorch; weights are
``(F, C, KH, KW)`` as ``nn.Conv2d.weight`` (a Keras ``Conv2D`` kernel is ``(KH, KW, C, F)``).

Like every deep-learning library, "convolution" here is **cross-correlation**: the kernel is
not flipped. ``stride``, ``pad`` (zeros on every side) and pooling ``size`` take an int or an
``(height, width)`` pair.

- ``conv_output_size``: the output-size formula with padding, stride and dilation.
- ``conv2d_naive``: four nested loops, the definition written out.
- ``im2col`` / ``conv2d_im2col``: every window as a column, then one matrix product.
- ``max_pool2d`` / ``avg_pool2d``: pooling without padding (PyTorch's and Keras's default).
- ``receptive_field``: receptive-field size after each layer of a stack.
- ``conv_forward`` / ``conv_backward_naive`` / ``conv_backward``: the layer as a forward/backward
  pair with a cache (``course_lib.layers`` style); the backward pass as loops and as
  im2col's adjoint ``col2im`` (the layout of ``torch.nn.functional.fold``).

Pooling as forward/backward pairs lives in ``course_lib.pooling``.

Taught in: ch04, 04_2_convolution-arithmetic.ipynb (output size), 04_4_pooling-and-receptive-
fields.ipynb (pooling, receptive field), 04_5_conv-from-scratch.ipynb (naive and im2col),
04_7_conv-backward.ipynb (backward pass, col2im).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Pair = int | tuple[int, int]


def conv_output_size(size: int, kernel: int, *, stride: int = 1, pad: int = 0,
                     dilation: int = 1) -> int:
    """Output length of a convolution or pooling along one axis.

    ``floor((size + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1``, the formula of
    PyTorch's ``nn.Conv2d`` documentation (``floor`` mode).

    Args:
        size: input length H (or W), >= 1.
        kernel: kernel length K, >= 1.
        stride: step S between windows, >= 1.
        pad: zeros added on *each* side, P >= 0.
        dilation: spacing D between kernel taps, >= 1 (1 = an ordinary kernel).

    Returns:
        The number of window positions, an int >= 1.

    Raises:
        ValueError: the (dilated) kernel does not fit in the padded input.

    Taught in: ch04, 04_2_convolution-arithmetic.ipynb
    """
    for name, value, low in (("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1),
                             ("pad", pad, 0), ("dilation", dilation, 1)):
        _check_int(value, name, low)
    span = dilation * (kernel - 1) + 1  # input pixels one dilated kernel covers
    if size + 2 * pad < span:
        raise ValueError(f"a kernel spanning {span} pixels does not fit in an input of {size} "
                         f"pixels padded by {pad} on each side")
    return (size + 2 * pad - span) // stride + 1


def conv2d_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
                 stride: Pair = 1, pad: Pair = 0) -> np.ndarray:
    """2-D convolution (cross-correlation) with four nested loops: slow, but the definition.

    ``out[n, f, i, j] = sum_{c, u, v} x_pad[n, c, i*SH + u, j*SW + v] * w[f, c, u, v] + b[f]``

    Args:
        x: images, shape (N, C, H, W).
        w: filters, shape (F, C, KH, KW): filter f holds one KH x KW kernel per input channel.
        b: biases, shape (F,), or None for no bias.
        stride: step between windows, int or (SH, SW).
        pad: zeros added on each side, int or (PH, PW).

    Returns:
        ``out`` of shape (N, F, OH, OW), OH and OW from ``conv_output_size``.

    Taught in: ch04, 04_5_conv-from-scratch.ipynb
    """
    x, w, b = _check_conv_args(x, w, b)
    (sh, sw), (ph, pw) = _pair(stride, "stride", 1), _pair(pad, "pad", 0)
    n_images, _, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    oh = conv_output_size(height, kh, stride=sh, pad=ph)
    ow = conv_output_size(width, kw, stride=sw, pad=pw)
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # zero padding
    out = np.zeros((n_images, n_filters, oh, ow), dtype=np.result_type(x, w, b))
    for n in range(n_images):
        for f in range(n_filters):
            for i in range(oh):
                for j in range(ow):
                    window = x_pad[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]  # (C, KH, KW)
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out


def im2col(x: np.ndarray, kernel_size: Pair, *, stride: Pair = 1, pad: Pair = 0) -> np.ndarray:
    """Copy every window of ``x`` into a column (the layout of ``torch.nn.functional.unfold``).

    Args:
        x: images, shape (N, C, H, W).
        kernel_size: window size, int or (KH, KW).
        stride, pad: as in ``conv2d_naive``.

    Returns:
        ``cols`` of shape (N, C*KH*KW, OH*OW): column ``i*OW + j`` of image n holds the window
        at output position (i, j), flattened in (C, KH, KW) order, the order of
        ``w.reshape(F, -1)``.

    Taught in: ch04, 04_5_conv-from-scratch.ipynb
    """
    x = _check_images(x)
    (kh, kw), (sh, sw) = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)
    ph, pw = _pair(pad, "pad", 0)
    n_images, channels, height, width = x.shape
    oh = conv_output_size(height, kh, stride=sh, pad=ph)
    ow = conv_output_size(width, kw, stride=sw, pad=pw)
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty((n_images, channels, kh, kw, oh, ow), dtype=x.dtype)
    for u in range(kh):          # one strided slice per kernel tap: KH*KW copies in all
        for v in range(kw):
            cols[:, :, u, v] = x_pad[:, :, u:u + sh * oh:sh, v:v + sw * ow:sw]  # (N, C, OH, OW)
    # (N, C, KH, KW, OH, OW) -> (N, C*KH*KW, OH*OW)
    return cols.reshape(n_images, channels * kh * kw, oh * ow)


def conv2d_im2col(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
                  stride: Pair = 1, pad: Pair = 0) -> np.ndarray:
    """2-D convolution as one matrix product: ``w.reshape(F, -1) @ im2col(x)``.

    Same arguments and result as ``conv2d_naive``; uses about KH*KW times the memory of ``x``
    for the columns, in exchange for one fast BLAS call.

    Taught in: ch04, 04_5_conv-from-scratch.ipynb
    """
    x, w, b = _check_conv_args(x, w, b)
    (sh, sw), (ph, pw) = _pair(stride, "stride", 1), _pair(pad, "pad", 0)
    n_filters, _, kh, kw = w.shape
    oh = conv_output_size(x.shape[2], kh, stride=sh, pad=ph)
    ow = conv_output_size(x.shape[3], kw, stride=sw, pad=pw)
    cols = im2col(x, (kh, kw), stride=(sh, sw), pad=(ph, pw))  # (N, C*KH*KW, OH*OW)
    out = w.reshape(n_filters, -1) @ cols + b.reshape(n_filters, 1)  # -> (N, F, OH*OW)
    return out.reshape(x.shape[0], n_filters, oh, ow)  # (N, F, OH*OW) -> (N, F, OH, OW)


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, *, stride: Pair = 1,
                 pad: Pair = 0) -> tuple[np.ndarray, tuple]:
    """Convolution layer, forward pass with a cache: ``conv2d_im2col`` plus what backward needs.

    Args:
        x: images (N, C, H, W). w: filters (F, C, KH, KW). b: biases (F,).
        stride, pad: int or (height, width) pair, as in ``conv2d_naive``.

    Returns:
        ``out`` (N, F, OH, OW) and ``cache = (x, w, stride, pad, cols)`` with the strides and
        paddings as pairs and ``cols = im2col(x)`` of shape (N, C*KH*KW, OH*OW).

    Taught in: ch04, 04_7_conv-backward.ipynb
    """
    x, w, b = _check_conv_args(x, w, b)
    stride, pad = _pair(stride, "stride", 1), _pair(pad, "pad", 0)
    n_filters, _, kh, kw = w.shape
    cols = im2col(x, (kh, kw), stride=stride, pad=pad)  # (N, C*KH*KW, OH*OW)
    out = w.reshape(n_filters, -1) @ cols + b.reshape(n_filters, 1)  # (N, F, OH*OW)
    oh = conv_output_size(x.shape[2], kh, stride=stride[0], pad=pad[0])
    out = out.reshape(x.shape[0], n_filters, oh, -1)  # (N, F, OH*OW) -> (N, F, OH, OW)
    return out, (x, w, stride, pad, cols)


def conv_backward_naive(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """Backward pass of ``conv_forward`` with loops over (n, f, i, j): the chain rule written out.

    Each output ``out[n, f, i, j]`` used the window ``x_pad[n, :, i*SH:i*SH+KH, j*SW:j*SW+KW]``
    and the filter ``w[f]``, so it sends ``dout[n, f, i, j] * w[f]`` back to that window and
    ``dout[n, f, i, j] * window`` to ``w[f]``; overlapping windows add up. Input pixels no
    window reads (the last rows or columns of a kernel that does not tile the input) get 0.

    Args:
        dout: upstream gradient dL/dout, shape (N, F, OH, OW).
        cache: from ``conv_forward``.

    Returns:
        ``dx`` (N, C, H, W), ``dw`` (F, C, KH, KW), ``db`` (F,).

    Taught in: ch04, 04_7_conv-backward.ipynb
    """
    x, w, (sh, sw), (ph, pw), _ = cache
    dout = _check_dout(dout, x, w, (sh, sw), (ph, pw))
    _, _, height, width = x.shape
    _, _, kh, kw = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dx_pad = np.zeros(x_pad.shape, dtype=np.result_type(dout, w))
    dw = np.zeros(w.shape, dtype=np.result_type(dout, x))
    for n, f, i, j in np.ndindex(*dout.shape):
        rows, columns = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
        dx_pad[n, :, rows, columns] += dout[n, f, i, j] * w[f]       # (C, KH, KW)
        dw[f] += dout[n, f, i, j] * x_pad[n, :, rows, columns]       # (C, KH, KW)
    db = dout.sum(axis=(0, 2, 3))                                     # (N, F, OH, OW) -> (F,)
    return dx_pad[:, :, ph:ph + height, pw:pw + width], dw, db


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int, int], kernel_size: Pair, *,
           stride: Pair = 1, pad: Pair = 0) -> np.ndarray:
    """The adjoint of ``im2col``: add every column back onto the window it came from.

    Where windows overlap, their values add up, so ``col2im(im2col(x))`` is *not* ``x`` (each
    pixel is multiplied by the number of windows that read it); it is exactly what the backward
    pass needs: ``dx = col2im(dcols)``. The layout of ``torch.nn.functional.fold``.

    Args:
        cols: shape (N, C*KH*KW, OH*OW), rows in (C, KH, KW) order as ``im2col`` makes them.
        x_shape: the shape (N, C, H, W) of the images the columns came from.
        kernel_size, stride, pad: as given to ``im2col``.

    Returns:
        An array of shape ``x_shape`` (padding removed).

    Taught in: ch04, 04_7_conv-backward.ipynb
    """
    n_images, channels, height, width = (int(size) for size in x_shape)
    (kh, kw), (sh, sw) = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)
    ph, pw = _pair(pad, "pad", 0)
    oh = conv_output_size(height, kh, stride=sh, pad=ph)
    ow = conv_output_size(width, kw, stride=sw, pad=pw)
    cols = np.asarray(cols)
    if cols.shape != (n_images, channels * kh * kw, oh * ow):
        raise ValueError(f"cols must have shape {(n_images, channels * kh * kw, oh * ow)} for "
                         f"x_shape {tuple(x_shape)}; got {cols.shape}")
    cols = cols.reshape(n_images, channels, kh, kw, oh, ow)  # (N, C*KH*KW, OH*OW) -> 6-D
    x_pad = np.zeros((n_images, channels, height + 2 * ph, width + 2 * pw), dtype=cols.dtype)
    for u in range(kh):          # one strided slice per kernel tap, as in im2col, but added
        for v in range(kw):
            x_pad[:, :, u:u + sh * oh:sh, v:v + sw * ow:sw] += cols[:, :, u, v]
    return x_pad[:, :, ph:ph + height, pw:pw + width]


def conv_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of ``conv_forward`` as matrix products (the fast one).

    With ``Z = W_row @ X_col + b`` per image (``conv2d_im2col``): ``dW_row = sum_n dZ_n X_col_n^T``,
    ``db = sum of dZ``, ``dX_col = W_row^T dZ``, and ``dx = col2im(dX_col)``.

    Args and returns as ``conv_backward_naive``.

    Taught in: ch04, 04_7_conv-backward.ipynb
    """
    x, w, stride, pad, cols = cache
    dout = _check_dout(dout, x, w, stride, pad)
    n_images, n_filters = dout.shape[:2]
    dout_flat = dout.reshape(n_images, n_filters, -1)  # (N, F, OH, OW) -> (N, F, OH*OW)
    # sum_n (F, OH*OW) @ (OH*OW, C*KH*KW) -> (F, C*KH*KW) -> (F, C, KH, KW)
    dw = np.tensordot(dout_flat, cols, axes=([0, 2], [0, 2])).reshape(w.shape)
    dcols = w.reshape(n_filters, -1).T @ dout_flat  # (C*KH*KW, F) @ -> (N, C*KH*KW, OH*OW)
    dx = col2im(dcols, x.shape, w.shape[2:], stride=stride, pad=pad)
    return dx, dw, dout.sum(axis=(0, 2, 3))


def max_pool2d(x: np.ndarray, *, size: Pair, stride: Pair | None = None) -> np.ndarray:
    """Max pooling: the largest value of each window, channel by channel (no padding).

    Args:
        x: feature maps, shape (N, C, H, W).
        size: window, int or (KH, KW).
        stride: step, int or pair; default ``size`` (non-overlapping windows, as in PyTorch's
            ``nn.MaxPool2d`` and Keras's ``MaxPooling2D``).

    Returns:
        Shape (N, C, OH, OW); a window that would cross the border is dropped (floor mode).

    Taught in: ch04, 04_4_pooling-and-receptive-fields.ipynb
    """
    return _pool(x, size, stride, np.maximum)


def avg_pool2d(x: np.ndarray, *, size: Pair, stride: Pair | None = None) -> np.ndarray:
    """Average pooling: the mean of each window, channel by channel. Arguments as ``max_pool2d``.

    Taught in: ch04, 04_4_pooling-and-receptive-fields.ipynb
    """
    x = _check_images(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)  # integer sums (uint8 images!) would overflow
    kh, kw = _pair(size, "size", 1)
    return _pool(x, size, stride, np.add) / (kh * kw)


def receptive_field(layers: Sequence[tuple[int, ...]]) -> list[int]:
    """Receptive-field size (in input pixels) of one unit after each layer of a stack.

    ``r_0 = 1`` and ``r_l = r_{l-1} + (k_l - 1) * d_l * (s_1 * ... * s_{l-1})``: each layer
    widens the field by its (dilated) kernel minus one, measured in steps of the product of
    the strides *before* it.

    Args:
        layers: one ``(kernel, stride)`` or ``(kernel, stride, dilation)`` per layer, square
            kernels; a pooling layer counts like a convolution with the same window and stride.

    Returns:
        ``[r_1, ..., r_L]``, one int per layer.

    Taught in: ch04, 04_4_pooling-and-receptive-fields.ipynb
    """
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise TypeError("layers must be a sequence of (kernel, stride[, dilation]) tuples")
    sizes, field, jump = [], 1, 1
    for index, layer in enumerate(layers):
        if not isinstance(layer, Sequence) or len(layer) not in (2, 3):
            raise ValueError(f"layer {index} must be (kernel, stride) or (kernel, stride, "
                             f"dilation); got {layer!r}")
        kernel, stride, dilation = (*layer, 1) if len(layer) == 2 else layer
        for name, value in (("kernel", kernel), ("stride", stride), ("dilation", dilation)):
            _check_int(value, f"layer {index} {name}", 1)
        field += (kernel - 1) * dilation * jump
        jump *= stride
        sizes.append(int(field))
    return sizes


def _pool(x, size, stride, combine) -> np.ndarray:
    x = _check_images(x)
    kh, kw = _pair(size, "size", 1)
    sh, sw = _pair((kh, kw) if stride is None else stride, "stride", 1)
    oh = conv_output_size(x.shape[2], kh, stride=sh)
    ow = conv_output_size(x.shape[3], kw, stride=sw)
    out = None
    for u in range(kh):          # combine the KH*KW strided slices, one per window offset
        for v in range(kw):
            part = x[:, :, u:u + sh * oh:sh, v:v + sw * ow:sw]  # (N, C, OH, OW)
            out = part.copy() if out is None else combine(out, part)
    return out


def _check_images(x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W); got shape {x.shape} "
                         "(add axes with x[None] or x[:, None])")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x must hold numbers, got dtype {x.dtype}")
    return x


def _check_dout(dout, x, w, stride, pad) -> np.ndarray:
    dout = np.asarray(dout)
    oh = conv_output_size(x.shape[2], w.shape[2], stride=stride[0], pad=pad[0])
    ow = conv_output_size(x.shape[3], w.shape[3], stride=stride[1], pad=pad[1])
    if dout.shape != (x.shape[0], w.shape[0], oh, ow):
        raise ValueError(f"dout must have the shape of the output, {(x.shape[0], w.shape[0], oh, ow)};"
                         f" got {dout.shape}")
    return dout


def _check_conv_args(x, w, b):
    x, w = _check_images(x), np.asarray(w)
    if w.ndim != 4 or w.shape[1] != x.shape[1]:
        raise ValueError(f"w must have shape (F, {x.shape[1]}, KH, KW) for x of shape {x.shape}"
                         f" (one kernel per input channel); got {w.shape}")
    b = np.zeros(w.shape[0], dtype=w.dtype) if b is None else np.asarray(b)
    if b.shape != (w.shape[0],):
        raise ValueError(f"b must have shape ({w.shape[0]},), one bias per filter; got {b.shape}")
    return x, w, b


def _pair(value, name: str, low: int) -> tuple[int, int]:
    pair = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a (height, width) pair; got {value!r}")
    for item in pair:
        _check_int(item, name, low)
    return int(pair[0]), int(pair[1])


def _check_int(value, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
