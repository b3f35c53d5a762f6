"""Callbacks for ``course_lib.train.fit``: early stopping and checkpoints, written out plainly.

They mirror Keras' ``keras.callbacks.EarlyStopping`` and ``keras.callbacks.ModelCheckpoint``
so that the PyTorch loop and ``model.fit`` can be compared line by line. Learning-rate
reduction needs no callback here: PyTorch's own ``torch.optim.lr_scheduler.ReduceLROnPlateau``
is passed to ``fit(scheduler=...)``.

``fit`` calls three hooks, in this order:

- ``on_train_begin(model)`` once, before the first epoch;
- ``on_epoch_end(epoch, history, *, model, optimizer, scheduler, train_loader) -> bool`` after
  every epoch (``epoch`` counts from 0, ``history`` already holds that epoch's numbers);
  returning ``True`` asks the loop to stop;
- ``on_train_end(model)`` once, after the last epoch (stopped early or not).

Taught in: ch05, 05_4_callbacks-and-checkpoints.ipynb; used in ch06.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn


class Callback:
    """Base class: subclass it and override the hooks you need (each does nothing here)."""

    def on_train_begin(self, model: nn.Module) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, epoch: int, history: dict[str, list[float]], *, model: nn.Module,
                     optimizer: torch.optim.Optimizer, scheduler=None,
                     train_loader=None) -> bool:
        """Called after every epoch; return ``True`` to stop training."""
        return False

    def on_train_end(self, model: nn.Module) -> None:
        """Called once after the last epoch."""


class _Monitor(Callback):
    """Shared bookkeeping: which number to watch, and what counts as an improvement."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor must be a history key such as 'val_loss', got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or not (
            min_delta >= 0
        ):
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        self.monitor, self.min_delta = monitor, float(min_delta)
        self.mode = _resolve_mode(monitor, mode)
        self.best: float | None = None
        self.best_epoch: int | None = None

    def current(self, history: dict[str, list[float]]) -> float:
        if not history.get(self.monitor):
            raise ValueError(
                f"monitor {self.monitor!r} is not in the history (keys: {sorted(history)}); "
                "monitor a 'val_' key only when fit is given a val_loader"
            )
        return history[self.monitor][-1]

    def is_improvement(self, value: float) -> bool:
        """Better than the best so far by more than ``min_delta`` (Keras' rule)."""
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


def _resolve_mode(monitor: str, mode: str) -> str:
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    if name.endswith("loss"):
        return "min"
    if name.endswith("acc") or name.endswith("accuracy"):
        return "max"
    raise ValueError(f"cannot tell whether {monitor!r} should go up or down; pass mode='min' "
                     "or mode='max'")


