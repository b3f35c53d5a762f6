"""Max and average pooling as numpy forward/backward pairs with a cache (NCHW).

- ``max_pool_forward`` / ``max_pool_backward``: each window's gradient goes to the one input
  that was its maximum; on ties, to the **first** maximum in row-major order inside the window
  (PyTorch's CPU convention, and ``np.argmax``'s).
- ``avg_pool_forward`` / ``avg_pool_backward``: each window spreads its gradient evenly,
  ``dout / (KH*KW)`` to every input it averaged (padding zeros included in the count, PyTorch's
  default ``count_include_pad=True``).

Windows may overlap (stride < size); then the gradients an input receives from several windows
add up. ``pad`` follows PyTorch: max pooling pads with -inf (a padded value is never the
maximum), average pooling with zeros, and ``pad`` is at most half the window.
The forward-only ``max_pool2d`` / ``avg_pool2d`` of ``course_lib.conv`` give the same outputs.

Taught in: ch04, 04_7_conv-backward.ipynb; used in 04_8_numpy-cnn.ipynb.
"""

from __future__ import annotations

import numpy as np

from course_lib.conv import Pair, _check_images, _pair, conv_output_size


def max_pool_forward(x: np.ndarray, *, size: Pair, stride: Pair | None = None,
                     pad: Pair = 0) -> tuple[np.ndarray, tuple]:
    """Max pooling, forward pass with a cache.

    Args:
        x: feature maps, shape (N, C, H, W), floating point.
        size: window, int or (KH, KW). stride: int or pair, default ``size``.
        pad: -inf added on each side, int or pair, at most half the window.

    Returns:
        ``out`` (N, C, OH, OW) and ``cache = (x.shape, argmax, geometry)``: ``argmax`` (N, C, OH,
        OW) holds the position ``u * KW + v`` of each window's (first) maximum.

    Taught in: ch04, 04_7_conv-backward.ipynb
    """
    windows, geometry = _windows(x, size, stride, pad, -np.inf)  # (KH*KW, N, C, OH, OW)
    argmax = np.argmax(windows, axis=0)                            # first maximum on ties
    out = np.take_along_axis(windows, argmax[None], axis=0)[0]
    return out, (np.shape(x), argmax, geometry)


def max_pool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of ``max_pool_forward``: ``dout`` routed to each window's maximum.

    Args:
        dout: upstream gradient, shape (N, C, OH, OW).
        cache: from ``max_pool_forward``.

    Returns:
        ``dx`` of shape (N, C, H, W); zero wherever no window took its maximum.

    Taught in: ch04, 04_7_conv-backward.ipynb
    """
    x_shape, argmax, geometry = cache
    dout = _check_dout(dout, argmax.shape)
    taps = geometry[0][0] * geometry[0][1]
    dwindows = np.where(np.arange(taps).reshape(-1, 1, 1, 1, 1) == argmax, dout, 0.0)
    return _add_windows(dwindows.astype(dout.dtype), x_shape, geometry)


def avg_pool_forward(x: np.ndarray, *, size: Pair, stride: Pair | None = None,
                     pad: Pair = 0) -> tuple[np.ndarray, tuple]:
    """Average pooling, forward pass with a cache (arguments as ``max_pool_forward``).

    Returns:
        ``out`` (N, C, OH, OW) and ``cache = (x.shape, geometry)``.

    Taught in: ch04, 04_7_conv-backward.ipynb
    """
    windows, geometry = _windows(x, size, stride, pad, 0.0)
    return windows.mean(axis=0), (np.shape(x), geometry)


def avg_pool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of ``avg_pool_forward``: ``dout / (KH*KW)`` to every input of each window.

    Returns:
        ``dx`` of shape (N, C, H, W).

    Taught in: ch04, 04_7_conv-backward.ipynb
    """
    x_shape, geometry = cache
    (kh, kw), _, _, out_shape = geometry
    dout = _check_dout(dout, out_shape)
    dwindows = np.broadcast_to(dout / (kh * kw), (kh * kw, *dout.shape))
    return _add_windows(dwindows, x_shape, geometry)


def _windows(x, size, stride, pad, fill):
    """All windows as a (KH*KW, N, C, OH, OW) stack: one strided slice per window offset."""
    x = _check_images(x)
    if x.dtype.kind != "f":
        raise TypeError(f"x must be floating point (gradients are), got dtype {x.dtype}")
    kh, kw = _pair(size, "size", 1)
    sh, sw = _pair((kh, kw) if stride is None else stride, "stride", 1)
    ph, pw = _pair(pad, "pad", 0)
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"pad must be at most half the window, as in PyTorch; got pad "
                         f"{(ph, pw)} for a window of {(kh, kw)}")
    oh = conv_output_size(x.shape[2], kh, stride=sh, pad=ph)
    ow = conv_output_size(x.shape[3], kw, stride=sw, pad=pw)
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    windows = np.stack([x_pad[:, :, u:u + sh * oh:sh, v:v + sw * ow:sw]  # each (N, C, OH, OW)
                        for u in range(kh) for v in range(kw)])
    out_shape = (x.shape[0], x.shape[1], oh, ow)
    return windows, ((kh, kw), (sh, sw), (ph, pw), out_shape)


def _add_windows(dwindows, x_shape, geometry) -> np.ndarray:
    """Adjoint of ``_windows``: add each offset's (N, C, OH, OW) slice back onto the input."""
    (kh, kw), (sh, sw), (ph, pw), (_, _, oh, ow) = geometry
    n_images, channels, height, width = x_shape
    dx_pad = np.zeros((n_images, channels, height + 2 * ph, width + 2 * pw),
                      dtype=dwindows.dtype)
    for tap in range(kh * kw):
        u, v = divmod(tap, kw)
        dx_pad[:, :, u:u + sh * oh:sh, v:v + sw * ow:sw] += dwindows[tap]
    return dx_pad[:, :, ph:ph + height, pw:pw + width]


def _check_dout(dout, out_shape) -> np.ndarray:
    dout = np.asarray(dout)
    if dout.shape != tuple(out_shape):
        raise ValueError(f"dout must have the shape of the output, {tuple(out_shape)}; "
                         f"got {dout.shape}")
    return dout
