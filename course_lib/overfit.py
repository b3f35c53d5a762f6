"""A controlled overfitting setup: a wide MLP on a small, partly mislabelled slice of digits.

Chapter 6 tries every regularizer on *one* setup, so that their effects can be compared. The
setup overfits on purpose: 100 training images (10 per class) of scikit-learn's digits, a fifth
of their labels replaced by a wrong class (real data sets have label errors too; here they make
memorization visible), and an MLP with far more weights than images. Validation and test images
are the course's fixed splits with their true labels.

- ``make_overfit_data`` builds the small noisy training set and the clean evaluation sets.
- ``OverfitConfig`` holds every knob of one run (width, dropout, batch norm, optimizer, weight
  decay, L1, augmentation, early stopping, batch size, epochs).
- ``build_mlp`` builds the PyTorch model; ``train_overfit`` trains it and returns its history;
  ``run_overfit(config, seed=...)`` does both and returns the final metrics, the function
  ``course_lib.experiments.run_experiment`` calls once per configuration and seed.

Taught in: ch06, 06_1_overfitting-and-capacity.ipynb; used in 06_6 and 06_7.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from course_lib.data import load_digits_splits

NUM_CLASSES = 10
NUM_FEATURES = 64  # 8 x 8 pixels


@dataclass(frozen=True)
class OverfitData:
    """Images (N, 1, 8, 8) float32 in [0, 1] and int64 labels; only ``y_train`` is noisy."""

    x_train: np.ndarray
    y_train: np.ndarray
    y_train_clean: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def noisy_mask(self) -> np.ndarray:
        """Boolean (N_train,): which training labels were corrupted."""
        return self.y_train != self.y_train_clean


def make_overfit_data(
    *, n_per_class: int = 10, label_noise: float = 0.2, seed: int = 0
) -> OverfitData:
    """A small training slice of digits with some wrong labels, and the clean val/test splits.

    Args:
        n_per_class: training images per class, drawn from the course's training split
            (1 to 120; the split holds at least 123 of each digit).
        label_noise: fraction of training images (rounded down) whose label is replaced by a
            different class chosen at random; 0 keeps every label.
        seed: seeds the choice of images and of corrupted labels (not the training runs).

    Returns:
        An ``OverfitData`` with images shaped (N, 1, 8, 8), ready for PyTorch.
    """
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)):
        raise TypeError(f"n_per_class must be an int, got {type(n_per_class).__name__}")
    if not 1 <= n_per_class <= 120:
        raise ValueError(f"n_per_class must be in 1..120, got {n_per_class}")
    if not 0 <= label_noise < 1:
        raise ValueError(f"label_noise must be a fraction in [0, 1), got {label_noise}")
    splits = load_digits_splits(image_shape="nchw")
    rng = np.random.default_rng(seed)
    index = np.concatenate([
        rng.choice(np.flatnonzero(splits.y_train == k), n_per_class, replace=False)
        for k in range(NUM_CLASSES)
    ])
    y_clean = splits.y_train[index]
    y_noisy = y_clean.copy()
    num_noisy = int(label_noise * len(index))
    flipped = rng.choice(len(index), num_noisy, replace=False)
    offsets = rng.integers(1, NUM_CLASSES, num_noisy)          # never the true class
    y_noisy[flipped] = (y_clean[flipped] + offsets) % NUM_CLASSES
    return OverfitData(
        splits.x_train[index], y_noisy, y_clean,
        splits.x_val, splits.y_val, splits.x_test, splits.y_test,
    )


@dataclass(frozen=True)
class OverfitConfig:
    """Every knob of one training run; the defaults are the chapter's overfitting baseline.

    Attributes:
        hidden_units, num_hidden: width and number of hidden layers of the MLP.
        dropout: drop probability after each hidden ReLU; ``input_dropout`` on the pixels.
        batchnorm: BatchNorm1d between each hidden Linear layer and its ReLU.
        optimizer: ``"adam"`` (``weight_decay`` is then an L2 term added to the gradient),
            ``"adamw"`` (decoupled weight decay) or ``"sgd"`` (momentum 0.9).
        lr, weight_decay: learning rate and weight decay of the optimizer.
        l1: strength of the L1 penalty ``l1 * sum |w|`` over weight matrices (not biases).
        augment: random shifts of up to one pixel (``torchvision.transforms.v2.RandomCrop``
            with padding 1), drawn per image and per epoch.
        early_stopping_patience: stop after this many epochs without a lower validation loss
            and restore the best weights (``course_lib.callbacks.EarlyStopping``, Chapter 5);
            ``None`` trains all ``num_epochs``.
        batch_size, num_epochs: mini-batch size and number of passes over the training set.
    """

    hidden_units: int = 128
    num_hidden: int = 2
    dropout: float = 0.0
    input_dropout: float = 0.0
    batchnorm: bool = False
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    l1: float = 0.0
    augment: bool = False
    early_stopping_patience: int | None = None
    batch_size: int = 25
    num_epochs: int = 100


def build_mlp(config: OverfitConfig | None = None) -> "torch.nn.Sequential":  # noqa: F821
    """The MLP of ``config``: Flatten -> [Linear -> (BatchNorm) -> ReLU -> (Dropout)] x k -> Linear.

    Returns:
        An ``nn.Sequential`` mapping (N, 1, 8, 8) images to (N, 10) logits.
    """
    from torch import nn

    config = config or OverfitConfig()
    layers: list[nn.Module] = [nn.Flatten()]                  # (N, 1, 8, 8) -> (N, 64)
    if config.input_dropout:
        layers.append(nn.Dropout(config.input_dropout))
    width = NUM_FEATURES
    for _ in range(config.num_hidden):
        layers.append(nn.Linear(width, config.hidden_units))
        if config.batchnorm:
            layers.append(nn.BatchNorm1d(config.hidden_units))
        layers.append(nn.ReLU())
        if config.dropout:
            layers.append(nn.Dropout(config.dropout))
        width = config.hidden_units
    layers.append(nn.Linear(width, NUM_CLASSES))
    return nn.Sequential(*layers)


def make_optimizer(model, config: OverfitConfig) -> "torch.optim.Optimizer":  # noqa: F821
    """The optimizer ``config`` names, over ``model.parameters()``."""
    import torch

    params, lr, decay = model.parameters(), config.lr, config.weight_decay
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=decay)
    raise ValueError(f"optimizer must be 'adam', 'adamw' or 'sgd', got {config.optimizer!r}")


def l1_norm(model) -> "torch.Tensor":  # noqa: F821
    """Sum of |w| over the model's weight matrices (parameters with 2+ dims; biases excluded)."""
    return sum(p.abs().sum() for p in model.parameters() if p.ndim > 1)


