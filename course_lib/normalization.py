"""Normalization beyond the batch: layer, group and instance norm in numpy, and a BN-vs-GN setup.

Batch normalization (``course_lib.regularization.batchnorm_forward``) standardizes each channel
over the batch. The layers here standardize each *sample* on its own, so their output never
depends on the other samples of the batch and training and inference compute the same thing:

- ``layernorm_forward(x, gamma, beta, *, eps) -> (out, cache)`` and ``layernorm_backward``:
  every sample over all its features, ``torch.nn.LayerNorm(x.shape[1:])``; ``gamma`` and
  ``beta`` have the shape of one sample (an elementwise affine, as PyTorch's).
- ``groupnorm_forward(x, gamma, beta, *, num_groups, eps) -> (out, cache)`` and
  ``groupnorm_backward``: every sample over each group of ``C // num_groups`` channels (and all
  positions), ``torch.nn.GroupNorm(num_groups, C)``; ``gamma``/``beta`` are per channel (C,).
- ``instancenorm_forward`` / ``instancenorm_backward``: group norm with one channel per group
  (``torch.nn.InstanceNorm2d(C, affine=True)``).

All three share one backward formula with batch norm, only over other axes. Nothing here
mutates its arguments. Shapes: N samples, C channels (or D features), H, W.

The rest supports the lesson's figure and its small-batch experiment:
``plot_normalization_axes`` draws what each normalization averages over in the (N, C, H, W)
cube; ``build_small_batch_cnn`` and ``train_small_batch`` are the BN-vs-GN setup on the digits.

Taught in: ch06, 06_8_layer-and-group-normalization.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Cache = tuple


def _standardize(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``x - mean`` and the biased variance over ``axes`` (kept as size-1 axes)."""
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)    # biased: divide by m, as every framework does
    return x - mean, var


def _standardize_backward(dx_hat: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray,
                          axes: tuple[int, ...]) -> np.ndarray:
    """dL/dx when ``x_hat`` was standardized over ``axes`` (m values per statistic).

    ``dx = inv_std / m * (m dx_hat - sum(dx_hat) - x_hat sum(dx_hat x_hat))``: the batch-norm
    formula, with the sums over the axes that shared one mean and variance.
    """
    m = int(np.prod([x_hat.shape[axis] for axis in axes]))
    return (inv_std / m) * (
        m * dx_hat
        - dx_hat.sum(axis=axes, keepdims=True)
        - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True)
    )


def _check_eps(eps: float) -> None:
    if not eps > 0:
        raise ValueError(f"eps must be > 0 (it keeps the division finite); got {eps}")


def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *,
                      eps: float = 1e-5) -> tuple[np.ndarray, Cache]:
    """Layer normalization: standardize each sample over all its features, then scale and shift.

    ``x_hat[n] = (x[n] - mean(x[n])) / sqrt(var(x[n]) + eps)``, ``out = gamma * x_hat + beta``,
    with the biased variance; ``torch.nn.LayerNorm(x.shape[1:], eps=eps)`` and Keras's
    ``LayerNormalization(axis=[1, ..., k], epsilon=eps)``.

    Args:
        x: (N, D) or (N, C, H, W) (any (N, ...) with at least one feature per sample).
        gamma, beta: scale and shift with the shape of one sample, ``x.shape[1:]``.
        eps: added to the variance before the square root (PyTorch's default; Keras's is 1e-3).

    Returns:
        ``out`` (shape of x) and ``cache = (x_hat, gamma, inv_std)`` for ``layernorm_backward``.

    Taught in: ch06, 06_8_layer-and-group-normalization.ipynb
    """
    x, gamma, beta = np.asarray(x), np.asarray(gamma), np.asarray(beta)
    if x.ndim < 2 or x[0].size == 0:
        raise ValueError(f"x must have shape (N, D) or (N, C, H, W); got {x.shape}")
    if gamma.shape != x.shape[1:] or beta.shape != x.shape[1:]:
        raise ValueError(f"gamma and beta must have the shape of one sample {x.shape[1:]}; "
                         f"got {gamma.shape} and {beta.shape}")
    _check_eps(eps)
    axes = tuple(range(1, x.ndim))                      # every axis but the batch
    centered, var = _standardize(x, axes)
    inv_std = 1.0 / np.sqrt(var + eps)                   # (N, 1, ..., 1)
    x_hat = centered * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std)


