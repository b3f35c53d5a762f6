"""Numpy layers as forward/backward pairs, the losses that end a network, and a 2-layer MLP.

Every layer is a pair (cs231n style):

- ``*_forward(inputs...) -> (out, cache)``: the output and what the backward pass needs;
- ``*_backward(dout, cache) -> gradients``: given ``dout = dL/dout`` (same shape as ``out``),
  the gradients of the loss with respect to the forward's inputs, in the same order.

Losses return ``(loss, d_input)``: the scalar mean loss and its gradient with respect to the
prediction, which is where the backward pass starts. Nothing here mutates its arguments.

Shapes: N samples, D input features, H hidden units, M outputs, K classes.

Taught in: ch02, 02_1_losses.ipynb (losses, the hinge loss ``svm_loss``), 02_3_backprop.ipynb (layers, the 2-layer net);
used in 02_4_autograd-and-training-loop.ipynb and 02_5_vanishing-gradients.ipynb.
"""

from __future__ import annotations

import numpy as np

Cache = tuple


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Fully connected (dense, linear) layer: ``out = x @ w + b``.

    Args:
        x: inputs of shape (N, D), or (N, d_1, ..., d_k) with D = d_1 * ... * d_k (each
            sample is flattened first).
        w: weights of shape (D, M) (the layout of a Keras ``Dense`` kernel; PyTorch's
            ``nn.Linear.weight`` is its transpose, (M, D)).
        b: biases of shape (M,).

    Returns:
        ``out`` of shape (N, M) and ``cache = (x, w)`` for ``affine_backward``.

    Taught in: ch02, 02_3_backprop.ipynb
    """
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis, shape (N, D); got shape {x.shape}")
    x_flat = x.reshape(x.shape[0], -1)  # (N, d_1, ..., d_k) -> (N, D)
    if w.ndim != 2 or w.shape[0] != x_flat.shape[1]:
        raise ValueError(f"w must have shape ({x_flat.shape[1]}, M) for x of shape {x.shape}; "
                         f"got {w.shape}")
    if b.shape != (w.shape[1],):
        raise ValueError(f"b must have shape ({w.shape[1]},); got {b.shape}")
    out = x_flat @ w + b
    return out, (x, w)


def affine_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of ``affine_forward``.

    Args:
        dout: upstream gradient dL/dout, shape (N, M).
        cache: ``(x, w)`` from ``affine_forward``.

    Returns:
        ``dx`` (shape of x), ``dw`` (D, M) = x^T dout, ``db`` (M,) = dout summed over the batch.

    Taught in: ch02, 02_3_backprop.ipynb
    """
    x, w = cache
    dout = np.asarray(dout)
    x_flat = x.reshape(x.shape[0], -1)  # (N, d_1, ..., d_k) -> (N, D)
    if dout.shape != (x_flat.shape[0], w.shape[1]):
        raise ValueError(f"dout must have shape {(x_flat.shape[0], w.shape[1])}; got {dout.shape}")
    dx = (dout @ w.T).reshape(x.shape)  # (N, M) @ (M, D) -> (N, D) -> shape of x
    dw = x_flat.T @ dout                # (D, N) @ (N, M) -> (D, M)
    db = dout.sum(axis=0)               # (N, M) -> (M,)
    return dx, dw, db


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """ReLU, ``out = max(0, x)`` elementwise; any shape.

    Returns:
        ``out`` (shape of x) and ``cache = (x,)``.

    Taught in: ch02, 02_3_backprop.ipynb
    """
    x = np.asarray(x)
    return np.maximum(x, 0), (x,)


def relu_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Backward pass of ``relu_forward``: ``dx = dout * (x > 0)``.

    The derivative at exactly 0 is taken as 0, as PyTorch and TensorFlow do.

    Taught in: ch02, 02_3_backprop.ipynb
    """
    (x,) = cache
    return np.where(x > 0, dout, 0.0)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Logistic sigmoid ``out = 1 / (1 + exp(-x))`` elementwise, without overflow; any shape.

    Returns:
        ``out`` (shape of x) in (0, 1) and ``cache = (out,)``: the backward pass needs only
        the output, since sigma'(x) = sigma(x) (1 - sigma(x)).

    Taught in: ch02, 02_5_vanishing-gradients.ipynb
    """
    x = np.asarray(x, dtype=np.result_type(np.asarray(x).dtype, np.float32))
    e = np.exp(-np.abs(x))  # exp of a non-positive number never overflows
    out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype)
    return out, (out,)