def train_overfit(
    model, data: OverfitData, config: OverfitConfig, *, seed: int = 0, device="cpu"
) -> dict[str, list[float]]:
    """Train ``model`` on ``data.x_train`` with the regularizers of ``config``.

    The batches are drawn from a generator seeded with ``seed``, so a run is reproducible.
    After every epoch the model is evaluated (eval mode) on the whole training set, with its
    noisy labels, and on the validation set.

    Returns:
        ``{"loss", "accuracy", "val_loss", "val_accuracy", "lr"}`` -> per-epoch lists (what
        ``course_lib.plot.plot_learning_curves`` draws), plus ``"best_epoch"`` (1-based epoch
        of the lowest validation loss) and ``"epochs_run"``, each a one-element list. With
        early stopping the model ends with the weights of ``best_epoch``.
    """
    import torch
    from torch import nn
    from torchvision.transforms import v2

    from course_lib.callbacks import EarlyStopping

    generator = torch.Generator().manual_seed(seed)
    x_train, y_train = _tensors(data.x_train, data.y_train, device)
    x_val, y_val = _tensors(data.x_val, data.y_val, device)
    optimizer = make_optimizer(model, config)
    loss_fn = nn.CrossEntropyLoss()
    shift = v2.RandomCrop(8, padding=1) if config.augment else None   # shifts of <= 1 pixel
    history: dict[str, list[float]] = {k: [] for k in
                                       ("loss", "accuracy", "val_loss", "val_accuracy", "lr")}
    early_stopping = None
    if config.early_stopping_patience is not None:             # Chapter 5's callback
        early_stopping = EarlyStopping("val_loss", patience=config.early_stopping_patience,
                                       restore_best_weights=True)
        early_stopping.on_train_begin(model)
    for epoch in range(1, config.num_epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=generator).to(device)
        for start in range(0, len(x_train), config.batch_size):
            batch = order[start:start + config.batch_size]
            x = x_train[batch]
            if shift is not None:
                x = torch.stack([shift(image) for image in x])  # a new shift per image
            loss = loss_fn(model(x), y_train[batch])
            if config.l1:
                loss = loss + config.l1 * l1_norm(model)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        for prefix, (x, y) in (("", (x_train, y_train)), ("val_", (x_val, y_val))):
            loss_value, accuracy = _evaluate(model, x, y, loss_fn)
            history[prefix + "loss"].append(loss_value)
            history[prefix + "accuracy"].append(accuracy)
        history["lr"].append(optimizer.param_groups[0]["lr"])
        if early_stopping is not None and early_stopping.on_epoch_end(
                epoch - 1, history, model=model, optimizer=optimizer):
            break
    if early_stopping is not None:
        early_stopping.on_train_end(model)                     # restores the best weights
    best_epoch = int(np.argmin(history["val_loss"])) + 1
    history.update(best_epoch=[best_epoch], epochs_run=[epoch])
    return history


