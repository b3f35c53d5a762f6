"""The transfer-learning experiment: the three strategies compared fairly on one target task.

- ``compare_strategies``: scratch, feature extraction and fine-tuning trained on the same
  ``TargetTask`` with the budgets of ``TransferSettings``; validation and test accuracy of each
  (a train function for ``course_lib.experiments.run_experiment``, which repeats it over seeds
  and label budgets).
- ``train_scratch`` / ``scratch_scores`` / ``scratch_lr_search``: the scratch baseline, with
  early stopping on validation accuracy and its step size chosen on validation, never on test.
- ``plot_label_budget``: accuracy vs labels per class with error bars.

Models, data and the step-counted training loops are ``course_lib.transfer``'s.

Taught in: ch08, 08_4_label-budget-experiment.ipynb and 08_5_keras-experiment-and-checklist.ipynb.
"""

from __future__ import annotations

import contextlib

import matplotlib.pyplot as plt
import numpy as np

from course_lib import pretrained, transfer
from course_lib.shapes import TARGET_CLASSES
from course_lib.transfer import (STRATEGIES, TargetTask, TransferSettings, embed, fit_steps_keras,
                                 fit_steps_torch, transfer_model_keras, transfer_model_torch)


def compare_strategies(task: TargetTask, *, framework: str = "torch", seed: int = 0,
                       settings: TransferSettings = TransferSettings(),
                       name: str = "shapes_vgg", device=None,
                       strategies: tuple[str, ...] = STRATEGIES) -> dict[str, float]:
    """Train all three strategies on ``task.train``; return their val and test accuracies.

    Scratch is ``train_scratch`` (early stopping on validation accuracy). Feature extraction
    trains a new head on cached embeddings of the frozen backbone; fine-tuning continues from
    that model (head first, then the top blocks with a smaller step size: the two-phase
    recipe), so it costs only its extra steps.

    Args:
        device: the PyTorch device (``course_lib.device.get_device()``); default CPU. Keras
            picks its device itself.
        strategies: the strategies to run and report (a subset of ``STRATEGIES``).

    Returns:
        ``{"<strategy>_val": accuracy, "<strategy>_test": accuracy}`` for each of
        ``STRATEGIES`` (fractions in [0, 1]), plus scratch's ``"scratch_epochs"`` (epochs
        run) and ``"scratch_best_epoch"`` (the one restored); a train function for
        ``course_lib.experiments.run_experiment``.
    """
    from course_lib.device import set_seed

    pretrained._check_framework(framework)
    strategies = tuple(strategies)
    for strategy in strategies:
        transfer._check_strategy(strategy)
    set_seed(seed)
    scores = {}
    if "scratch" in strategies:
        scores.update(scratch_scores(task, framework=framework, seed=seed, settings=settings,
                                     name=name, device=device))
    if {"feature_extraction", "fine_tuning"} & set(strategies):
        run = _run_keras if framework == "keras" else _run_torch
        transferred = run(task, seed=seed, settings=settings, name=name,
                          device=device or "cpu", fine_tune="fine_tuning" in strategies)
        scores.update({key: value for key, value in transferred.items()
                       if key.rsplit("_", 1)[0] in strategies})
    return scores


def _scores(strategy: str, model, task: TargetTask, framework: str) -> dict[str, float]:
    # One prediction pass over val + test together (one Keras predict trace, not two).
    images = np.concatenate([task.val.images, task.test.images])
    labels = np.concatenate([task.val.labels, task.test.labels])
    correct = pretrained.predict(model, images, framework, batch_size=len(images)) == labels
    n_val = len(task.val.labels)
    return {f"{strategy}_val": float(correct[:n_val].mean()),
            f"{strategy}_test": float(correct[n_val:].mean())}


