"""Numpy regularization layers and penalties: inverted dropout, batch normalization, L1/L2.

Layers are forward/backward pairs in the style of ``course_lib.layers``:

- ``dropout_forward(x, *, p, training, rng) -> (out, cache)`` and ``dropout_backward``:
  inverted dropout with ``p`` the probability of *dropping* a unit, as ``torch.nn.Dropout(p)``
  and ``keras.layers.Dropout(rate)``.
- ``batchnorm_forward(x, gamma, beta, *, training, running_mean, running_var, momentum, eps)
  -> (out, cache, new_running_mean, new_running_var)`` and ``batchnorm_backward``: the
  conventions of ``torch.nn.BatchNorm1d`` (biased batch variance to normalise, unbiased
  variance in the running estimate, ``new = (1 - momentum) * old + momentum * batch``).
- ``l1_penalty(w, *, lam)`` and ``l2_penalty(w, *, lam)``: a penalty's value and gradient.

Nothing here mutates its arguments: running statistics are *returned*, not updated in place.

Shapes: N samples, D features; batch norm also takes (N, C, L) or (N, C, H, W) and then
normalises each channel C over every other axis (``BatchNorm1d`` / ``BatchNorm2d``).

Taught in: ch06, 06_3_dropout.ipynb (dropout), 06_4_batch-normalization.ipynb (batch norm),
06_2_weight-penalties.ipynb (penalties).
"""

from __future__ import annotations

import numpy as np

Cache = tuple


def dropout_forward(x: np.ndarray, *, p: float, training: bool,
                    rng: np.random.Generator | None = None) -> tuple[np.ndarray, Cache]:
    """Inverted dropout: zero each unit with probability ``p``, scale survivors by 1/(1-p).

    The scaling keeps ``E[out] = x`` during training, so at inference the layer is the
    identity (no rescaling needed), exactly as ``torch.nn.Dropout`` and ``keras.layers.Dropout``.

    Args:
        x: inputs, any shape.
        p: probability of dropping a unit, in [0, 1] (``p = 1`` drops everything).
        training: True applies a fresh random mask; False returns ``x`` unchanged.
        rng: numpy Generator that draws the mask (needed when training with ``p > 0``).

    Returns:
        ``out`` (shape of x) and ``cache = (mask,)`` where ``mask`` holds 0 or 1/(1-p) per
        entry (``None`` when the layer was the identity).

    Taught in: ch06, 06_3_dropout.ipynb
    """
    x = np.asarray(x)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p is the drop probability and must lie in [0, 1]; got {p}")
    if not training or p == 0.0:
        return x.copy(), (None,)
    if p == 1.0:
        mask = np.zeros(x.shape)
    else:
        if not isinstance(rng, np.random.Generator):
            raise TypeError("pass rng=np.random.default_rng(seed) to draw the dropout mask")
        keep = rng.random(x.shape) >= p          # each unit survives with probability 1 - p
        mask = keep / (1.0 - p)
    mask = mask.astype(np.result_type(x.dtype, np.float32))
    return x * mask, (mask,)