def run_overfit(
    config: OverfitConfig | Mapping | None = None,
    *,
    seed: int,
    data: OverfitData | None = None,
    device="cpu",
) -> dict[str, float]:
    """Seed, build, train and evaluate one model; the training function of Chapter 6's table.

    Args:
        config: an ``OverfitConfig`` or a mapping of its fields (missing ones take defaults).
        seed: seeds the initial weights, dropout masks, shifts and batch order.
        data: from ``make_overfit_data``; the default call's data if ``None``.

    Returns:
        ``{"train_accuracy", "val_accuracy", "test_accuracy", "gap", "epochs_run"}``: accuracies
        of the final model (eval mode; training accuracy against the noisy labels it was
        trained on) and ``gap = train_accuracy - val_accuracy``.
    """
    import torch
    from torch import nn

    if config is None:
        config = OverfitConfig()
    elif isinstance(config, Mapping):
        config = dataclasses.replace(OverfitConfig(), **config)
    elif not isinstance(config, OverfitConfig):
        raise TypeError(f"config must be an OverfitConfig or a mapping, got {type(config)}")
    data = data if data is not None else make_overfit_data()
    torch.manual_seed(seed)          # initial weights, dropout masks and shifts
    model = build_mlp(config).to(device)
    history = train_overfit(model, data, config, seed=seed, device=device)
    loss_fn = nn.CrossEntropyLoss()
    accuracies = {}
    for name, (x, y) in {"train": (data.x_train, data.y_train), "val": (data.x_val, data.y_val),
                         "test": (data.x_test, data.y_test)}.items():
        accuracies[f"{name}_accuracy"] = _evaluate(model, *_tensors(x, y, device), loss_fn)[1]
    return {**accuracies, "gap": accuracies["train_accuracy"] - accuracies["val_accuracy"],
            "epochs_run": float(history["epochs_run"][0])}


def _tensors(x: np.ndarray, y: np.ndarray, device):
    import torch

    return torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)


def _evaluate(model, x, y, loss_fn) -> tuple[float, float]:
    """Loss and accuracy on whole tensors: ``course_lib.train.evaluate`` over one batch."""
    from course_lib.train import evaluate

    return evaluate(model, [(x, y)], loss_fn, device=x.device)