def train_scratch(task: TargetTask, *, framework: str = "torch", seed: int = 0,
                  settings: TransferSettings = TransferSettings(), lr: float | None = None,
                  name: str = "shapes_vgg", device=None):
    """The scratch baseline: random weights, trained until validation accuracy stops improving.

    Up to ``settings.scratch_max_steps`` Adam steps at ``lr`` (default ``settings.scratch_lr``)
    with ``settings.augment``; after every ``scratch_eval_every`` steps (an epoch) the
    validation accuracy is measured, training stops after ``scratch_patience`` epochs without
    improvement, and the best epoch's weights are restored (``course_lib.callbacks.
    EarlyStopping`` in PyTorch, ``keras.callbacks.EarlyStopping`` in Keras).

    Returns:
        ``(model, history, budget)``: the trained model; the per-epoch history (a dict in
        PyTorch, a ``History`` in Keras: ``plot_learning_curves`` takes both); ``budget`` =
        ``{"epochs": epochs run, "best_epoch": the restored epoch (from 1), "steps": steps
        run, "steps_per_epoch": ...}``.
    """
    from course_lib.device import set_seed

    pretrained._check_framework(framework)
    set_seed(seed)
    lr = settings.scratch_lr if lr is None else lr
    epochs = max(1, settings.scratch_max_steps // settings.scratch_eval_every)
    common = dict(steps=epochs * settings.scratch_eval_every, batch_size=settings.batch_size,
                  evaluations=epochs, seed=seed, augment=settings.augment)
    x = pretrained.as_inputs(task.train.images, framework)
    val = (pretrained.as_inputs(task.val.images, framework), task.val.labels)
    if framework == "keras":
        import keras

        model = _compile_keras(transfer_model_keras("scratch", name=name), lr)
        stopper = keras.callbacks.EarlyStopping(
            "val_accuracy", mode="max", patience=settings.scratch_patience,
            restore_best_weights=True)
        with _quiet_tensorflow():
            history = fit_steps_keras(model, x, task.train.labels, val=val,
                                      callbacks=[stopper], **common)
        run = len(history.history["val_accuracy"])
    else:
        import torch

        from course_lib.callbacks import EarlyStopping

        model = transfer_model_torch("scratch", name=name).to(device or "cpu")
        stopper = EarlyStopping("val_accuracy", patience=settings.scratch_patience,
                                restore_best_weights=True)
        history = fit_steps_torch(
            model, x, torch.from_numpy(task.train.labels), val=(val[0], torch.from_numpy(val[1])),
            optimizer=torch.optim.Adam(model.parameters(), lr=lr), callbacks=[stopper],
            device=device or "cpu", **common)
        run = len(history["val_accuracy"])
    budget = {"epochs": run, "best_epoch": int(stopper.best_epoch) + 1,
              "steps": run * settings.scratch_eval_every,
              "steps_per_epoch": settings.scratch_eval_every}
    return model, history, budget


def _compile_keras(model, lr):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(lr), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class _quiet_tensorflow:
    # Every run builds new models, so predict/fit functions are traced again on purpose:
    # silence TensorFlow's "triggered tf.function retracing" warning meant for loops.
    def __enter__(self):
        import tensorflow as tf

        self.logger = tf.get_logger()
        self.level = self.logger.level
        self.logger.setLevel("ERROR")

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)
        return False


def scratch_scores(task: TargetTask, *, framework: str = "torch", seed: int = 0,
                   settings: TransferSettings = TransferSettings(), lr: float | None = None,
                   name: str = "shapes_vgg", device=None) -> dict[str, float]:
    """``train_scratch``, then ``{"scratch_val", "scratch_test", "scratch_epochs",
    "scratch_best_epoch"}`` (accuracies; epochs run; the restored epoch, from 1)."""
    return _scratch_run(task, framework=framework, seed=seed, settings=settings, lr=lr,
                        name=name, device=device)["scores"]


def scratch_lr_search(task: TargetTask, lrs, *, framework: str = "torch", seed: int = 0,
                      settings: TransferSettings = TransferSettings(),
                      name: str = "shapes_vgg", device=None) -> dict[float, dict]:
    """Train the scratch baseline once per step size; choose by ``"scratch_val"``.

    Returns:
        ``{lr: {"scores": scratch_scores(...), "history": ..., "budget": ...}}``, so the
        chosen run can be reused (it is exactly ``scratch_scores`` with that ``lr``).
    """
    return {float(lr): _scratch_run(task, framework=framework, seed=seed, settings=settings,
                                    lr=lr, name=name, device=device) for lr in lrs}


