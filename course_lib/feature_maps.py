"""Figures of Chapter 4: feature maps, kernels, small annotated grids and receptive fields.

Each function draws a Matplotlib figure (or on a given ``Axes``) and returns it, never calls
``show``. Signed arrays (edge detectors, learned kernels) are drawn with a diverging colour
map centred on 0, so that white means 0, red positive and blue negative.

Taught in: ch04, 04_1_why-convolution.ipynb to 04_6_cnn-layers-in-frameworks.ipynb.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

DIVERGING = "RdBu_r"  # red positive, blue negative, white zero


def plot_feature_maps(
    maps: np.ndarray,
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    cmap: str | None = None,
    symmetric: bool | Sequence[bool] | None = None,
    size: float = 1.6,
    suptitle: str | None = None,
) -> plt.Figure:
    """One panel per feature map, each with its own colour scale.

    Args:
        maps: shape (F, H, W), or (1, F, H, W) (one image of a batch, NCHW).
        titles: F panel titles (e.g. the filters' names).
        ncols: panels per row.
        cmap: colour map; default ``"gray"``, or a diverging map for signed maps.
        symmetric: centre a map's colour scale on 0 (diverging colours); one bool for all maps
            or one per map; default: for the maps that have both signs.
        size: inches per panel. suptitle: a title over the whole figure.

    Returns:
        The ``Figure``.
    """
    maps = np.asarray(maps, dtype=float)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]  # (1, F, H, W) -> (F, H, W)
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (F, H, W) or (1, F, H, W); got {maps.shape}")
    _check_titles(titles, len(maps))
    if symmetric is None:
        symmetric = [bool(m.min() < 0 < m.max()) for m in maps]
    elif isinstance(symmetric, (bool, np.bool_)):
        symmetric = [bool(symmetric)] * len(maps)
    _check_titles(symmetric, len(maps), "symmetric flags")
    fig, axes = _grid(len(maps), ncols, size, aspect=maps.shape[1] / maps.shape[2])
    for index, (ax, feature_map, centred) in enumerate(zip(axes, maps, symmetric)):
        limit = np.abs(feature_map).max() or 1.0
        scale = {"vmin": -limit, "vmax": limit} if centred else {}
        ax.imshow(feature_map, cmap=cmap or (DIVERGING if centred else "gray"), **scale)
        if titles is not None:
            ax.set_title(titles[index], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_kernels(
    w: np.ndarray,
    *,
    filter_names: Sequence[str] | None = None,
    channel_names: Sequence[str] | None = None,
    annotate: bool | None = None,
    size: float = 1.3,
) -> plt.Figure:
    """Filters as a grid: one row per filter, one column per input channel (one kernel each).

    Args:
        w: weights (F, C, KH, KW) as ``nn.Conv2d.weight``; also (F, KH, KW) or (KH, KW) for
            single-channel filters. A Keras kernel (KH, KW, C, F) must be transposed first:
            ``kernel.transpose(3, 2, 0, 1)``.
        filter_names: F row labels. channel_names: C column titles (e.g. ``"RGB"``).
        annotate: write each weight in its cell; default when kernels are at most 5 x 5.
        size: inches per kernel.

    Returns:
        The ``Figure``. Each filter's kernels share one colour scale centred on 0.
        Single-channel filters without ``channel_names`` are drawn in one row, titled by
        ``filter_names``.
    """
    w = np.asarray(w, dtype=float)
    if w.ndim == 2:
        w = w[None, None]  # (KH, KW) -> (1, 1, KH, KW)
    elif w.ndim == 3:
        w = w[:, None]     # (F, KH, KW) -> (F, 1, KH, KW)
    if w.ndim != 4:
        raise ValueError(f"w must have shape (F, C, KH, KW), (F, KH, KW) or (KH, KW); "
                         f"got {w.shape}")
    n_filters, channels, kh, kw = w.shape
    _check_titles(filter_names, n_filters, "filter_names")
    _check_titles(channel_names, channels, "channel_names")
    annotate = max(kh, kw) <= 5 if annotate is None else annotate
    in_a_row = channels == 1 and channel_names is None  # single-channel filters: one row
    nrows, ncols = (1, n_filters) if in_a_row else (n_filters, channels)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(size * ncols + 0.6, size * nrows * kh / kw + 0.3))
    for f in range(n_filters):
        limit = np.abs(w[f]).max() or 1.0
        for c in range(channels):
            ax = axes[0, f] if in_a_row else axes[f, c]
            ax.imshow(w[f, c], cmap=DIVERGING, vmin=-limit, vmax=limit)
            if annotate:
                _annotate(ax, w[f, c], "{:.2g}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if in_a_row and filter_names is not None:
                ax.set_title(filter_names[f], fontsize=9)
                continue
            if channel_names is not None and f == 0:
                ax.set_title(channel_names[c], fontsize=9)
            if filter_names is not None and c == 0:
                ax.set_ylabel(filter_names[f], fontsize=9)
    fig.tight_layout()
    return fig


def plot_matrices(
    matrices: Mapping[str, np.ndarray],
    *,
    highlight: Mapping[str, tuple[int, int, int, int]] | None = None,
    fmt: str = "{:g}",
    cmap: str = "Blues",
    cell_size: float = 0.42,
    symbols: Sequence[str] = (),
) -> plt.Figure:
    """Small 2-D arrays side by side, every entry written in its cell (worked examples).

    Args:
        matrices: ``{"title": 2-D array}`` drawn left to right.
        highlight: ``{"title": (row, col, height, width)}``: a red frame around a window.
        fmt: format of the numbers. cmap: colour map of the cells.
        cell_size: inches per cell.
        symbols: strings drawn between consecutive panels (e.g. ``("*", "=")``).

    Returns:
        The ``Figure``.
    """
    if not matrices:
        raise ValueError("matrices must hold at least one 2-D array")
    arrays = {name: np.asarray(matrix) for name, matrix in matrices.items()}
    for name, matrix in arrays.items():
        if matrix.ndim != 2:
            raise ValueError(f"matrix {name!r} must be 2-D, got shape {matrix.shape}")
    unknown = set(highlight or {}) - set(arrays)
    if unknown:
        raise ValueError(f"highlight names {sorted(unknown)} are not in matrices")
    widths = [matrix.shape[1] for matrix in arrays.values()]
    height = max(matrix.shape[0] for matrix in arrays.values())
    fig, axes = plt.subplots(1, len(arrays), squeeze=False, gridspec_kw={"width_ratios": widths},
                             figsize=(cell_size * (sum(widths) + 1.2 * len(arrays)),
                                      cell_size * height + 0.6))
    for index, (ax, (name, matrix)) in enumerate(zip(axes[0], arrays.items())):
        ax.imshow(matrix.astype(float), cmap=cmap, vmin=min(0, matrix.min()) - 1e-9)
        _annotate(ax, matrix, fmt, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name, fontsize=10)
        if highlight and name in highlight:
            row, col, rows, cols = highlight[name]
            ax.add_patch(Rectangle((col - 0.5, row - 0.5), cols, rows, fill=False,
                                   edgecolor="red", linewidth=2.5))
        if index < len(symbols):
            ax.annotate(symbols[index], xy=(1.0, 0.5), xycoords="axes fraction",
                        xytext=(8, 0), textcoords="offset points", fontsize=16, va="center")
    fig.tight_layout()
    return fig


def plot_receptive_fields(
    sizes: Sequence[int],
    *,
    labels: Sequence[str] | None = None,
    input_size: int | None = None,
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Nested squares on the input's pixel grid: the receptive field of one unit per layer.

    Args:
        sizes: receptive-field sizes in input pixels, one per layer (e.g. from
            ``course_lib.conv.receptive_field``), non-decreasing.
        labels: one legend label per layer; default ``"layer 1: 3x3"`` and so on.
        input_size: side of the drawn input grid; default ``max(sizes) + 2``.

    Returns:
        The ``Axes``.
    """
    sizes = [int(size) for size in sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be positive receptive-field sizes, got {sizes}")
    input_size = input_size or max(sizes) + 2
    if input_size < max(sizes):
        raise ValueError(f"input_size {input_size} is smaller than the largest field {max(sizes)}")
    labels = labels or [f"layer {i + 1}: {s}x{s}" for i, s in enumerate(sizes)]
    _check_titles(labels, len(sizes), "labels")
    ax = ax if ax is not None else plt.subplots(figsize=(4.2, 4.2))[1]
    ax.set_xticks(np.arange(input_size + 1))
    ax.set_yticks(np.arange(input_size + 1))
    ax.grid(color="lightgray", linewidth=0.5)
    ax.tick_params(labelbottom=False, labelleft=False, length=0)
    colors = plt.cm.viridis(np.linspace(0.9, 0.1, len(sizes)))
    centre = input_size // 2
    for size, label, color in sorted(zip(sizes, labels, colors), key=lambda item: -item[0]):
        corner = centre - size // 2  # the field of the unit looking at the centre pixel
        ax.add_patch(Rectangle((corner, corner), size, size, facecolor=color, alpha=0.35,
                               edgecolor=color, linewidth=2, label=label))
    ax.add_patch(Rectangle((centre, centre), 1, 1, color="black", label="centre pixel"))
    ax.set(xlim=(0, input_size), ylim=(input_size, 0), aspect="equal",
           title=f"receptive fields on a {input_size}x{input_size} input")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    return ax


def _grid(count: int, ncols: int, size: float, aspect: float = 1.0):
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    ncols = min(ncols, count)
    nrows = int(np.ceil(count / ncols))
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(size * ncols, (size * aspect + 0.3) * nrows))
    for ax in axes.flat:
        ax.axis("off")
    return fig, list(axes.flat)[:count]


def _annotate(ax: plt.Axes, matrix: np.ndarray, fmt: str, fontsize: int) -> None:
    image = ax.images[-1]  # write on the cells of the image just drawn
    for (row, col), value in np.ndenumerate(matrix):
        value = value + 0 if np.issubdtype(type(value), np.floating) else value  # -0.0 -> 0.0
        red, green, blue, _ = image.cmap(image.norm(float(value)))
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5  # BT.601 luma of the cell
        ax.text(col, row, fmt.format(value), ha="center", va="center", fontsize=fontsize,
                color="white" if dark else "black")


def _check_titles(titles, count: int, name: str = "titles") -> None:
    if titles is not None and len(titles) != count:
        raise ValueError(f"got {len(titles)} {name} for {count} panels")