def layernorm_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of ``layernorm_forward``.

    Returns:
        ``dx`` (shape of x), ``dgamma`` and ``dbeta`` (shape of one sample): the sums over the
        batch of ``dout * x_hat`` and ``dout``.

    Taught in: ch06, 06_8_layer-and-group-normalization.ipynb
    """
    x_hat, gamma, inv_std = cache
    dout = np.asarray(dout)
    if dout.shape != x_hat.shape:
        raise ValueError(f"dout must have the forward output's shape {x_hat.shape}; "
                         f"got {dout.shape}")
    dgamma = (dout * x_hat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    axes = tuple(range(1, dout.ndim))
    dx = _standardize_backward(dout * gamma, x_hat, inv_std, axes)
    return dx, dgamma, dbeta


def _grouped_shape(shape: tuple[int, ...], num_groups: int) -> tuple[int, ...]:
    """(N, C, ...) -> (N, G, C // G, ...), checking that G divides C."""
    if len(shape) < 2:
        raise ValueError(f"x must have shape (N, C) or (N, C, H, W); got {shape}")
    channels = shape[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) \
            or num_groups < 1 or channels % num_groups:
        raise ValueError(f"num_groups must be a positive int that divides C = {channels}; "
                         f"got {num_groups!r}")
    return (shape[0], num_groups, channels // num_groups) + tuple(shape[2:])


def groupnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *, num_groups: int,
                      eps: float = 1e-5) -> tuple[np.ndarray, Cache]:
    """Group normalization: standardize each sample over each group of channels.

    The C channels are split into ``num_groups`` consecutive groups of C // G; each (sample,
    group) gets its own mean and biased variance over its channels and all positions, then
    ``out = gamma[c] * x_hat + beta[c]`` per channel. ``num_groups=1`` is layer norm with a
    per-channel affine; ``num_groups=C`` is instance norm. ``torch.nn.GroupNorm(G, C, eps)``
    and Keras's ``GroupNormalization(groups=G, epsilon=eps)`` (channels last there).

    Args:
        x: (N, C), (N, C, L) or (N, C, H, W).
        gamma, beta: per-channel scale and shift, shape (C,).
        num_groups: G, a divisor of C.
        eps: added to the variance before the square root.

    Returns:
        ``out`` (shape of x) and ``cache`` for ``groupnorm_backward``.

    Taught in: ch06, 06_8_layer-and-group-normalization.ipynb
    """
    x, gamma, beta = np.asarray(x), np.asarray(gamma), np.asarray(beta)
    grouped = _grouped_shape(x.shape, num_groups)
    channels = x.shape[1]
    if gamma.shape != (channels,) or beta.shape != (channels,):
        raise ValueError(f"gamma and beta must have shape ({channels},); "
                         f"got {gamma.shape} and {beta.shape}")
    _check_eps(eps)
    affine_shape = (1, channels) + (1,) * (x.ndim - 2)   # broadcasts over N, H, W
    axes = tuple(range(2, len(grouped)))                 # C // G and every position
    centered, var = _standardize(x.reshape(grouped), axes)  # (N, C, ...) -> (N, G, C//G, ...)
    inv_std = 1.0 / np.sqrt(var + eps)                   # (N, G, 1, ..., 1)
    x_hat = (centered * inv_std).reshape(x.shape)        # back to (N, C, ...)
    out = gamma.reshape(affine_shape) * x_hat + beta.reshape(affine_shape)
    return out, (x_hat, gamma, inv_std, num_groups)


def groupnorm_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of ``groupnorm_forward`` (and of ``instancenorm_forward``).

    Returns:
        ``dx`` (shape of x), ``dgamma`` and ``dbeta`` (shape (C,)), summed over the batch and
        every position.

    Taught in: ch06, 06_8_layer-and-group-normalization.ipynb
    """
    x_hat, gamma, inv_std, num_groups = cache
    dout = np.asarray(dout)
    if dout.shape != x_hat.shape:
        raise ValueError(f"dout must have the forward output's shape {x_hat.shape}; "
                         f"got {dout.shape}")
    channel_axes = (0,) + tuple(range(2, dout.ndim))     # all but C
    dgamma = (dout * x_hat).sum(axis=channel_axes)
    dbeta = dout.sum(axis=channel_axes)
    affine_shape = (1, dout.shape[1]) + (1,) * (dout.ndim - 2)
    grouped = _grouped_shape(dout.shape, num_groups)
    dx_hat = (dout * gamma.reshape(affine_shape)).reshape(grouped)  # (N, G, C//G, ...)
    axes = tuple(range(2, len(grouped)))
    dx = _standardize_backward(dx_hat, x_hat.reshape(grouped), inv_std, axes)
    return dx.reshape(dout.shape), dgamma, dbeta


def instancenorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *,
                         eps: float = 1e-5) -> tuple[np.ndarray, Cache]:
    """Instance normalization: each sample and channel over its positions alone.

    Group norm with one channel per group, ``groupnorm_forward(x, ..., num_groups=C)``;
    ``torch.nn.InstanceNorm2d(C, affine=True, eps=eps)`` in training mode.

    Taught in: ch06, 06_8_layer-and-group-normalization.ipynb
    """
    x = np.asarray(x)
    if x.ndim < 3:
        raise ValueError(f"instance norm needs positions to average over: x of shape "
                         f"(N, C, L) or (N, C, H, W); got {x.shape}")
    return groupnorm_forward(x, gamma, beta, num_groups=x.shape[1], eps=eps)


def instancenorm_backward(dout: np.ndarray,
                          cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of ``instancenorm_forward`` (that of group norm).

    Taught in: ch06, 06_8_layer-and-group-normalization.ipynb
    """
    return groupnorm_backward(dout, cache)


NORMALIZATIONS = ("batch", "layer", "instance", "group")


def plot_normalization_axes(*, num_groups: int = 2, axes: Sequence | None = None):
    """Four (N, C, H*W) cubes; shaded: the values that share one mean and variance.

    The figure of Wu & He (2018, Fig. 2): batch norm shades one channel across the batch,
    layer norm one sample, instance norm one sample and channel, group norm one sample and
    a group of ``C // num_groups`` channels.

    Returns:
        The matplotlib figure.

    Taught in: ch06, 06_8_layer-and-group-normalization.ipynb
    """
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # noqa: F401 - registers 3d

    size_n, size_c, size_hw = 4, 6, 5
    shaded = {  # (n, c) -> shaded? for each normalization, every position hw shaded alike
        "batch": lambda n, c: c == 0,
        "layer": lambda n, c: n == 0,
        "instance": lambda n, c: n == 0 and c == 0,
        "group": lambda n, c: n == 0 and c < size_c // num_groups,
    }
    if axes is None:
        fig = plt.figure(figsize=(12.5, 3.2))
        axes = [fig.add_subplot(1, 4, i + 1, projection="3d") for i in range(4)]
    fig = axes[0].figure
    for ax, name in zip(axes, NORMALIZATIONS):
        filled = np.zeros((size_n, size_c, size_hw), dtype=bool)
        for n in range(size_n):
            for c in range(size_c):
                filled[n, c, :] = shaded[name](n, c)
        colors = np.where(filled[..., None], np.array([0.2, 0.45, 0.8, 0.9]),
                          np.array([0.92, 0.92, 0.92, 0.35]))
        ax.voxels(np.ones_like(filled), facecolors=colors, edgecolor=(0, 0, 0, 0.3))
        ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
        for label, setter in (("N", ax.set_xlabel), ("C", ax.set_ylabel),
                              ("HW", ax.set_zlabel)):
            setter(label, labelpad=-14)
        ax.set_title(f"{name} norm")
        ax.view_init(elev=20, azim=-60)
    fig.subplots_adjust(left=0.0, right=0.96, bottom=0.02, top=0.92, wspace=0.12)
    return fig


def build_small_batch_cnn(norm: str, *, num_groups: int = 4):
    """The digits CNN of the small-batch experiment, with BatchNorm2d or GroupNorm layers.

    conv 3x3 (16) -> norm -> ReLU -> pool -> conv 3x3 (32) -> norm -> ReLU -> pool ->
    conv 2x2 (64) -> norm -> ReLU -> linear (10), on (N, 1, 8, 8): the last conv outputs 1x1
    maps, so batch norm there averages only N values per channel.

    Args:
        norm: ``"batch"`` or ``"group"``.
        num_groups: groups of each GroupNorm (a divisor of 16).

    Taught in: ch06, 06_8_layer-and-group-normalization.ipynb
    """
    from torch import nn

    if norm not in ("batch", "group"):
        raise ValueError(f"norm must be 'batch' or 'group'; got {norm!r}")

    def norm_layer(channels: int):
        return (nn.BatchNorm2d(channels) if norm == "batch"
                else nn.GroupNorm(num_groups, channels))

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), norm_layer(16), nn.ReLU(),
        nn.MaxPool2d(2),                                   # (N, 16, 8, 8) -> (N, 16, 4, 4)
        nn.Conv2d(16, 32, 3, padding=1, bias=False), norm_layer(32), nn.ReLU(),
        nn.MaxPool2d(2),                                   # (N, 32, 4, 4) -> (N, 32, 2, 2)
        nn.Conv2d(32, 64, 2, bias=False), norm_layer(64), nn.ReLU(),  # -> (N, 64, 1, 1)
        nn.Flatten(),                                      # (N, 64, 1, 1) -> (N, 64)
        nn.Linear(64, 10),
    )


