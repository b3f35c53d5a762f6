"""Transfer learning on the shapes target task: its data and the three strategies' models.

The course's pretrained models (``course_lib.pretrained``) learned 10 ``SOURCE_CLASSES``. The
*target task* here is the 6 ``TARGET_CLASSES`` they never saw, with few labels per class, on the
same four backgrounds (or a chosen subset: another *domain*).

- ``target_task_data(labels_per_class, seed=)``: a small labelled ``train`` set plus fixed
  ``val`` / ``test`` sets (seeds disjoint from pretraining's; nested: 5 labels per class are the
  first 5 of 10).
- ``transfer_model_torch`` / ``transfer_model_keras``: the three strategies, ``"scratch"``,
  ``"feature_extraction"`` (frozen backbone, new head) and ``"fine_tuning"`` (top blocks
  unfrozen), with batch normalization of the backbone kept in inference mode when transferring.
- ``count_parameters``, ``embed`` (cache a backbone's embeddings), ``fit_steps_torch`` /
  ``fit_steps_keras`` (train for a number of gradient steps, whatever the data size).

The fair comparison of the strategies over label budgets and seeds (``compare_strategies``,
the scratch baseline, ``plot_label_budget``) is in ``course_lib.transfer_experiment``.

Taught in: ch08, 08_1_why-transfer-works.ipynb to 08_3_fine-tuning-and-batchnorm.ipynb.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from course_lib import pretrained
from course_lib.shapes import BACKGROUNDS, TARGET_CLASSES, ShapesData, render_shape

STRATEGIES = ("scratch", "feature_extraction", "fine_tuning")
# Base seeds of the target task's splits: far from pretraining's (7_000 to 9_003).
TARGET_SEEDS = {"train": 40_000, "val": 41_000, "test": 42_000}
EVAL_SIZES = {"val": 30, "test": 100}  # images per class of the fixed evaluation splits


@dataclass(frozen=True)
class TargetTask:
    """The target task: a small ``train`` set and fixed ``val`` and ``test`` sets."""

    train: ShapesData
    val: ShapesData
    test: ShapesData


@dataclass(frozen=True)
class TransferSettings:
    """Training budget of each strategy (chosen on the validation set, never on test).

    Scratch trains up to ``scratch_max_steps`` steps, one "epoch" = ``scratch_eval_every``
    steps followed by a validation evaluation, and stops early when validation accuracy has not
    improved for ``scratch_patience`` epochs (the best epoch's weights are restored).
    ``augment`` applies the same random flips and 90-degree rotations to every strategy that
    trains on images (scratch and fine-tuning; feature extraction trains on cached embeddings).
    """

    batch_size: int = 32           # images per step (fewer if the train set is smaller)
    head_steps: int = 150          # steps of the new head on cached embeddings
    head_lr: float = 1e-2          # Adam step size of the head
    scratch_max_steps: int = 300   # at most; >= head_steps + finetune_steps
    scratch_lr: float = 3e-3       # Adam step size, chosen on the validation set
    scratch_eval_every: int = 20   # steps per scratch epoch (one validation evaluation)
    scratch_patience: int = 5      # epochs without a better val accuracy before stopping
    finetune_steps: int = 30       # steps after the head, with the top blocks unfrozen
    finetune_lr: float = 3e-4      # 10x smaller: small changes to good weights
    top_blocks: int = 1            # backbone blocks unfrozen for fine-tuning
    augment: bool = True           # dihedral flips/rotations for scratch and fine-tuning

    @property
    def finetune_total_steps(self) -> int:
        """Gradient steps of the fine-tuning strategy in total: head, then top block."""
        return self.head_steps + self.finetune_steps


# ------------------------------------------------------------------------------------- data


def target_images(n_per_class: int, *, split: str, seed: int = 0,
                  backgrounds: tuple[str, ...] = BACKGROUNDS) -> ShapesData:
    """``n_per_class`` images of each target class; image j of class c depends on (c, j) only.

    So the first k images of a class are the same for every ``n_per_class >= k`` (nested
    label budgets). Each image's background is drawn from ``backgrounds``.

    Returns:
        ``ShapesData`` (N, 32, 32, 3) uint8 images, shuffled, labels index ``TARGET_CLASSES``.
    """
    if split not in TARGET_SEEDS:
        raise ValueError(f"split must be one of {list(TARGET_SEEDS)}, got {split!r}")
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)) \
            or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive int, got {n_per_class!r}")
    backgrounds = tuple(backgrounds)
    if not backgrounds or not set(backgrounds) <= set(BACKGROUNDS):
        raise ValueError(f"backgrounds must be a non-empty subset of {BACKGROUNDS}")
    images, labels = [], []
    for label, name in enumerate(TARGET_CLASSES):
        for index in range(n_per_class):
            rng = np.random.default_rng([TARGET_SEEDS[split], seed, label, index])
            background = backgrounds[rng.integers(len(backgrounds))]
            images.append(render_shape(name, size=pretrained.IMAGE_SIZE,
                                       background=background, rng=rng))
            labels.append(label)
    order = np.random.default_rng([TARGET_SEEDS[split], seed]).permutation(len(labels))
    return ShapesData(np.stack(images)[order], np.array(labels, dtype=np.int64)[order],
                      TARGET_CLASSES)


@functools.lru_cache(maxsize=8)
def _fixed_split(split: str, backgrounds: tuple[str, ...]) -> ShapesData:
    data = target_images(EVAL_SIZES[split], split=split, backgrounds=backgrounds)
    data.images.setflags(write=False)  # shared between calls: read-only
    data.labels.setflags(write=False)
    return data


def target_task_data(labels_per_class: int, *, seed: int = 0,
                     backgrounds: tuple[str, ...] = BACKGROUNDS) -> TargetTask:
    """The target task with ``labels_per_class`` training images per class.

    Args:
        labels_per_class: training images per class (1, 5, 10, 50, ...).
        seed: which training images; the ``val`` (30 per class) and ``test`` (100 per class)
            sets are the same for every seed and budget (read-only arrays).
        backgrounds: the domain, a subset of ``BACKGROUNDS`` (default: all four, like the
            source task).

    Returns:
        ``TargetTask(train, val, test)`` of ``ShapesData`` (NHWC uint8 images, int64 labels).

    Taught in: ch08, 08_2_feature-extraction-and-fine-tuning.ipynb.
    """
    backgrounds = tuple(backgrounds)
    train = target_images(labels_per_class, split="train", seed=seed, backgrounds=backgrounds)
    val, test = (_fixed_split(split, backgrounds) for split in ("val", "test"))
    return TargetTask(train, *(ShapesData(data.images.copy(), data.labels.copy(), data.class_names)
                               for data in (val, test)))


# ---------------------------------------------------------------------------- both frameworks


def _is_torch(model) -> bool:
    import sys

    return "torch" in sys.modules and isinstance(model, sys.modules["torch"].nn.Module)


def count_parameters(model) -> dict[str, int]:
    """Trainable and frozen parameter counts of a PyTorch module or a Keras model.

    Frozen means ``requires_grad=False`` (torch) or a non-trainable weight (Keras); BN's running
    statistics are buffers in PyTorch (not counted) but non-trainable weights in Keras (counted).
    """
    if _is_torch(model):
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    else:
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    return {"trainable": int(trainable), "frozen": int(frozen)}


def embed(backbone, images: np.ndarray, framework: str = "torch", *,
          batch_size: int = 250) -> np.ndarray:
    """Embeddings (N, D) float32 of uint8 images (N, H, W, 3), in inference mode, no gradients.

    ``backbone`` is ``model.features`` (torch) or ``model.get_layer("features")`` (Keras).
    Compute them once and train a head on them: the frozen backbone never changes.
    """
    x = pretrained.as_inputs(images, framework)
    if framework == "keras":
        return np.asarray(backbone.predict(x, batch_size=batch_size, verbose=0), np.float32)
    import torch

    was_training = backbone.training
    backbone.eval()
    device = next(backbone.parameters()).device
    try:
        with torch.no_grad():
            parts = [backbone(batch.to(device)).cpu() for batch in torch.split(x, batch_size)]
    finally:
        backbone.train(was_training)
    return torch.cat(parts).numpy()


# ----------------------------------------------------------------------------------- PyTorch


def _transfer_net_class():
    from torch import nn

    class TransferNet(nn.Module):
        """``features`` -> ``classifier``; ``train()`` keeps the backbone's BN in eval mode.

        With ``freeze_batchnorm=True`` every BatchNorm layer of ``features`` normalizes with
        its running statistics and never updates them, in training too (what Keras does for a
        base called with ``training=False``).
        """

        def __init__(self, features, classifier, *, freeze_batchnorm: bool) -> None:
            super().__init__()
            self.features, self.classifier = features, classifier
            self.freeze_batchnorm = freeze_batchnorm

        def forward(self, x):
            return self.classifier(self.features(x))  # logits (N, K)

        def train(self, mode: bool = True):
            super().train(mode)
            if mode and self.freeze_batchnorm:
                for module in self.features.modules():
                    if isinstance(module, nn.modules.batchnorm._BatchNorm):
                        module.eval()
            return self

    return TransferNet


def backbone_blocks(features) -> list:
    """The blocks of a torch backbone that hold parameters, in order.

    A child module with sub-modules (a ``VGGBlock``, a ``ResidualBlock``) is one block;
    consecutive single layers (a ResNet stem's conv and BN) are grouped into one
    ``nn.Sequential`` sharing those layers, as Keras's ``"stem_..."`` names group them.
    """
    from torch import nn

    blocks, loose = [], []
    for child in features.children():
        if not any(True for _ in child.parameters()):
            continue
        if any(True for _ in child.children()):
            if loose:
                blocks.append(nn.Sequential(*loose))
                loose = []
            blocks.append(child)
        else:
            loose.append(child)
    if loose:
        blocks.append(nn.Sequential(*loose))
    return blocks


def transfer_model_torch(strategy: str, num_classes: int = len(TARGET_CLASSES), *,
                         name: str = "shapes_vgg", top_blocks: int = 1):
    """A PyTorch model for one strategy, on the CPU (move it with ``.to(device)``).

    - ``"scratch"``: the architecture of ``name`` with random weights, everything trainable.
    - ``"feature_extraction"``: the pretrained backbone, frozen (``requires_grad=False``, BN in
      eval mode), and a new ``nn.Linear(D, num_classes)`` head.
    - ``"fine_tuning"``: the same with the top ``top_blocks`` blocks trainable again, except
      their BatchNorm layers (weights frozen, statistics fixed: as in Keras).
    """
    from torch import nn

    _check_strategy(strategy)
    net_class = _transfer_net_class()
    if strategy == "scratch":
        fresh = pretrained._ARCHITECTURES[name]["torch"](num_classes)
        return net_class(fresh.features, fresh.classifier, freeze_batchnorm=False)
    source_model = pretrained.load_pretrained(name, "torch")
    features = source_model.features.requires_grad_(False)
    if strategy == "fine_tuning":
        for block in backbone_blocks(features)[-top_blocks:]:
            for module in block.modules():  # BatchNorm stays frozen (weights and statistics)
                if not isinstance(module, nn.modules.batchnorm._BatchNorm):
                    for parameter in module.parameters(recurse=False):
                        parameter.requires_grad_(True)
    head = nn.Linear(source_model.classifier.in_features, num_classes)  # new, random
    return net_class(features, head, freeze_batchnorm=True).train()


def augment_dihedral_torch(x, generator):
    """Each image of a batch (N, C, H, W) turned by a random multiple of 90 degrees and
    mirrored with probability 1/2 (the 8 symmetries of a square, each with probability 1/8).

    Label-preserving here: every shape is drawn at a random rotation and position. Returns a
    new tensor; ``generator`` (a seeded ``torch.Generator``) makes it reproducible.
    """
    import torch

    codes = torch.randint(0, 8, (len(x),), generator=generator)
    out = x.clone()
    for code in range(8):
        index = codes == code
        if index.any():
            turned = torch.rot90(x[index], code % 4, dims=(2, 3))
            out[index] = turned.flip(3) if code >= 4 else turned
    return out


class _AugmentedLoader:
    """Yields a loader's batches with ``augment_dihedral_torch`` applied (seeded)."""

    def __init__(self, loader, seed: int) -> None:
        import torch

        self.loader = loader
        self.generator = torch.Generator().manual_seed(seed + 1)

    def __iter__(self):
        for inputs, labels in self.loader:
            yield augment_dihedral_torch(inputs, self.generator), labels

    def __len__(self) -> int:
        return len(self.loader)


def _torch_loaders(x, y, val, *, steps_per_epoch: int, batch_size: int, seed: int,
                   augment: bool = False):
    import torch

    dataset = torch.utils.data.TensorDataset(torch.as_tensor(x), torch.as_tensor(y))
    batch_size = min(batch_size, len(dataset))
    sampler = torch.utils.data.RandomSampler(  # steps_per_epoch batches, whatever len(dataset)
        dataset, replacement=True, num_samples=steps_per_epoch * batch_size,
        generator=torch.Generator().manual_seed(seed))
    train_loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler)
    if augment:
        train_loader = _AugmentedLoader(train_loader, seed)
    val_loader = None if val is None else torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.as_tensor(val[0]), torch.as_tensor(val[1])),
        batch_size=250)
    return train_loader, val_loader


