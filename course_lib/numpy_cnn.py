"""A small CNN written entirely in numpy: conv - ReLU - max-pool - affine - softmax.

Built from the forward/backward pairs of ``course_lib.conv`` (convolution), ``course_lib.layers``
(ReLU, affine, softmax cross-entropy) and ``course_lib.pooling`` (max pooling); trained in
04_8 with the update rules of ``course_lib.optim``. ``torch_twin`` builds the same network in
PyTorch with the same weights, so the two can be compared step by step.

Parameters (a dict of float64 arrays): ``w1`` (F, C, K, K) and ``b1`` (F,) of a "same"
convolution (stride 1, padding K // 2); ``w2`` (F * H/P * W/P, M) and ``b2`` (M,) of the affine
layer after P x P max pooling, in the layout of ``layers.affine_forward`` (PyTorch's
``nn.Linear.weight`` is its transpose).

Taught in: ch04, 04_8_numpy-cnn.ipynb
"""

from __future__ import annotations

import numpy as np

from course_lib import conv, layers, pooling


def init_cnn_params(image_shape: tuple[int, int, int] = (1, 8, 8), *, num_filters: int = 16,
                    kernel: int = 3, pool: int = 2, num_classes: int = 10,
                    seed: int = 0) -> dict[str, np.ndarray]:
    """He-initialised parameters (N(0, 2 / fan_in), zero biases) of the numpy CNN, float64.

    Args:
        image_shape: (C, H, W) of one input image; H and W divisible by ``pool``.
        num_filters: F, filters of the convolution. kernel: K, odd (so "same" padding exists).
        pool: P, the max-pooling window and stride. num_classes: M, outputs.
        seed: seed of the weights.

    Returns:
        ``{"w1": (F, C, K, K), "b1": (F,), "w2": (F*(H/P)*(W/P), M), "b2": (M,)}``.

    Taught in: ch04, 04_8_numpy-cnn.ipynb
    """
    channels, height, width = image_shape
    if kernel % 2 == 0:
        raise ValueError(f"kernel must be odd so that 'same' padding exists; got {kernel}")
    if height % pool or width % pool:
        raise ValueError(f"pool={pool} must divide the image size {(height, width)}")
    rng = np.random.default_rng(seed)
    fan_in_conv = channels * kernel * kernel
    features = num_filters * (height // pool) * (width // pool)
    return {
        "w1": rng.normal(0.0, np.sqrt(2.0 / fan_in_conv),
                         size=(num_filters, channels, kernel, kernel)),
        "b1": np.zeros(num_filters),
        "w2": rng.normal(0.0, np.sqrt(2.0 / features), size=(features, num_classes)),
        "b2": np.zeros(num_classes),
    }


def cnn_forward(params: dict[str, np.ndarray], x: np.ndarray, *,
                pool: int = 2) -> tuple[np.ndarray, tuple]:
    """Forward pass: logits of images ``x`` (N, C, H, W), and the cache ``cnn_backward`` needs.

    Taught in: ch04, 04_8_numpy-cnn.ipynb
    """
    pad = params["w1"].shape[-1] // 2  # "same" convolution
    z1, conv_cache = conv.conv_forward(x, params["w1"], params["b1"], pad=pad)  # (N, F, H, W)
    a1, relu_cache = layers.relu_forward(z1)
    p1, pool_cache = pooling.max_pool_forward(a1, size=pool)  # (N, F, H/P, W/P)
    logits, affine_cache = layers.affine_forward(p1, params["w2"], params["b2"])  # (N, M)
    return logits, (conv_cache, relu_cache, pool_cache, affine_cache)


def cnn_backward(dlogits: np.ndarray, cache: tuple) -> dict[str, np.ndarray]:
    """Backward pass from ``dlogits`` (N, M): the gradient of every parameter, keys of params.

    Taught in: ch04, 04_8_numpy-cnn.ipynb
    """
    conv_cache, relu_cache, pool_cache, affine_cache = cache
    dp1, dw2, db2 = layers.affine_backward(dlogits, affine_cache)  # dp1 (N, F, H/P, W/P)
    da1 = pooling.max_pool_backward(dp1, pool_cache)               # (N, F, H, W)
    dz1 = layers.relu_backward(da1, relu_cache)
    _, dw1, db1 = conv.conv_backward(dz1, conv_cache)
    return {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}


def cnn_loss(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, *,
             pool: int = 2) -> tuple[float, dict[str, np.ndarray]]:
    """Mean softmax cross-entropy of the CNN on ``(x, y)`` and the gradients of every parameter.

    Taught in: ch04, 04_8_numpy-cnn.ipynb
    """
    logits, cache = cnn_forward(params, x, pool=pool)
    loss, dlogits = layers.softmax_cross_entropy(logits, y)
    return loss, cnn_backward(dlogits, cache)


def torch_twin(params: dict[str, np.ndarray], *, pool: int = 2):
    """The same network as a PyTorch ``nn.Sequential`` holding copies of ``params`` (float64).

    ``Conv2d(C, F, K, padding=K//2) - ReLU - MaxPool2d(P) - Flatten - Linear``; the linear
    weight is ``w2.T`` (PyTorch stores (M, D)), and ``Flatten`` reads (F, H, W) in the order
    ``affine_forward``'s reshape does.

    Taught in: ch04, 04_8_numpy-cnn.ipynb
    """
    import torch
    from torch import nn

    num_filters, channels, kernel, _ = params["w1"].shape
    features, num_classes = params["w2"].shape
    model = nn.Sequential(
        nn.Conv2d(channels, num_filters, kernel, padding=kernel // 2), nn.ReLU(),
        nn.MaxPool2d(pool), nn.Flatten(), nn.Linear(features, num_classes),
    ).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(params["w1"]))
        model[0].bias.copy_(torch.from_numpy(params["b1"]))
        model[4].weight.copy_(torch.from_numpy(params["w2"].T))
        model[4].bias.copy_(torch.from_numpy(params["b2"]))
    return model