def train_small_batch(config: dict, *, seed: int) -> dict[str, float]:
    """Train ``build_small_batch_cnn(config["norm"])`` on the digits; the experiment's train_fn.

    SGD with momentum 0.9 and ``config["lr"]`` for ``config["num_epochs"]`` epochs of batches
    of ``config["batch_size"]`` (last incomplete batch dropped), on the CPU, in float32.

    Returns:
        ``{"val_accuracy": ..., "val_accuracy_train_mode": ...}``: the validation accuracy in
        eval mode (running statistics) and in train mode (statistics of the validation batch).

    Taught in: ch06, 06_8_layer-and-group-normalization.ipynb
    """
    import torch
    from torch.nn import functional as F

    from course_lib.data import load_digits_splits

    splits = load_digits_splits(image_shape="nchw")
    torch.manual_seed(seed)
    model = build_small_batch_cnn(config["norm"])
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    x_train, y_train = torch.from_numpy(splits.x_train), torch.from_numpy(splits.y_train)
    batch_size = config["batch_size"]
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(config["num_epochs"]):
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(x_train) - batch_size + 1, batch_size):
            index = order[start:start + batch_size]
            loss = F.cross_entropy(model(x_train[index]), y_train[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    x_val = torch.from_numpy(splits.x_val)
    metrics = {}
    with torch.no_grad():
        for key, training in (("val_accuracy", False), ("val_accuracy_train_mode", True)):
            model.train(training)
            predicted = model(x_val).argmax(dim=1).numpy()
            metrics[key] = float((predicted == splits.y_val).mean())
    return metrics