def fit_steps_torch(model, x, y, *, optimizer, steps: int, batch_size: int = 32,
                    val=None, evaluations: int = 1, seed: int = 0, device="cpu",
                    augment: bool = False, callbacks=()) -> dict:
    """``course_lib.train.fit`` for ``steps`` gradient steps of mini-batches drawn at random.

    Args:
        x, y: inputs (tensor or array, e.g. ``as_inputs(images)`` or embeddings) and labels.
        val: optional ``(x_val, y_val)``, evaluated ``evaluations`` times (one "epoch" each).
        augment: apply ``augment_dihedral_torch`` to every training batch (images only).
        callbacks: ``course_lib.callbacks`` objects, e.g. ``EarlyStopping`` (needs ``val``).

    Returns:
        ``fit``'s history, one entry per evaluation.
    """
    from torch import nn

    from course_lib.train import fit

    steps_per_epoch = max(1, steps // evaluations)
    train_loader, val_loader = _torch_loaders(x, y, val, steps_per_epoch=steps_per_epoch,
                                              batch_size=batch_size, seed=seed,
                                              augment=augment)
    return fit(model, train_loader, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
               num_epochs=evaluations, val_loader=val_loader, device=device,
               callbacks=callbacks)


# ------------------------------------------------------------------------------------- Keras


def backbone_block_names(base) -> list[str]:
    """The block prefixes of a Keras backbone's weighted layers, in order (``"block3"``...)."""
    names: list[str] = []
    for layer in base.layers:
        prefix = layer.name.split("_")[0]
        if layer.weights and prefix not in names:
            names.append(prefix)
    return names


def transfer_model_keras(strategy: str, num_classes: int = len(TARGET_CLASSES), *,
                         name: str = "shapes_vgg", top_blocks: int = 1):
    """The Keras twin of ``transfer_model_torch`` (uncompiled).

    BatchNormalization layers of the pretrained base are never trainable, so they run in
    inference mode (moving statistics) while the unfrozen top blocks train. The base is also
    called with ``training=False``, the usual idiom, but in Keras 3 that alone does not hold
    once the base is unfrozen: ``fit`` passes ``training=True`` down to every nested layer.
    """
    import keras

    _check_strategy(strategy)
    if strategy == "scratch":
        return pretrained._ARCHITECTURES[name]["keras"](num_classes)
    base = pretrained.load_pretrained(name, "keras").get_layer("features")
    base.trainable = strategy == "fine_tuning"
    if strategy == "fine_tuning":
        top = backbone_block_names(base)[-top_blocks:]
        for layer in base.layers:  # a BN layer with trainable=False runs in inference mode
            layer.trainable = (layer.name.split("_")[0] in top
                               and not isinstance(layer, keras.layers.BatchNormalization))
    inputs = keras.Input(base.input.shape[1:], name="image")
    x = base(inputs, training=False)  # not enough alone: fit's training=True overrides it
    outputs = keras.layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, outputs, name=f"{name}_{strategy}")


