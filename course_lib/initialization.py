"""Weight initialization in numpy: fans, Glorot/Xavier and He/Kaiming, activations through depth.

- ``fans(shape) -> (fan_in, fan_out)``: dense weights in the course's layout (D, M) (a Keras
  ``Dense`` kernel; PyTorch's ``nn.Linear.weight`` is its transpose (M, D)), conv kernels as
  PyTorch stores them, (F, C, kh, kw): fan_in = C*kh*kw, fan_out = F*kh*kw.
- ``glorot_uniform / glorot_normal / he_uniform / he_normal(shape, *, rng)``: samples whose
  variance is 2/(fan_in + fan_out) (Glorot) or 2/fan_in (He).
- ``forward_through_depth``: push a batch through a deep MLP built with an initializer and
  record every layer's activations; ``activation_statistics`` summarises them and
  ``plot_activation_histograms`` draws one histogram per layer and scheme.

Taught in: ch06, 06_5_weight-initialization.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from course_lib import activations

Initializer = Callable[..., np.ndarray]


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight array.

    Args:
        shape: (D, M) for a dense layer (inputs first, the course's and Keras's layout), or
            (F, C, k_1, ..., k_n) for a convolution kernel in PyTorch's layout.

    Returns:
        (D, M) for a dense layer; (C * prod(k), F * prod(k)) for a kernel.

    Taught in: ch06, 06_5_weight-initialization.ipynb
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"shape must be (D, M) or (F, C, kh, kw) with positive sizes; got {shape}")
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = int(np.prod(shape[2:]))
    return shape[1] * receptive_field, shape[0] * receptive_field


def _check_rng(rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)); got {type(rng).__name__}")


def glorot_uniform(shape: Sequence[int], *, rng: np.random.Generator) -> np.ndarray:
    """Glorot/Xavier uniform: U(-a, a) with ``a = sqrt(6 / (fan_in + fan_out))``.

    Same distribution as ``torch.nn.init.xavier_uniform_`` and ``keras.initializers.GlorotUniform``.

    Taught in: ch06, 06_5_weight-initialization.ipynb
    """
    _check_rng(rng)
    fan_in, fan_out = fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=tuple(shape))


def glorot_normal(shape: Sequence[int], *, rng: np.random.Generator) -> np.ndarray:
    """Glorot/Xavier normal: N(0, 2 / (fan_in + fan_out)), as ``torch.nn.init.xavier_normal_``.

    Keras's ``GlorotNormal`` draws a *truncated* normal (cut at 2 std, rescaled) with the same
    variance.

    Taught in: ch06, 06_5_weight-initialization.ipynb
    """
    _check_rng(rng)
    fan_in, fan_out = fans(shape)
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=tuple(shape))


def he_uniform(shape: Sequence[int], *, rng: np.random.Generator) -> np.ndarray:
    """He/Kaiming uniform: U(-a, a) with ``a = sqrt(6 / fan_in)`` (variance 2 / fan_in).

    As ``torch.nn.init.kaiming_uniform_(w, nonlinearity="relu")`` and ``keras.initializers.HeUniform``.

    Taught in: ch06, 06_5_weight-initialization.ipynb
    """
    _check_rng(rng)
    fan_in, _ = fans(shape)
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=tuple(shape))


def he_normal(shape: Sequence[int], *, rng: np.random.Generator) -> np.ndarray:
    """He/Kaiming normal: N(0, 2 / fan_in), as ``torch.nn.init.kaiming_normal_(w, nonlinearity="relu")``.

    Keras's ``HeNormal`` draws a truncated normal with the same variance.

    Taught in: ch06, 06_5_weight-initialization.ipynb
    """
    _check_rng(rng)
    fan_in, _ = fans(shape)
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=tuple(shape))


ACTIVATIONS = {"sigmoid": activations.sigmoid, "tanh": activations.tanh,
               "relu": activations.relu, "linear": lambda z: np.asarray(z, dtype=np.float64)}


def forward_through_depth(
    x: np.ndarray,
    init: Initializer,
    activation: str | Callable[[np.ndarray], np.ndarray],
    *,
    depth: int,
    width: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Activations of every layer of a deep MLP (zero biases) freshly built with ``init``.

    Args:
        x: inputs, shape (N, D).
        init: ``init(shape, rng=rng)`` returning a (fan_in, fan_out) weight array, e.g.
            ``he_normal`` or ``lambda shape, rng: rng.normal(0, 0.01, size=shape)``.
        activation: "sigmoid", "tanh", "relu", "linear" or a numpy function.
        depth: number of layers; width: units per layer.
        rng: Generator for the weights.

    Returns:
        ``depth`` arrays of shape (N, width): the output of each layer after the activation.

    Taught in: ch06, 06_5_weight-initialization.ipynb
    """
    function = ACTIVATIONS[activation] if isinstance(activation, str) else activation
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be >= 1; got {depth}, {width}")
    out = np.asarray(x, dtype=np.float64)
    if out.ndim != 2:
        raise ValueError(f"x must have shape (N, D); got {out.shape}")
    layers_out = []
    for _ in range(depth):
        w = init((out.shape[1], width), rng=rng)
        out = function(out @ w)
        layers_out.append(out)
    return layers_out


def activation_statistics(layer_outputs: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Per-layer mean, standard deviation and fraction of (near-)saturated or dead units.

    Returns:
        ``{"mean", "std", "zero_fraction"}`` arrays of length ``len(layer_outputs)``;
        ``zero_fraction`` is the share of |a| < 1e-3 (dead ReLUs, vanished signals).

    Taught in: ch06, 06_5_weight-initialization.ipynb
    """
    return {
        "mean": np.array([np.mean(a) for a in layer_outputs]),
        "std": np.array([np.std(a) for a in layer_outputs]),
        "zero_fraction": np.array([np.mean(np.abs(a) < 1e-3) for a in layer_outputs]),
    }


def plot_activation_histograms(
    results: Mapping[str, Sequence[np.ndarray]],
    *,
    layers: Sequence[int] | None = None,
    bins: int = 40,
    value_range: tuple[float, float] | None = None,
    size: float = 1.6,
) -> plt.Figure:
    """One row per scheme, one histogram per chosen layer, of the activations' values.

    Args:
        results: ``{scheme name: forward_through_depth(...) output}``.
        layers: 0-based layer indices to show (default: every other layer, last included).
        bins: histogram bins; value_range: shared x range (default: each row's own range).
        size: inches per panel.

    Returns:
        The figure (x axis: activation value; y axis: share of units, shared per row).

    Taught in: ch06, 06_5_weight-initialization.ipynb
    """
    depth = len(next(iter(results.values())))
    layers = list(range(depth - 1, -1, -2))[::-1] if layers is None else list(layers)
    fig, axes = plt.subplots(len(results), len(layers), figsize=(size * len(layers), size * len(results)),
                             sharey="row", squeeze=False)
    for row, (name, outputs) in enumerate(results.items()):
        low_high = value_range or (min(outputs[i].min() for i in layers), max(outputs[i].max() for i in layers))
        if low_high[0] == low_high[1]:
            low_high = (low_high[0] - 1, low_high[1] + 1)
        for col, layer in enumerate(layers):
            ax = axes[row, col]
            values = outputs[layer].ravel()
            ax.hist(values, bins=bins, range=low_high, weights=np.full(values.size, 1 / values.size))
            ax.set_title(f"layer {layer + 1}\nstd {values.std():.2g}", fontsize=8)
            ax.tick_params(labelsize=6)
        axes[row, 0].set_ylabel(name, fontsize=8)
    fig.tight_layout()
    return fig
