"""Tests of course_lib.transfer_experiment: the scratch baseline, the strategy comparison and
the label-budget plot."""

import course_lib  # noqa: F401 - first: prepares the TensorFlow import

import numpy as np
import pytest

from course_lib import pretrained, transfer, transfer_experiment

needs_weights = pytest.mark.usefixtures("shapes_vgg_weights")


def test_train_scratch_stops_early_and_restores_the_best_epoch():
    settings = transfer.TransferSettings(scratch_max_steps=12, scratch_eval_every=2,
                                         scratch_patience=1, batch_size=6)
    task = transfer.target_task_data(1, seed=0)
    model, history, budget = transfer_experiment.train_scratch(task, settings=settings, seed=0)
    assert budget["steps"] == budget["epochs"] * 2 <= 12
    assert budget["epochs"] == len(history["val_accuracy"])
    best = int(np.argmax(history["val_accuracy"]))  # the first best epoch
    assert budget["best_epoch"] == best + 1
    assert budget["epochs"] == 6 or budget["epochs"] - budget["best_epoch"] == 1
    assert pretrained.accuracy(model, task.val, "torch") == history["val_accuracy"][best]
    search = transfer_experiment.scratch_lr_search(task, [1e-3], settings=settings, seed=0)
    assert search[1e-3]["scores"] == transfer_experiment.scratch_scores(task, settings=settings,
                                                                        lr=1e-3)


@needs_weights
def test_compare_strategies_runs_only_the_requested_strategies():
    settings = transfer.TransferSettings(head_steps=3, finetune_steps=2)
    task = transfer.target_task_data(1, seed=0)
    scores = transfer_experiment.compare_strategies(task, settings=settings,
                                                    strategies=("feature_extraction",))
    assert sorted(scores) == ["feature_extraction_test", "feature_extraction_val"]
    with pytest.raises(ValueError, match="strategy"):
        transfer_experiment.compare_strategies(task, settings=settings, strategies=("linear",))


def test_plot_label_budget_draws_one_line_per_strategy_with_its_error_bars():
    budgets = [2, 20]
    summary = [{f"{s}_test_{stat}": value for s in transfer.STRATEGIES
                for stat, value in (("mean", 0.5 + 0.1 * row), ("std", 0.05))} | {"n": 3}
               for row in range(2)]
    figure = transfer_experiment.plot_label_budget(summary, budgets)
    ax = figure.axes[0]
    lines = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(lines) == len(transfer.STRATEGIES)
    for line in lines:
        np.testing.assert_allclose(np.asarray(line.get_ydata(), dtype=float), [0.5, 0.6])
    assert ax.get_legend().get_title().get_text() == "mean ± std over 3 seeds"
    with pytest.raises(ValueError, match="one budget per summary row"):
        transfer_experiment.plot_label_budget(summary, [2])