def _scratch_run(task, *, framework, seed, settings, lr, name, device) -> dict:
    with _quiet_tensorflow() if framework == "keras" else contextlib.nullcontext():
        model, history, budget = train_scratch(task, framework=framework, seed=seed,
                                               settings=settings, lr=lr, name=name,
                                               device=device)
        scores = {**_scores("scratch", model, task, framework),
                  "scratch_epochs": budget["epochs"], "scratch_best_epoch": budget["best_epoch"]}
    return {"scores": scores, "history": history, "budget": budget}


def _run_torch(task, *, seed, settings, name, device, fine_tune=True):
    import torch

    scores = {}
    x, y = pretrained.as_inputs(task.train.images, "torch"), torch.from_numpy(task.train.labels)
    steps = dict(batch_size=settings.batch_size, seed=seed, device=device)
    model = transfer_model_torch("fine_tuning", name=name, top_blocks=settings.top_blocks)
    model = model.to(device)
    embeddings = torch.from_numpy(embed(model.features, task.train.images, "torch"))
    fit_steps_torch(model.classifier, embeddings, y, steps=settings.head_steps, **steps,
                    optimizer=torch.optim.Adam(model.classifier.parameters(), lr=settings.head_lr))
    scores.update(_scores("feature_extraction", model, task, "torch"))
    if not fine_tune:
        return scores
    trainable = [p for p in model.parameters() if p.requires_grad]
    fit_steps_torch(model, x, y, steps=settings.finetune_steps, augment=settings.augment,
                    optimizer=torch.optim.Adam(trainable, lr=settings.finetune_lr), **steps)
    return {**scores, **_scores("fine_tuning", model, task, "torch")}


def _run_keras(task, *, seed, settings, name, device=None, fine_tune=True):
    import keras

    x, y = pretrained.as_inputs(task.train.images, "keras"), task.train.labels
    steps = dict(batch_size=settings.batch_size, seed=seed)
    with _quiet_tensorflow():
        model = transfer_model_keras("fine_tuning", name=name, top_blocks=settings.top_blocks)
        embeddings = embed(model.get_layer("features"), task.train.images, "keras")
        head = keras.Sequential([keras.Input(embeddings.shape[1:]),
                                 model.get_layer("classifier")])
        fit_steps_keras(_compile_keras(head, settings.head_lr), embeddings, y,
                        steps=settings.head_steps, **steps)
        scores = _scores("feature_extraction", model, task, "keras")
        if not fine_tune:
            return scores
        fit_steps_keras(_compile_keras(model, settings.finetune_lr), x, y,
                        steps=settings.finetune_steps, augment=settings.augment, **steps)
        return {**scores, **_scores("fine_tuning", model, task, "keras")}


def plot_label_budget(summary: list[dict], budgets: list[int], *, split: str = "test",
                      ax: plt.Axes | None = None, title: str | None = None) -> plt.Figure:
    """Accuracy vs labels per class, one line per strategy, error bars = ± 1 std over seeds.

    The three lines are shifted by a few percent along x so that their error bars stay visible.

    Args:
        summary: ``course_lib.experiments.summarize`` of ``compare_strategies`` rows, one row
            per budget, in the order of ``budgets``.
        budgets: labels per class of each row (the x axis, logarithmic).
    """
    if len(summary) != len(budgets):
        raise ValueError(f"one budget per summary row: {len(budgets)} vs {len(summary)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.4))
    for index, strategy in enumerate(STRATEGIES):
        means = [row[f"{strategy}_{split}_mean"] for row in summary]
        stds = [row[f"{strategy}_{split}_std"] for row in summary]
        dodge = 1.06 ** (index - 1)  # shift the lines apart a little (log x) so bars don't hide
        ax.errorbar([b * dodge for b in budgets], means, yerr=stds, marker="o", capsize=3,
                    color=f"C{index}", label=strategy.replace("_", " "))
    ax.axhline(1 / len(TARGET_CLASSES), color="0.6", linestyle=":", label="chance")
    ax.set(xscale="log", xlabel="labels per class", ylabel=f"{split} accuracy", ylim=(0, 1.02),
           title=title)
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.minorticks_off()
    counts = sorted({row["n"] for row in summary if "n" in row})
    seeds = "-".join(str(n) for n in sorted({counts[0], counts[-1]})) if counts else ""
    ax.legend(fontsize=8, title_fontsize=8, loc="upper left",
              title="mean ± std" + (f" over {seeds} seeds" if seeds else ""))
    ax.grid(alpha=0.3)
    return ax.figure