def sigmoid_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Backward pass of ``sigmoid_forward``: ``dx = dout * out * (1 - out)`` (at most dout/4).

    Taught in: ch02, 02_5_vanishing-gradients.ipynb
    """
    (out,) = cache
    return dout * out * (1.0 - out)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """``log softmax`` along the last axis, computed as ``z - max(z) - log(sum(exp(z - max(z))))``.

    Subtracting the row maximum keeps ``exp`` from overflowing, and the log is never taken of a
    probability that has underflowed to 0, so the result is finite for any finite logits.

    Taught in: ch02, 02_1_losses.ipynb
    """
    logits = np.asarray(logits, dtype=np.result_type(np.asarray(logits).dtype, np.float32))
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    ``loss = -(1/N) sum_n log softmax(logits_n)[y_n]``, the loss of PyTorch's
    ``nn.CrossEntropyLoss()`` and Keras's ``SparseCategoricalCrossentropy(from_logits=True)``.

    Args:
        logits: unnormalised scores, shape (N, K) (not probabilities).
        y: integer class labels in ``0..K-1``, shape (N,).

    Returns:
        ``loss`` (a float) and ``dlogits`` of shape (N, K) = (softmax(logits) - onehot(y)) / N.

    Taught in: ch02, 02_1_losses.ipynb
    """
    logits, y = np.asarray(logits), np.asarray(y)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, K); got {logits.shape}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}; "
                        "pass class indices, not one-hot vectors or floats")
    num_samples, num_classes = logits.shape
    if y.shape != (num_samples,):
        raise ValueError(f"y must have shape ({num_samples},); got {y.shape}")
    if num_samples and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}; got {y.min()}..{y.max()}")
    log_probs = log_softmax(logits)                               # (N, K)
    loss = -log_probs[np.arange(num_samples), y].mean()
    dlogits = np.exp(log_probs)                                   # softmax, (N, K)
    dlogits[np.arange(num_samples), y] -= 1.0                     # softmax - onehot
    return float(loss), dlogits / num_samples


