"""A small, readable PyTorch training loop: ``fit`` and ``evaluate``.

The loop is the four steps every chapter names (forward, loss, backward, update), once per
mini-batch, plus bookkeeping. ``fit`` returns a history dict that ``course_lib.plot.
plot_learning_curves`` draws, the same way it draws a Keras ``History``.

``fit`` also takes callbacks (``course_lib.callbacks``: early stopping, checkpoints) and resumes
from a checkpoint with ``initial_epoch=`` and ``history=``, like Keras' ``model.fit``. With
``amp=True`` it trains in mixed precision on a CUDA GPU (``torch.autocast`` to float16 plus a
``torch.amp.GradScaler``); on any other device ``amp`` changes nothing, so a notebook can turn
it on and still give the CPU's results on a CPU.

Taught in: ch02, 02_4_autograd-and-training-loop.ipynb; callbacks and resuming in ch05,
05_4_callbacks-and-checkpoints.ipynb; mixed precision in ch05, 05_6; used from ch03 on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm


def evaluate(
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    device: torch.device | str = "cpu",
    amp: bool = False,
) -> tuple[float, float]:
    """Mean loss and accuracy of a classifier over a loader (eval mode, no gradients).

    Args:
        model: maps a batch of inputs to logits of shape (N, K).
        loader: yields ``(inputs, labels)`` with integer labels of shape (N,).
        loss_fn: a loss with mean reduction, e.g. ``nn.CrossEntropyLoss()``.
        amp: run the forward pass under float16 autocast on CUDA; ignored elsewhere.

    Returns:
        ``(loss, accuracy)`` averaged over every sample (not over batches).
    """
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            with autocast(device, enabled=amp):
                logits = model(inputs)
                loss = loss_fn(logits, labels)
            total_loss += loss.item() * len(labels)
            correct += (logits.argmax(dim=1) == labels).sum().item()
            count += len(labels)
    if count == 0:
        raise ValueError("the loader yielded no samples")
    return total_loss / count, correct / count


def fit(
    model: nn.Module,
    train_loader: torch.utils.data.DataLoader,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    num_epochs: int,
    val_loader: torch.utils.data.DataLoader | None = None,
    scheduler=None,
    device: torch.device | str = "cpu",
    progress: bool = False,
    callbacks: Sequence = (),
    initial_epoch: int = 0,
    history: dict[str, list[float]] | None = None,
    amp: bool = False,
) -> dict[str, list[float]]:
    """Train a classifier up to epoch ``num_epochs``; return its per-epoch history.

    Args:
        model: already on ``device``; returns logits (N, K).
        train_loader: yields ``(inputs, labels)``; one pass is one epoch.
        loss_fn: e.g. ``nn.CrossEntropyLoss()`` (takes logits, not probabilities).
        optimizer: any ``torch.optim`` optimizer over ``model.parameters()``.
        num_epochs: the epoch to train up to, > ``initial_epoch`` (as Keras' ``epochs``).
        val_loader: if given, validation loss/accuracy are recorded after every epoch.
        scheduler: a learning-rate scheduler stepped once per epoch; ``ReduceLROnPlateau`` is
            stepped with the validation loss (training loss without a validation set).
        progress: show a tqdm bar over epochs (with the last losses).
        callbacks: ``course_lib.callbacks`` objects (``EarlyStopping``, ``ModelCheckpoint``,
            or your own ``Callback`` subclass); any of them can stop training early.
        initial_epoch: epochs already done, to resume (e.g. ``load_checkpoint(...)["epoch"]``);
            trains epochs ``initial_epoch .. num_epochs - 1``.
        history: the history of those epochs, to continue (copied, not modified); its lists
            must have ``initial_epoch`` entries.
        amp: mixed precision on CUDA: forward and loss under ``torch.autocast(dtype=float16)``,
            the loss scaled by a ``torch.amp.GradScaler`` so small gradients do not underflow
            in float16. Ignored (plain float32) on the CPU and MPS. The scaler's state is not
            checkpointed: a resumed run starts a fresh scaler.

    Returns:
        ``{"loss", "accuracy", "val_loss", "val_accuracy", "lr"}`` -> lists, one entry per
        epoch (the ``val_`` keys only with ``val_loader``). Training metrics are averaged over
        the epoch's batches, weighted by batch size, while the weights change.
    """
    _check_epochs(num_epochs, initial_epoch)
    history = _start_history(history, initial_epoch, with_validation=val_loader is not None)
    for callback in callbacks:
        if not callable(getattr(callback, "on_epoch_end", None)):
            raise TypeError(f"callbacks must be course_lib.callbacks objects, got {callback!r}")
        callback.on_train_begin(model)
    scaler = torch.amp.GradScaler("cuda", enabled=uses_amp(device, amp))
    epochs = tqdm(range(initial_epoch, num_epochs), disable=not progress, desc="epochs")
    for epoch in epochs:
        loss, accuracy = _train_one_epoch(model, train_loader, loss_fn, optimizer, device,
                                          scaler)
        history["loss"].append(loss)
        history["accuracy"].append(accuracy)
        history["lr"].append(optimizer.param_groups[0]["lr"])
        monitored = loss
        if val_loader is not None:
            val_loss, val_accuracy = evaluate(model, val_loader, loss_fn, device=device,
                                              amp=amp)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_accuracy)
            monitored = val_loss
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(monitored)
        elif scheduler is not None:
            scheduler.step()
        epochs.set_postfix({key: f"{values[-1]:.3g}" for key, values in history.items()})
        stop = [callback.on_epoch_end(epoch, history, model=model, optimizer=optimizer,
                                      scheduler=scheduler, train_loader=train_loader)
                for callback in callbacks]  # a list, not any(...): every callback sees the epoch
        if any(stop):
            break
    for callback in callbacks:
        callback.on_train_end(model)
    return history


def uses_amp(device: torch.device | str, amp: bool) -> bool:
    """Whether ``amp=True`` takes effect on ``device``: only on CUDA (see :func:`fit`)."""
    return bool(amp) and torch.device(device).type == "cuda"


def autocast(device: torch.device | str, *, enabled: bool):
    """``torch.autocast`` to float16 where :func:`uses_amp`, else a context that does nothing."""
    if not uses_amp(device, enabled):
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.float16)


def _check_epochs(num_epochs: int, initial_epoch: int) -> None:
    for name, value in (("num_epochs", num_epochs), ("initial_epoch", initial_epoch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    if num_epochs <= initial_epoch:
        raise ValueError(f"num_epochs ({num_epochs}) must be greater than initial_epoch "
                         f"({initial_epoch}): it is the epoch to train up to, as in Keras")


def _start_history(history, initial_epoch: int, *, with_validation: bool):
    keys = ["loss", "accuracy", "lr"] + (["val_loss", "val_accuracy"] if with_validation else [])
    if history is None:
        if initial_epoch:
            raise ValueError("resuming (initial_epoch > 0) needs the earlier history=, e.g. "
                             "load_checkpoint(...)['history']")
        return {key: [] for key in keys}
    if sorted(history) != sorted(keys):
        raise ValueError(f"history must have the keys {sorted(keys)}, got {sorted(history)}")
    lengths = {len(values) for values in history.values()}
    if lengths != {initial_epoch}:
        raise ValueError(f"history has {sorted(lengths)} entries per key but initial_epoch is "
                         f"{initial_epoch}; they must match")
    return {key: list(history[key]) for key in keys}


def _train_one_epoch(model, loader, loss_fn, optimizer, device,
                     scaler: torch.amp.GradScaler) -> tuple[float, float]:
    model.train()
    total_loss, correct, count = 0.0, 0, 0
    for inputs, labels in loader:
        inputs, labels = inputs.to(device), labels.to(device)
        with autocast(device, enabled=scaler.is_enabled()):
            logits = model(inputs)             # 1. forward
            loss = loss_fn(logits, labels)     # 2. loss
        optimizer.zero_grad()
        scaler.scale(loss).backward()      # 3. backward (scale() is the identity without amp)
        scaler.step(optimizer)             # 4. update (skipped if scaled grads overflowed)
        scaler.update()
        total_loss += loss.item() * len(labels)
        correct += (logits.argmax(dim=1) == labels).sum().item()
        count += len(labels)
    if count == 0:
        raise ValueError("the training loader yielded no samples")
    return total_loss / count, correct / count
