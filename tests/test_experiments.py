import math

import numpy as np
import pytest

from course_lib.experiments import (
    compare_to_baseline,
    format_table,
    plot_summary,
    run_experiment,
    summarize,
)


def _fake_train(config, *, seed):
    """A deterministic 'training run': accuracy = config's level + a seed-dependent offset."""
    return {"val_accuracy": config["level"] + 0.01 * seed, "gap": 0.5 - config["level"]}


CONFIGS = {"baseline": {"level": 0.5}, "better": {"level": 0.8}}


def test_run_experiment_returns_one_tidy_row_per_config_and_seed():
    rows = run_experiment(_fake_train, CONFIGS, seeds=[0, 1, 2])
    assert [(row["config"], row["seed"]) for row in rows] == [
        ("baseline", 0), ("baseline", 1), ("baseline", 2), ("better", 0), ("better", 1),
        ("better", 2)]
    assert rows[4]["val_accuracy"] == pytest.approx(0.81)
    assert all(isinstance(row["gap"], float) for row in rows)


def test_summarize_gives_mean_and_sample_std_per_config():
    summary = summarize(run_experiment(_fake_train, CONFIGS, seeds=[0, 1, 2]))
    assert [row["config"] for row in summary] == ["baseline", "better"]
    better = summary[1]
    assert better["n"] == 3
    assert better["val_accuracy_mean"] == pytest.approx(np.mean([0.8, 0.81, 0.82]))
    assert better["val_accuracy_std"] == pytest.approx(np.std([0.8, 0.81, 0.82], ddof=1))
    assert better["gap_std"] == pytest.approx(0.0)


def test_summarize_with_one_seed_has_zero_std_and_selects_metrics():
    summary = summarize(run_experiment(_fake_train, CONFIGS, seeds=[0]), ["gap"])
    assert set(summary[0]) == {"config", "n", "gap_mean", "gap_std"}
    assert summary[0]["gap_std"] == 0.0


def test_compare_to_baseline_measures_the_difference_in_units_of_the_larger_std():
    rows = [{"config": "a", "seed": s, "m": v} for s, v in enumerate([1.0, 2.0, 3.0])]
    rows += [{"config": "b", "seed": s, "m": v} for s, v in enumerate([5.0, 5.5, 6.0])]
    result = {row["config"]: row for row in compare_to_baseline(summarize(rows), "a", "m")}
    assert result["a"]["num_std"] == 0.0
    assert result["b"]["difference"] == pytest.approx(3.5)
    assert result["b"]["num_std"] == pytest.approx(3.5 / 1.0)   # std of a = 1, of b = 0.5


def test_compare_to_baseline_with_zero_spread_is_infinite():
    rows = [{"config": "a", "seed": 0, "m": 1.0}, {"config": "b", "seed": 0, "m": 2.0}]
    result = compare_to_baseline(summarize(rows), "a", "m")
    assert math.isinf(result[1]["num_std"]) and result[1]["num_std"] > 0


def test_format_table_shows_mean_plus_minus_std():
    summary = summarize(run_experiment(_fake_train, CONFIGS, seeds=[0, 1, 2]))
    table = format_table(summary, ["val_accuracy"], digits=2)
    lines = table.splitlines()
    assert lines[0].split() == ["config", "val_accuracy"]
    assert "0.81 ± 0.01" in lines[3]


def test_plot_summary_draws_one_panel_per_metric():
    summary = summarize(run_experiment(_fake_train, CONFIGS, seeds=[0, 1, 2]))
    fig = plot_summary(summary, ["val_accuracy", "gap"], baseline="baseline")
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["baseline", "better"][::-1] \
        or len(fig.axes[0].get_yticklabels()) == 2


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: run_experiment("not callable", CONFIGS, [0]), TypeError),
        (lambda: run_experiment(_fake_train, {}, [0]), ValueError),
        (lambda: run_experiment(_fake_train, CONFIGS, []), ValueError),
        (lambda: run_experiment(lambda c, seed: 0.5, CONFIGS, [0]), TypeError),
        (lambda: summarize([]), ValueError),
        (lambda: compare_to_baseline(summarize([{"config": "a", "seed": 0, "m": 1.0}]), "x", "m"),
         ValueError),
    ],
)
def test_bad_arguments_raise_helpful_errors(call, error):
    with pytest.raises(error):
        call()