class EarlyStopping(_Monitor):
    """Stop when the monitored value has not improved for ``patience`` epochs (as in Keras).

    After every epoch a wait counter goes up by one; an improvement by more than
    ``min_delta`` resets it to 0 and records ``best`` and ``best_epoch``. Training stops at
    the first epoch where the counter reaches ``patience`` (``patience=0``: the first epoch
    without improvement). With ``restore_best_weights=True`` the model gets the best epoch's
    weights back when training ends (also when it ran to ``num_epochs`` without stopping).

    Attributes (epochs count from 0, like Keras' and the history's indices):
        best, best_epoch: the best monitored value so far and its epoch.
        stopped_epoch: the epoch after which training stopped, or ``None``.
        wait: epochs since the last improvement.
    """

    def __init__(self, monitor: str = "val_loss", *, patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        super().__init__(monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        self.patience, self.restore_best_weights = patience, bool(restore_best_weights)
        self.on_train_begin(None)

    def on_train_begin(self, model) -> None:
        self.wait, self.best, self.best_epoch, self.stopped_epoch = 0, None, None, None
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, epoch, history, *, model, optimizer=None, scheduler=None,
                     train_loader=None) -> bool:
        value = self.current(history)
        self.wait += 1
        if self.is_improvement(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = {
                    name: tensor.detach().clone() for name, tensor in model.state_dict().items()
                }
            return False
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, model) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            model.load_state_dict(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save everything needed to resume training, after every epoch or only on improvement.

    The file (written with ``torch.save``) is a dict with ``"model"``, ``"optimizer"`` and
    ``"scheduler"`` state dicts, ``"epoch"`` (epochs completed: pass it to
    ``fit(initial_epoch=...)``), ``"history"`` (so far), ``"monitor"``, ``"best"`` and the
    random-number states (``"rng"``) that make a resumed run repeat an uninterrupted one.

    Args:
        path: file to write; may hold Keras-style fields, e.g. ``"ckpt-{epoch:02d}.pt"``
            (``epoch`` counts from 1 in file names, as in Keras) or ``"{val_loss:.3f}"``.
        monitor: history key compared when ``save_best_only``.
        save_best_only: write only when ``monitor`` improves; else write every epoch.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (losses go down, accuracies go up).

    Attributes:
        best, best_epoch: the best monitored value so far and its epoch (from 0).
        saved_epochs: the epochs (from 0) after which a file was written.
    """

    def __init__(self, path: str | os.PathLike, *, monitor: str = "val_loss",
                 save_best_only: bool = True, mode: str = "auto") -> None:
        super().__init__(monitor, mode)
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or a pathlib.Path, got {type(path).__name__}")
        self.path, self.save_best_only = os.fspath(path), bool(save_best_only)
        self.saved_epochs: list[int] = []

    def on_epoch_end(self, epoch, history, *, model, optimizer, scheduler=None,
                     train_loader=None) -> bool:
        value = self.current(history)
        improved = self.is_improvement(value)
        if improved:
            self.best, self.best_epoch = value, epoch
        if improved or not self.save_best_only:
            path = Path(self.path.format(epoch=epoch + 1, **_last_values(history)))
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "epoch": epoch + 1,
                "history": {key: list(values) for key, values in history.items()},
                "monitor": self.monitor,
                "best": self.best,
                "rng": _rng_states(train_loader),
            }, path)
            self.saved_epochs.append(epoch)
        return False


def load_checkpoint(path: str | os.PathLike, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None, scheduler=None, *,
                    train_loader=None) -> dict:
    """Load a ``ModelCheckpoint`` file into a model (and optimizer, scheduler) to resume.

    Args:
        path: a file written by ``ModelCheckpoint``.
        model: same architecture as the saved one; its weights are replaced in place.
        optimizer, scheduler: if given, their states are restored too (needed to resume).
        train_loader: if given, its shuffling generator is restored as well, so the next
            epochs see the batches an uninterrupted run would. PyTorch's global random state
            (dropout, augmentation) is always restored.

    Returns:
        ``{"epoch", "history", "monitor", "best"}``: resume with
        ``fit(..., initial_epoch=info["epoch"], history=info["history"])``.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"no checkpoint at {os.fspath(path)!r}; train with "
                                "ModelCheckpoint first")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        if checkpoint["scheduler"] is None:
            raise ValueError("the checkpoint holds no scheduler state (saved without one)")
        scheduler.load_state_dict(checkpoint["scheduler"])
    _restore_rng(checkpoint["rng"], train_loader)
    return {key: checkpoint[key] for key in ("epoch", "history", "monitor", "best")}


def _last_values(history: dict[str, list[float]]) -> dict[str, float]:
    return {key: values[-1] for key, values in history.items() if values}


def _rng_states(train_loader) -> dict:
    generator = getattr(train_loader, "generator", None)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "loader": None if generator is None else generator.get_state(),
    }


def _restore_rng(states: dict, train_loader) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    generator = getattr(train_loader, "generator", None)
    if generator is not None and states["loader"] is not None:
        generator.set_state(states["loader"])

