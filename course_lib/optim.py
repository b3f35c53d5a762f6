"""Optimizer update rules in numpy: SGD, momentum (and Nesterov), AdaGrad, RMSProp, Adam, AdamW.

Every rule has the same signature::

    w_next, state = rule(w, dw, state, *, lr, **hyperparameters)

- ``w`` is the current parameter array, ``dw`` the gradient of the loss at ``w`` (same shape).
- ``state`` is what the rule remembers between steps (a velocity, running averages, a step
  count) as a ``dict`` of arrays; pass ``None`` on the first call and then, each time, the
  dict the previous call returned.
- Nothing is updated in place: ``w``, ``dw`` and ``state`` are never modified; the rule returns
  a new array and a new dict.

The formulas follow ``torch.optim`` exactly (same defaults for the hyperparameters they share,
and the same placement of ``eps``), so a numpy run matches PyTorch step for step. Keras 3 writes
some rules differently (where ``eps`` goes, how the velocity is stored, AdaGrad's starting
accumulator); each docstring says how, and Chapter 3's lesson 03_3 checks it by running both.

Taught in: ch03, 03_1_update-rules.ipynb (derived there), used by 03_2 and 03_3.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

State = dict[str, np.ndarray]


def sgd(
    w: np.ndarray, dw: np.ndarray, state: State | None, *, lr: float
) -> tuple[np.ndarray, State]:
    """Plain (stochastic) gradient descent: ``w_next = w - lr * dw``.

    Args:
        w: parameters, any shape. dw: gradient at ``w``, same shape.
        state: ``None`` or the dict a previous call returned (SGD remembers nothing).
        lr: learning rate, >= 0.

    Returns:
        ``(w_next, state)``: new parameters (shape of ``w``) and an empty dict.

    Same as ``torch.optim.SGD(params, lr=lr)`` and ``keras.optimizers.SGD(learning_rate=lr)``.
    """
    w, dw = _check_arrays(w, dw)
    _check_state(state, (), "sgd")
    _check_non_negative(lr=lr)
    return w - lr * dw, {}


def momentum(
    w: np.ndarray, dw: np.ndarray, state: State | None, *, lr: float, beta: float = 0.9,
    nesterov: bool = False,
) -> tuple[np.ndarray, State]:
    """SGD with momentum (Polyak's heavy ball) or Nesterov momentum, PyTorch's convention.

    ``velocity = beta * velocity + dw``; then ``w_next = w - lr * velocity``, or with
    ``nesterov=True``, ``w_next = w - lr * (dw + beta * velocity)``.

    Args:
        w: parameters, any shape. dw: gradient at ``w``, same shape.
        state: ``None`` on the first step (velocity 0), else ``{"velocity": array}``.
        lr: learning rate, >= 0. beta: momentum coefficient in [0, 1).
        nesterov: use Nesterov's look-ahead form.

    Returns:
        ``(w_next, {"velocity": array})``.

    Matches ``torch.optim.SGD(params, lr, momentum=beta, nesterov=...)``. Keras stores the
    velocity already multiplied by the learning rate, ``v = beta * v - lr * dw; w += v``: the
    same steps while ``lr`` is constant, different ones as soon as a schedule changes ``lr``.
    """
    w, dw = _check_arrays(w, dw)
    state = _check_state(state, ("velocity",), "momentum")
    _check_non_negative(lr=lr)
    _check_fraction(beta=beta)
    velocity = np.array(dw, copy=True) if state is None else beta * state["velocity"] + dw
    step = dw + beta * velocity if nesterov else velocity
    return w - lr * step, {"velocity": velocity}


def adagrad(
    w: np.ndarray, dw: np.ndarray, state: State | None, *, lr: float, eps: float = 1e-10,
    initial_accumulator_value: float = 0.0,
) -> tuple[np.ndarray, State]:
    """AdaGrad: divide each coordinate's step by the root of its summed squared gradients.

    ``sum_squares = sum_squares + dw**2``;
    ``w_next = w - lr * dw / (sqrt(sum_squares) + eps)``.

    Args:
        w: parameters, any shape. dw: gradient at ``w``, same shape.
        state: ``None`` on the first step, else ``{"sum_squares": array}``.
        lr: learning rate, >= 0. eps: added to the root, > 0 (PyTorch's default 1e-10).
        initial_accumulator_value: starting value of ``sum_squares``, >= 0 (PyTorch 0).

    Returns:
        ``(w_next, {"sum_squares": array})``.

    Matches ``torch.optim.Adagrad(params, lr, eps=eps, initial_accumulator_value=...)``.
    Keras starts the sum at 0.1 and adds ``eps`` *inside* the root: ``sqrt(sum + eps)``.
    """
    w, dw = _check_arrays(w, dw)
    state = _check_state(state, ("sum_squares",), "adagrad")
    _check_non_negative(lr=lr, eps=eps, initial_accumulator_value=initial_accumulator_value)
    if state is None:
        state = {"sum_squares": np.full_like(dw, initial_accumulator_value)}
    sum_squares = state["sum_squares"] + dw**2
    return w - lr * dw / (np.sqrt(sum_squares) + eps), {"sum_squares": sum_squares}


def rmsprop(
    w: np.ndarray, dw: np.ndarray, state: State | None, *, lr: float, rho: float = 0.99,
    eps: float = 1e-8,
) -> tuple[np.ndarray, State]:
    """RMSProp: like AdaGrad, but with an exponentially weighted average of squared gradients.

    ``square_avg = rho * square_avg + (1 - rho) * dw**2``;
    ``w_next = w - lr * dw / (sqrt(square_avg) + eps)``.

    Args:
        w: parameters, any shape. dw: gradient at ``w``, same shape.
        state: ``None`` on the first step (average 0), else ``{"square_avg": array}``.
        lr: learning rate, >= 0. rho: decay of the average in [0, 1) (PyTorch calls it
            ``alpha``, default 0.99). eps: added to the root, > 0.

    Returns:
        ``(w_next, {"square_avg": array})``.

    Matches ``torch.optim.RMSprop(params, lr, alpha=rho, eps=eps)``. Keras defaults to
    ``rho=0.9`` and adds ``eps`` inside the root: ``sqrt(square_avg + eps)``.
    """
    w, dw = _check_arrays(w, dw)
    state = _check_state(state, ("square_avg",), "rmsprop")
    _check_non_negative(lr=lr, eps=eps)
    _check_fraction(rho=rho)
    previous = np.zeros_like(dw) if state is None else state["square_avg"]
    square_avg = rho * previous + (1 - rho) * dw**2
    return w - lr * dw / (np.sqrt(square_avg) + eps), {"square_avg": square_avg}


def adam(
    w: np.ndarray, dw: np.ndarray, state: State | None, *, lr: float, beta1: float = 0.9,
    beta2: float = 0.999, eps: float = 1e-8,
) -> tuple[np.ndarray, State]:
    """Adam: momentum on the gradient plus RMSProp's scaling, both bias-corrected.

    With ``t`` the step number (1 on the first call)::

        m = beta1 * m + (1 - beta1) * dw          m_hat = m / (1 - beta1**t)
        v = beta2 * v + (1 - beta2) * dw**2       v_hat = v / (1 - beta2**t)
        w_next = w - lr * m_hat / (sqrt(v_hat) + eps)

    Args:
        w: parameters, any shape. dw: gradient at ``w``, same shape.
        state: ``None`` on the first step, else ``{"step": array(t), "m": ..., "v": ...}``.
        lr: learning rate, >= 0. beta1, beta2: decays in [0, 1). eps: > 0 (PyTorch 1e-8).

    Returns:
        ``(w_next, {"step", "m", "v"})``.

    Matches ``torch.optim.Adam(params, lr, betas=(beta1, beta2), eps=eps)``. Keras (default
    ``epsilon=1e-7``) folds the bias corrections into the learning rate and adds ``eps`` to
    ``sqrt(v)``, not to ``sqrt(v_hat)``: the same as this rule with ``eps / sqrt(1 - beta2**t)``.
    """
    w, dw = _check_arrays(w, dw)
    state = _check_state(state, ("step", "m", "v"), "adam")
    _check_non_negative(lr=lr, eps=eps)
    _check_fraction(beta1=beta1, beta2=beta2)
    if state is None:
        state = {"step": np.array(0), "m": np.zeros_like(dw), "v": np.zeros_like(dw)}
    t = int(state["step"]) + 1
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * dw**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), {"step": np.array(t), "m": m, "v": v}


def adamw(
    w: np.ndarray, dw: np.ndarray, state: State | None, *, lr: float, beta1: float = 0.9,
    beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.01,
) -> tuple[np.ndarray, State]:
    """AdamW: Adam with decoupled weight decay (Loshchilov and Hutter, 2019).

    First shrink the weights, ``w_decayed = w * (1 - lr * weight_decay)``, then take the
    :func:`adam` step from ``w_decayed`` with the gradient ``dw`` (computed at ``w``). The decay
    is not added to the gradient, so Adam's per-coordinate scaling does not touch it.

    Args:
        w, dw, state, lr, beta1, beta2, eps: as in :func:`adam`.
        weight_decay: decay coefficient, >= 0 (PyTorch's default 0.01; Keras's 0.004).

    Returns:
        ``(w_next, {"step", "m", "v"})``.

    Matches ``torch.optim.AdamW`` and, up to ``eps`` placement, ``keras.optimizers.AdamW``
    (and ``keras.optimizers.Adam(weight_decay=...)``, which is also decoupled in Keras 3).
    """
    w, dw = _check_arrays(w, dw)
    _check_non_negative(lr=lr, weight_decay=weight_decay)
    return adam(w * (1 - lr * weight_decay), dw, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)


def _check_arrays(w, dw) -> tuple[np.ndarray, np.ndarray]:
    w, dw = np.asarray(w), np.asarray(dw)
    for name, array in (("w", w), ("dw", dw)):
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if w.shape != dw.shape:
        raise ValueError(f"w and dw must have the same shape, got {w.shape} and {dw.shape}")
    if w.dtype.kind != "f":
        w = w.astype(np.float64)
    return w, dw


def _check_state(state, keys: tuple[str, ...], rule: str) -> State | None:
    if state is None:
        return None
    if not isinstance(state, Mapping):
        raise TypeError(
            f"state must be None (first step) or the dict {rule} returned, "
            f"got {type(state).__name__}"
        )
    missing = [key for key in keys if key not in state]
    if missing:
        raise ValueError(
            f"state lacks {missing}: pass None on the first step, then the state {rule} "
            f"returned on the previous step (got keys {sorted(state)})"
        )
    return state


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if not np.isscalar(value) or value < 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")


def _check_fraction(**values: float) -> None:
    for name, value in values.items():
        if not np.isscalar(value) or not 0 <= value < 1:
            raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
