"""Assertion helpers for the graded exercises' test cells (and the course's own tests).

Every helper converts the student's answer with ``np.asarray`` *before* comparing, checks its
dtype and shape, and fails with a message that says what was expected and what came back. An
object that claims to equal everything (``__eq__`` always True) becomes an object array and is
rejected, so it cannot pass.

Taught in: ch01, exercises (every chapter's test cells use these).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def check_array(
    actual,
    expected,
    *,
    name: str = "result",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    check_dtype_kind: bool = True,
    dtype=None,
) -> None:
    """Assert that ``actual`` is a numeric array with ``expected``'s shape and values.

    Args:
        actual: the student's answer (array, tensor, list, scalar).
        expected: the oracle's answer (numpy / torch / TF output), same shape.
        name: what is checked, used in the failure message.
        rtol, atol: tolerances of ``np.allclose``; NaNs never match.
        check_dtype_kind: require a float result when ``expected`` is float, an integer or
            bool result when it is integer/bool.
        dtype: if given, the exact dtype the result must have (e.g. ``np.float64`` where a
            docstring promises it, or the input's ``np.float32`` where the dtype is kept).

    Raises:
        AssertionError: with expected vs got (shape, dtype, first mismatching entry).
    """
    got = _as_numeric_array(actual, name)
    want = np.asarray(expected)
    if got.shape != want.shape:
        raise AssertionError(f"{name}: expected shape {want.shape}, got shape {got.shape}")
    if check_dtype_kind:
        _check_kind(got, want, name)
    if dtype is not None and got.dtype != np.dtype(dtype):
        raise AssertionError(f"{name}: expected dtype {np.dtype(dtype)}, got dtype {got.dtype}")
    if got.dtype.kind == "b" or want.dtype.kind in "biu":
        mismatch = got.astype(want.dtype) != want
    else:
        mismatch = ~np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=False)
    if np.any(mismatch):
        index = tuple(int(i) for i in np.argwhere(mismatch)[0])
        count = int(mismatch.sum())
        raise AssertionError(
            f"{name}: {count} of {want.size} entries differ; first at index {index}: "
            f"expected {want[index]!r}, got {got[index]!r}"
            + ("" if want.dtype.kind in "biu" else f" (rtol={rtol}, atol={atol})")
        )


def check_scalar(actual, expected: float, *, name: str = "result", rtol: float = 1e-6,
                 atol: float = 1e-8) -> None:
    """Assert that ``actual`` is one real number close to ``expected`` (0-d arrays accepted)."""
    got = _as_numeric_array(actual, name)
    if got.size != 1 or got.ndim > 1:
        raise AssertionError(f"{name}: expected a single number, got shape {got.shape}")
    check_array(got.reshape(()), np.asarray(expected, dtype=float), name=name, rtol=rtol,
                atol=atol, check_dtype_kind=False)


def check_type(actual, expected_type: type | tuple[type, ...], *, name: str = "result") -> None:
    """Assert ``isinstance(actual, expected_type)`` with a readable message."""
    if not isinstance(actual, expected_type):
        types = expected_type if isinstance(expected_type, tuple) else (expected_type,)
        wanted = " or ".join(_type_name(t) for t in types)
        raise AssertionError(f"{name}: expected {wanted}, got {_type_name(type(actual))}")


def _type_name(kind: type) -> str:
    """``bool`` for builtins, ``numpy.bool`` for numpy's (numpy 2 also calls its type "bool")."""
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def check_no_mutation(function: Callable, *args, name: str | None = None):
    """Call ``function(*args)`` and assert it left its numpy array arguments unchanged.

    Returns:
        Whatever ``function`` returned, so the test can go on checking it.
    """
    copies = [np.array(arg, copy=True) if isinstance(arg, np.ndarray) else None for arg in args]
    result = function(*args)
    label = name or getattr(function, "__name__", "function")
    for position, (arg, copy) in enumerate(zip(args, copies)):
        if copy is not None and not np.array_equal(arg, copy, equal_nan=True):
            raise AssertionError(
                f"{label} changed its argument #{position} in place; work on a copy instead"
            )
    return result


def check_uses_rng(draw: Callable, *, name: str = "result", seeds=(11, 12)) -> None:
    """Assert that ``draw(rng)`` takes all its randomness from the Generator ``rng``.

    ``draw`` calls the student's function with a ``np.random.Generator`` and returns its
    (random) result. Three things must hold: the same seed twice gives the same result (no
    ``np.random.*`` global state, no unseeded generator), two seeds give different results (no
    generator with a fixed seed made inside), and two calls with one Generator object give
    different results (the Generator is used, so its state moves on).
    """
    def sample(rng):
        return _as_numeric_array(draw(rng), name)

    first = sample(np.random.default_rng(seeds[0]))
    if not np.array_equal(first, sample(np.random.default_rng(seeds[0]))):
        raise AssertionError(
            f"{name}: the same seed gave two different results; draw every random "
            "number from the rng argument (not from np.random.* or a new generator)")
    if np.array_equal(first, sample(np.random.default_rng(seeds[1]))):
        raise AssertionError(
            f"{name}: two different seeds gave the same result; draw from the rng "
            "argument instead of a generator with a fixed seed")
    generator = np.random.default_rng(seeds[0])
    if np.array_equal(sample(generator), sample(generator)):
        raise AssertionError(
            f"{name}: two calls with the same Generator gave the same result; use the "
            "rng argument itself (its state must move on), do not copy or reseed it")


def _as_numeric_array(actual, name: str) -> np.ndarray:
    if hasattr(actual, "detach"):  # a torch tensor: leave the autograd graph, go to the CPU
        actual = actual.detach().cpu().numpy()
    elif hasattr(actual, "numpy") and callable(actual.numpy):  # a TF/Keras tensor
        actual = actual.numpy()
    if actual is None:
        raise AssertionError(f"{name}: got None; did the function forget to `return`?")
    try:
        got = np.asarray(actual)
    except Exception as error:  # noqa: BLE001 - any failure means "not an array"
        raise AssertionError(f"{name}: could not convert {type(actual).__name__} to an array: "
                             f"{error}") from None
    if got.dtype.kind not in "biuf":
        raise AssertionError(
            f"{name}: expected numbers, got an array of dtype {got.dtype} "
            f"(from {type(actual).__name__})"
        )
    return got


def _check_kind(got: np.ndarray, want: np.ndarray, name: str) -> None:
    if want.dtype.kind == "f" and got.dtype.kind != "f":
        raise AssertionError(f"{name}: expected floating-point values, got dtype {got.dtype}")
    if want.dtype.kind in "biu" and got.dtype.kind not in "biu":
        raise AssertionError(f"{name}: expected integer/bool values, got dtype {got.dtype}")