def mse_loss(y_hat: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error over every entry, and its gradient with respect to ``y_hat``.

    ``loss = mean((y_hat - y)**2)``, the loss of PyTorch's ``nn.MSELoss()`` and Keras's
    ``MeanSquaredError()`` (for targets of the same shape as the predictions).

    Args:
        y_hat: predictions, any shape, e.g. (N,) or (N, M).
        y: targets, the same shape.

    Returns:
        ``loss`` (a float) and ``dy_hat`` = 2 (y_hat - y) / y_hat.size, shape of y_hat.

    Taught in: ch02, 02_1_losses.ipynb
    """
    y_hat, y = np.asarray(y_hat), np.asarray(y)
    if y_hat.shape != y.shape:
        raise ValueError(f"y_hat and y must have the same shape; got {y_hat.shape} and {y.shape} "
                         "(a (N, 1) vs (N,) mismatch would broadcast to (N, N))")
    if y_hat.size == 0:
        raise ValueError("y_hat is empty")
    diff = y_hat - y
    return float(np.mean(diff**2)), 2.0 * diff / diff.size


def svm_loss(scores: np.ndarray, y: np.ndarray, *,
             margin: float = 1.0) -> tuple[float, np.ndarray]:
    """Multiclass SVM (hinge) loss of Weston & Watkins / cs231n, and its gradient.

    ``loss = (1/N) sum_n sum_{k != y_n} max(0, scores[n, k] - scores[n, y_n] + margin)``: every
    wrong class whose score comes within ``margin`` of the correct one costs the gap. PyTorch's
    ``nn.MultiMarginLoss(margin=margin)`` also divides each sample's sum by K, so it equals
    ``loss / K``. The hinge is not differentiable where a term is exactly 0; as PyTorch, the
    gradient counts only terms that are strictly positive.

    Args:
        scores: class scores, shape (N, K).
        y: integer class labels in ``0..K-1``, shape (N,).
        margin: the required gap between the correct score and each wrong one (> 0).

    Returns:
        ``loss`` (a float) and ``dscores`` of shape (N, K): +1/N for each wrong class with a
        positive term, minus (their count)/N for the correct class.

    Taught in: ch02, 02_1_losses.ipynb
    """
    scores, y = np.asarray(scores), np.asarray(y)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must have shape (N, K) with K >= 2; got {scores.shape}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    num_samples, num_classes = scores.shape
    if y.shape != (num_samples,):
        raise ValueError(f"y must have shape ({num_samples},); got {y.shape}")
    if num_samples == 0:
        raise ValueError("scores is empty: the mean loss of no samples is undefined")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}; got {y.min()}..{y.max()}")
    if not margin > 0:
        raise ValueError(f"margin must be > 0; got {margin}")
    rows = np.arange(num_samples)
    correct = scores[rows, y][:, None]                             # (N, 1)
    margins = np.maximum(0.0, scores - correct + margin)           # (N, K)
    margins[rows, y] = 0.0                                         # the correct class is no term
    active = (margins > 0).astype(margins.dtype)                   # (N, K), 1 where a term counts
    active[rows, y] = -active.sum(axis=1)                          # the correct score, each time
    return float(margins.sum() / num_samples), active / num_samples


def init_two_layer_params(
    num_inputs: int, num_hidden: int, num_classes: int, *, seed: int = 0
) -> dict[str, np.ndarray]:
    """Random parameters of the 2-layer MLP ``affine -> ReLU -> affine`` (float64).

    Weights are drawn from N(0, 2 / fan_in) (He initialisation, chapter 6); biases start at 0.

    Returns:
        ``{"w1": (D, H), "b1": (H,), "w2": (H, K), "b2": (K,)}``.

    Taught in: ch02, 02_3_backprop.ipynb
    """
    for name, value in (("num_inputs", num_inputs), ("num_hidden", num_hidden),
                        ("num_classes", num_classes)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    rng = np.random.default_rng(seed)
    return {
        "w1": rng.normal(0.0, np.sqrt(2.0 / num_inputs), size=(num_inputs, num_hidden)),
        "b1": np.zeros(num_hidden),
        "w2": rng.normal(0.0, np.sqrt(2.0 / num_hidden), size=(num_hidden, num_classes)),
        "b2": np.zeros(num_classes),
    }


def two_layer_forward(params: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Forward pass of the 2-layer MLP: ``logits = relu(x @ w1 + b1) @ w2 + b2``.

    Args:
        params: ``{"w1": (D, H), "b1": (H,), "w2": (H, K), "b2": (K,)}``.
        x: inputs, shape (N, D).

    Returns:
        ``logits`` of shape (N, K) and the cache ``two_layer_backward`` needs.

    Taught in: ch02, 02_3_backprop.ipynb
    """
    z1, cache_affine1 = affine_forward(x, params["w1"], params["b1"])    # (N, H)
    h, cache_relu = relu_forward(z1)                                     # (N, H)
    logits, cache_affine2 = affine_forward(h, params["w2"], params["b2"])  # (N, K)
    return logits, (cache_affine1, cache_relu, cache_affine2)


def two_layer_backward(dlogits: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """Backward pass of ``two_layer_forward``, from ``dlogits = dL/dlogits`` (N, K).

    Returns:
        ``{"w1", "b1", "w2", "b2"}`` -> gradients with the shapes of the parameters.

    Taught in: ch02, 02_3_backprop.ipynb
    """
    cache_affine1, cache_relu, cache_affine2 = cache
    dh, dw2, db2 = affine_backward(dlogits, cache_affine2)   # (N, H), (H, K), (K,)
    dz1 = relu_backward(dh, cache_relu)                      # (N, H)
    _, dw1, db1 = affine_backward(dz1, cache_affine1)        # (D, H), (H,)
    return {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}


def two_layer_loss(
    params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Softmax cross-entropy of the 2-layer MLP on ``(x, y)`` and the gradients of every parameter.

    Args:
        params: as for ``two_layer_forward``. x: (N, D). y: integer labels (N,).

    Returns:
        ``loss`` (a float) and ``grads``, a dict with the keys and shapes of ``params``.

    Taught in: ch02, 02_3_backprop.ipynb
    """
    logits, cache = two_layer_forward(params, x)
    loss, dlogits = softmax_cross_entropy(logits, y)
    return loss, two_layer_backward(dlogits, cache)