def _augment_dihedral_tf(image, code):
    # The TensorFlow twin of augment_dihedral_torch for one (H, W, C) image.
    import tensorflow as tf

    turned = tf.image.rot90(image, k=code % 4)
    return tf.cond(code >= 4, lambda: tf.image.flip_left_right(turned), lambda: turned)


def fit_steps_keras(model, x, y, *, steps: int, batch_size: int = 32, val=None,
                    evaluations: int = 1, seed: int = 0, augment: bool = False,
                    callbacks=()):
    """``model.fit`` for ``steps`` steps on a shuffled, repeated ``tf.data`` stream.

    The model must be compiled. ``augment`` turns and mirrors each image at random, as
    ``augment_dihedral_torch`` (seeded); ``callbacks`` are Keras callbacks, e.g.
    ``keras.callbacks.EarlyStopping``. Returns the ``History``.
    """
    import tensorflow as tf

    batch_size = min(batch_size, len(y))
    stream = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=seed).repeat()
    if augment:
        steps_per_epoch = max(1, steps // evaluations)
        codes = np.random.default_rng([seed, 1]).integers(
            0, 8, size=steps_per_epoch * evaluations * batch_size, dtype=np.int32)
        codes = tf.data.Dataset.from_tensor_slices(codes).repeat()
        stream = tf.data.Dataset.zip(stream, codes).map(
            lambda pair, code: (_augment_dihedral_tf(pair[0], code), pair[1]))
    return model.fit(stream.batch(batch_size), steps_per_epoch=max(1, steps // evaluations),
                     epochs=evaluations, validation_data=val, shuffle=False, verbose=0,
                     callbacks=list(callbacks))  # the stream is shuffled


def _check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