def dropout_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Backward pass of ``dropout_forward``: the same mask, ``dx = dout * mask``.

    Taught in: ch06, 06_3_dropout.ipynb
    """
    (mask,) = cache
    dout = np.asarray(dout)
    if mask is None:
        return dout.copy()
    if dout.shape != mask.shape:
        raise ValueError(f"dout must have the forward output's shape {mask.shape}; got {dout.shape}")
    return dout * mask


def _channel_axes(x: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Axes reduced by batch norm (all but axis 1) and the broadcast shape of a per-channel value."""
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, D) or (N, C, ...); got shape {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return axes, shape


def batchnorm_forward(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    *,
    training: bool,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[np.ndarray, Cache, np.ndarray, np.ndarray]:
    """Batch normalization with ``torch.nn.BatchNorm1d``'s conventions.

    Training: ``x_hat = (x - mu_B) / sqrt(var_B + eps)`` with the batch mean and the *biased*
    batch variance (divide by m), ``out = gamma * x_hat + beta``, and the running statistics
    move towards the batch's: ``new = (1 - momentum) * old + momentum * batch``, where the
    running variance uses the *unbiased* batch variance (divide by m - 1).
    Inference: the running statistics replace the batch's, and they are returned unchanged.

    Args:
        x: (N, D), or (N, C, ...) normalised per channel over all other axes (m values each).
        gamma, beta: scale and shift, shape (D,) (or (C,)).
        training: True uses batch statistics; False uses the running ones.
        running_mean, running_var: shape (D,); ``None`` means a fresh layer's (0 and 1).
        momentum: weight of the new batch in the running averages (PyTorch's 0.1 equals
            Keras's ``momentum=0.9``, which weighs the *old* value).
        eps: added to the variance before the square root.

    Returns:
        ``out`` (shape of x), ``cache`` for ``batchnorm_backward``, ``new_running_mean``,
        ``new_running_var`` (new arrays; the inputs are not modified).

    Taught in: ch06, 06_4_batch-normalization.ipynb
    """
    x = np.asarray(x)
    axes, shape = _channel_axes(x)
    channels = x.shape[1]
    gamma, beta = np.asarray(gamma), np.asarray(beta)
    if gamma.shape != (channels,) or beta.shape != (channels,):
        raise ValueError(f"gamma and beta must have shape ({channels},); got {gamma.shape}, {beta.shape}")
    running_mean = np.zeros(channels) if running_mean is None else np.asarray(running_mean)
    running_var = np.ones(channels) if running_var is None else np.asarray(running_var)
    if running_mean.shape != (channels,) or running_var.shape != (channels,):
        raise ValueError(f"running_mean and running_var must have shape ({channels},)")
    if training:
        m = x.size // channels                   # values per channel
        if m < 2:
            raise ValueError("batch norm in training mode needs more than 1 value per channel")
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)                   # biased: divide by m
        new_running_mean = (1 - momentum) * running_mean + momentum * mean
        new_running_var = (1 - momentum) * running_var + momentum * var * m / (m - 1)
    else:
        mean, var = running_mean, running_var
        new_running_mean, new_running_var = running_mean.copy(), running_var.copy()
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
    out = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    cache = (x_hat, gamma, inv_std, training)
    return out, cache, new_running_mean, new_running_var


def batchnorm_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of ``batchnorm_forward``.

    In training mode the batch mean and variance depend on every input, which gives
    ``dx = inv_std / m * (m * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))`` with
    ``dx_hat = dout * gamma`` (sums over the batch). In inference mode the statistics are
    constants and ``dx = dout * gamma * inv_std``.

    Returns:
        ``dx`` (shape of x), ``dgamma`` and ``dbeta`` (shape (D,)).

    Taught in: ch06, 06_4_batch-normalization.ipynb
    """
    x_hat, gamma, inv_std, training = cache
    dout = np.asarray(dout)
    if dout.shape != x_hat.shape:
        raise ValueError(f"dout must have the forward output's shape {x_hat.shape}; got {dout.shape}")
    axes, shape = _channel_axes(dout)
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    dx_hat = dout * gamma.reshape(shape)
    if not training:
        return dx_hat * inv_std.reshape(shape), dgamma, dbeta
    m = dout.size // dout.shape[1]
    dx = (inv_std.reshape(shape) / m) * (
        m * dx_hat
        - dx_hat.sum(axis=axes).reshape(shape)
        - x_hat * (dx_hat * x_hat).sum(axis=axes).reshape(shape)
    )
    return dx, dgamma, dbeta


def l1_penalty(w: np.ndarray, *, lam: float) -> tuple[float, np.ndarray]:
    """L1 penalty ``lam * sum |w|`` and its (sub)gradient ``lam * sign(w)`` (0 at w = 0).

    Same value as ``keras.regularizers.L1(l1=lam)``.

    Taught in: ch06, 06_2_weight-penalties.ipynb
    """
    w = np.asarray(w)
    if lam < 0:
        raise ValueError(f"lam must be >= 0; got {lam}")
    return float(lam * np.abs(w).sum()), lam * np.sign(w)


def l2_penalty(w: np.ndarray, *, lam: float) -> tuple[float, np.ndarray]:
    """L2 penalty ``(lam / 2) * sum w**2`` and its gradient ``lam * w``.

    With the 1/2, adding the gradient to SGD's update is PyTorch's ``weight_decay=lam``.
    Keras's ``keras.regularizers.L2(l2=c)`` adds ``c * sum w**2`` (no 1/2), i.e. ``lam = 2c``.

    Taught in: ch06, 06_2_weight-penalties.ipynb
    """
    w = np.asarray(w)
    if lam < 0:
        raise ValueError(f"lam must be >= 0; got {lam}")
    return float(0.5 * lam * np.sum(w * w)), lam * w
