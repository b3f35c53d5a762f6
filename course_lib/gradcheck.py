"""Numerical gradients and relative errors: the way to trust a hand-written backward pass.

- ``numerical_gradient(f, x)``: centered differences of a scalar function, one entry at a time.
- ``rel_error(a, b)``: the largest elementwise relative error between two arrays.
- ``check_layer_gradients(forward, backward, *inputs)``: a layer's analytic gradients against
  numerical ones, for every input.

Work in float64: with float32 round-off, centered differences are only good to about 1e-3.

Taught in: ch02, 02_3_backprop.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray,
                       h: float = 1e-5) -> np.ndarray:
    """Centered-difference gradient of a scalar function at ``x``, over every entry of ``x``.

    ``grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h)``, with error O(h**2).

    ``x`` is nudged *in place*, one entry at a time, and every entry is restored (also when
    ``f`` raises), so ``f`` may either use its argument or read the same array through a
    closure (e.g. ``lambda _: loss(params)[0]`` while checking ``params["w1"]``). On return
    ``x`` holds exactly its original values.

    Args:
        f: maps an array shaped like ``x`` to a scalar.
        x: a floating-point numpy array (use float64), any shape.
        h: the step, > 0; 1e-5 balances truncation and round-off error in float64.

    Returns:
        The gradient, a float64 array with the shape of ``x``.

    Taught in: ch02, 02_3_backprop.ipynb
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError("x must be a floating-point numpy array (float64 for gradient checks); "
                        f"got {type(x).__name__} of dtype {getattr(x, 'dtype', None)}")
    if not x.flags.writeable:
        raise ValueError("x must be writeable: it is nudged in place (and restored)")
    if not h > 0:
        raise ValueError(f"h must be > 0, got {h}")
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(*x.shape):
        original = x[index]
        try:
            x[index] = original + h
            f_plus = float(f(x))
            x[index] = original - h
            f_minus = float(f(x))
        finally:
            x[index] = original
        grad[index] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(a, b, *, eps: float = 1e-8) -> float:
    """Largest elementwise relative error ``|a - b| / max(eps, |a| + |b|)``.

    Around 1e-7 or less (float64) means two gradients agree; 1e-2 or more means a bug.

    Args:
        a, b: arrays (or tensors converted with ``np.asarray``) of the same shape.
        eps: floor of the denominator, so two entries that are both ~0 do not divide by 0.

    Returns:
        A float >= 0.

    Taught in: ch02, 02_3_backprop.ipynb
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape; got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(eps, np.abs(a) + np.abs(b))))


def check_layer_gradients(
    forward: Callable[..., tuple[np.ndarray, tuple]],
    backward: Callable[[np.ndarray, tuple], np.ndarray | Sequence[np.ndarray]],
    *inputs: np.ndarray,
    seed: int = 0,
    h: float = 1e-5,
) -> list[float]:
    """Relative errors of a forward/backward pair's gradients against numerical ones.

    The pair is checked through the scalar ``L = sum(forward(*inputs)[0] * dout)`` with a
    random ``dout``, whose gradient with respect to each input is what ``backward(dout,
    cache)`` must return.

    Args:
        forward: ``forward(*inputs) -> (out, cache)``, e.g. ``affine_forward``.
        backward: ``backward(dout, cache)`` -> one gradient, or one per input in order.
        inputs: float64 arrays (copied: the caller's arrays are never touched).
        seed: seed of the random ``dout``.

    Returns:
        One relative error per input.

    Taught in: ch02, 02_3_backprop.ipynb
    """
    inputs = [np.array(value, dtype=np.float64, copy=True) for value in inputs]
    out, cache = forward(*inputs)
    dout = np.random.default_rng(seed).normal(size=np.shape(out))
    analytic = backward(dout, cache)
    if isinstance(analytic, np.ndarray):
        analytic = (analytic,)
    if len(analytic) != len(inputs):
        raise ValueError(f"backward returned {len(analytic)} gradients for {len(inputs)} inputs")
    errors = []
    for position, value in enumerate(inputs):
        def scalar_output(_):
            return np.sum(forward(*inputs)[0] * dout)

        numeric = numerical_gradient(scalar_output, value, h=h)
        errors.append(rel_error(analytic[position], numeric))
    return errors
