"""Activation functions and their derivatives in numpy, for pictures and from-scratch layers.

Each function maps an array to an array of the same shape (``softmax`` works along ``axis``).
The derivatives are written in terms of the input ``z`` so they can be plotted beside the
function. Implementations are numerically stable: no overflow warnings for large ``|z|``.

Taught in: ch01, 01_2_activations-and-mlps.ipynb.
"""

from __future__ import annotations

import numpy as np


def step(z: np.ndarray) -> np.ndarray:
    """Heaviside step: 1.0 where ``z >= 0``, else 0.0 (the perceptron's activation)."""
    return (np.asarray(z) >= 0).astype(np.float64)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic sigmoid 1 / (1 + exp(-z)), computed without overflow for large |z|."""
    z = np.asarray(z, dtype=np.float64)
    # exp of a non-positive number never overflows: use exp(-|z|) on both branches.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(z: np.ndarray) -> np.ndarray:
    """d sigmoid / dz = sigmoid(z) * (1 - sigmoid(z)); at most 0.25, at z = 0."""
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent, range (-1, 1); tanh(z) = 2 * sigmoid(2z) - 1."""
    return np.tanh(np.asarray(z, dtype=np.float64))


def tanh_grad(z: np.ndarray) -> np.ndarray:
    """d tanh / dz = 1 - tanh(z)**2; at most 1, at z = 0."""
    return 1.0 - np.tanh(np.asarray(z, dtype=np.float64)) ** 2


def relu(z: np.ndarray) -> np.ndarray:
    """Rectified linear unit max(0, z)."""
    return np.maximum(np.asarray(z, dtype=np.float64), 0.0)


def relu_grad(z: np.ndarray) -> np.ndarray:
    """d relu / dz: 1 for z > 0, 0 for z < 0; we take 0 at z = 0, as PyTorch and TF do."""
    return (np.asarray(z) > 0).astype(np.float64)


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(z_i) / sum_j exp(z_j) along ``axis``, shifted by the max so exp never overflows."""
    z = np.asarray(z, dtype=np.float64)
    shifted = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)
