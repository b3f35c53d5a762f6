"""Small, honest experiments: every configuration x every seed, then mean ± std and error bars.

A single training run is one draw from a random process (initial weights, batch order, dropout
masks). Comparing two configurations by one run each compares two random numbers. The functions
here run a training function over several seeds per configuration, keep every result in a tidy
list of rows (one row per run), summarize each configuration by its mean and sample standard
deviation, and plot the summary with error bars.

- ``run_experiment(train_fn, configs, seeds)`` -> rows ``{"config", "seed", metric: value}``.
- ``summarize(rows)`` -> one row per configuration: ``n`` and ``<metric>_mean``/``<metric>_std``.
- ``compare_to_baseline(summary, baseline, metric)`` -> difference of means in units of std.
- ``format_table(summary, metrics)`` -> a plain-text "mean ± std" table.
- ``plot_summary(summary, metrics)`` -> a bar chart with error bars.

Taught in: ch06, 06_7_regularization-experiment-and-recipe.ipynb; reused in ch08.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

Row = dict[str, Any]


def run_experiment(
    train_fn: Callable[..., Mapping[str, float]],
    configs: Mapping[str, Any],
    seeds: Sequence[int],
) -> list[Row]:
    """Call ``train_fn(config, seed=seed)`` for every configuration and seed.

    Args:
        train_fn: trains one model and returns its metrics, e.g. ``{"val_accuracy": 0.91}``.
        configs: name -> configuration passed to ``train_fn`` unchanged (a dict, a dataclass...).
        seeds: the seeds, the same for every configuration (at least one).

    Returns:
        A tidy list of rows, one per run, in order: ``{"config": name, "seed": s, **metrics}``.
    """
    if not callable(train_fn):
        raise TypeError(f"train_fn must be callable, got {type(train_fn).__name__}")
    if not configs:
        raise ValueError("configs is empty: pass a mapping name -> configuration")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty: pass at least one seed, e.g. [0, 1, 2]")
    rows = []
    for name, config in configs.items():
        for seed in seeds:
            metrics = train_fn(config, seed=seed)
            if not isinstance(metrics, Mapping):
                raise TypeError(f"train_fn must return a mapping of metrics, got {type(metrics)}")
            rows.append({"config": name, "seed": seed, **{k: float(v) for k, v in metrics.items()}})
    return rows


def summarize(rows: Iterable[Row], metrics: Sequence[str] | None = None) -> list[Row]:
    """Mean and sample standard deviation (ddof=1) of each metric, per configuration.

    Args:
        rows: as ``run_experiment`` returns them.
        metrics: the metric names to summarize; ``None`` takes every key but config and seed.

    Returns:
        One row per configuration, in first-seen order:
        ``{"config", "n", "<metric>_mean", "<metric>_std", ...}``; the std is 0.0 when n = 1.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("rows is empty: run the experiment first")
    if metrics is None:
        metrics = [k for k in rows[0] if k not in ("config", "seed")]
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row["config"], []).append(row)
    summary = []
    for name, group in groups.items():
        entry: Row = {"config": name, "n": len(group)}
        for metric in metrics:
            if any(metric not in row for row in group):
                raise KeyError(f"metric {metric!r} is missing from some rows of {name!r}")
            values = np.array([row[metric] for row in group], dtype=float)
            entry[f"{metric}_mean"] = float(values.mean())
            entry[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        summary.append(entry)
    return summary


def compare_to_baseline(summary: Sequence[Row], baseline: str, metric: str) -> list[Row]:
    """Difference of each configuration's mean from the baseline's, in units of std.

    The unit is the larger of the two standard deviations (a conservative choice with only a
    few seeds); ``"num_std"`` is ``inf``/``-inf`` when both stds are 0 and the means differ.

    Returns:
        One row per configuration: ``{"config", "difference", "num_std"}``.
    """
    by_name = {row["config"]: row for row in summary}
    if baseline not in by_name:
        raise ValueError(f"baseline {baseline!r} is not one of {list(by_name)}")
    base = by_name[baseline]
    result = []
    for row in summary:
        difference = row[f"{metric}_mean"] - base[f"{metric}_mean"]
        scale = max(row[f"{metric}_std"], base[f"{metric}_std"])
        if scale > 0:
            num_std = difference / scale
        else:
            num_std = 0.0 if difference == 0 else math.copysign(math.inf, difference)
        result.append({"config": row["config"], "difference": difference, "num_std": num_std})
    return result


def format_table(summary: Sequence[Row], metrics: Sequence[str], *, digits: int = 3) -> str:
    """A plain-text table, one line per configuration: ``mean ± std`` for each metric."""
    header = ["config", *metrics]
    lines = [[row["config"], *(f"{row[f'{m}_mean']:.{digits}f} ± {row[f'{m}_std']:.{digits}f}"
                               for m in metrics)] for row in summary]
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header))]

    def join(cells):
        return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)).rstrip()

    return "\n".join([join(header), join("-" * w for w in widths), *map(join, lines)])


def plot_summary(
    summary: Sequence[Row],
    metrics: Sequence[str],
    *,
    baseline: str | None = None,
    axes: Sequence[plt.Axes] | None = None,
    titles: Sequence[str] | None = None,
) -> plt.Figure:
    """One panel per metric: each configuration's mean as a dot with a ± std error bar.

    Args:
        summary: from ``summarize``.
        metrics: metric names, one panel each.
        baseline: a configuration name drawn in grey, with a dashed line at its mean.
        axes: existing axes, one per metric; new ones are created if ``None``.
        titles: panel titles (default: the metric names).

    Returns:
        The figure.
    """
    if axes is None:
        height = 0.8 + 0.32 * len(summary)
        fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), height),
                                 sharey=True, squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    names = [row["config"] for row in summary]
    positions = np.arange(len(names))[::-1]        # the first configuration on top
    for ax, metric, title in zip(axes, metrics, titles or metrics):
        means = [row[f"{metric}_mean"] for row in summary]
        stds = [row[f"{metric}_std"] for row in summary]
        for position, name, mean, std in zip(positions, names, means, stds):
            color = "0.5" if name == baseline else "C0"
            ax.errorbar(mean, position, xerr=std, fmt="o", color=color, capsize=3)
        if baseline is not None:
            ax.axvline(means[names.index(baseline)], color="0.5", linestyle="--", linewidth=1)
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(title)
        ax.set_yticks(positions, names)
    fig.tight_layout()
    return fig
