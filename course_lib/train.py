"""A small, readable PyTorch training loop: ``fit`` and ``evaluate``.

The loop is the four steps every chapter names (forward, loss, backward, update), once per
mini-batch, plus bookkeeping. ``fit`` returns a history dict that ``course_lib.plot.
plot_learning_curves`` draws, the same way it draws a Keras ``History``.

Taught in: ch02, 02_4_autograd-and-training-loop.ipynb; used from ch03 on.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm


def evaluate(
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    device: torch.device | str = "cpu",
) -> tuple[float, float]:
    """Mean loss and accuracy of a classifier over a loader (eval mode, no gradients).

    Args:
        model: maps a batch of inputs to logits of shape (N, K).
        loader: yields ``(inputs, labels)`` with integer labels of shape (N,).
        loss_fn: a loss with mean reduction, e.g. ``nn.CrossEntropyLoss()``.

    Returns:
        ``(loss, accuracy)`` averaged over every sample (not over batches).
    """
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            logits = model(inputs)
            total_loss += loss_fn(logits, labels).item() * len(labels)
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
) -> dict[str, list[float]]:
    """Train a classifier for ``num_epochs`` epochs; return its per-epoch history.

    Args:
        model: already on ``device``; returns logits (N, K).
        train_loader: yields ``(inputs, labels)``; one pass is one epoch.
        loss_fn: e.g. ``nn.CrossEntropyLoss()`` (takes logits, not probabilities).
        optimizer: any ``torch.optim`` optimizer over ``model.parameters()``.
        num_epochs: >= 1.
        val_loader: if given, validation loss/accuracy are recorded after every epoch.
        scheduler: a learning-rate scheduler stepped once per epoch; ``ReduceLROnPlateau`` is
            stepped with the validation loss (training loss without a validation set).
        progress: show a tqdm bar over epochs.

    Returns:
        ``{"loss", "accuracy", "val_loss", "val_accuracy", "lr"}`` -> lists, one entry per
        epoch (the ``val_`` keys only with ``val_loader``). Training metrics are averaged over
        the epoch's batches, weighted by batch size, while the weights change.
    """
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive int, got {num_epochs!r}")
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "lr": []}
    if val_loader is not None:
        history.update(val_loss=[], val_accuracy=[])
    for _ in tqdm(range(num_epochs), disable=not progress, desc="epochs"):
        loss, accuracy = _train_one_epoch(model, train_loader, loss_fn, optimizer, device)
        history["loss"].append(loss)
        history["accuracy"].append(accuracy)
        history["lr"].append(optimizer.param_groups[0]["lr"])
        monitored = loss
        if val_loader is not None:
            val_loss, val_accuracy = evaluate(model, val_loader, loss_fn, device=device)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_accuracy)
            monitored = val_loss
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(monitored)
        elif scheduler is not None:
            scheduler.step()
    return history


def _train_one_epoch(model, loader, loss_fn, optimizer, device) -> tuple[float, float]:
    model.train()
    total_loss, correct, count = 0.0, 0, 0
    for inputs, labels in loader:
        inputs, labels = inputs.to(device), labels.to(device)
        logits = model(inputs)             # 1. forward
        loss = loss_fn(logits, labels)     # 2. loss
        optimizer.zero_grad()
        loss.backward()                    # 3. backward
        optimizer.step()                   # 4. update
        total_loss += loss.item() * len(labels)
        correct += (logits.argmax(dim=1) == labels).sum().item()
        count += len(labels)
    if count == 0:
        raise ValueError("the training loader yielded no samples")
    return total_loss / count, correct / count
