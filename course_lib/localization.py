"""Localization as regression: a classifier with a box head, its losses, and its decoding.

One object per image (``course_lib.scenes.make_localization``). The network has two heads on
one backbone: class logits (K numbers) and a box (4 numbers). The box head predicts the box
*normalized* in centre-size form, ``(cx / W, cy / H, w / W, h / H)`` (YOLO's format,
``course_lib.boxes.to_yolo``), squashed into ``[0, 1]`` by a sigmoid, so a prediction is
always a box with ``w, h >= 0`` inside a unit square, whatever the image size.

- ``localization_net_torch`` / ``localization_net_keras``: the course's pretrained
  ``shapes_vgg`` classifier (Chapter 7; its backbone and its class head, global average
  pooling + linear) with a new box head on the backbone's 4 x 4 feature map (*flatten*, not
  average pooling, so the head still sees where the features are; a hidden dense layer; 4
  sigmoid outputs). PyTorch returns ``(logits, boxes)`` (``LocalizationNet``); Keras a dict
  ``{"class": ..., "box": ...}``.
- Box losses on (N, 4) tensors, mean over the batch: ``smooth_l1_torch`` / ``smooth_l1_keras``
  (mean over all N * 4 numbers, as ``torch.nn.functional.smooth_l1_loss``) and
  ``giou_loss_torch`` / ``giou_loss_keras`` (``1 - GIoU`` of normalized cxcywh boxes, mean
  over boxes, as ``torchvision.ops.generalized_box_iou_loss`` on xyxy boxes).
  ``localization_loss_torch`` adds cross-entropy and ``box_weight`` times a box loss.
- ``fit_torch``: a small full-batch-in-memory training loop that returns a history dict;
  ``predict_torch`` / ``predict_keras``; ``decode_boxes``: head outputs -> xyxy pixel boxes;
  ``matched_iou``: IoU of each predicted box with its own true box.

Checked against ``torch.nn.functional.smooth_l1_loss``, ``keras.losses.Huber`` and
``torchvision.ops.generalized_box_iou_loss`` in ``tests/test_localization.py``.

Taught in: ch09, 09_3_localization.ipynb.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from course_lib.blocks import _check_positive
from course_lib.boxes import as_boxes, from_yolo

BOX_LOSSES = ("smooth_l1", "giou")
BASE_MODEL = "shapes_vgg"  # the course's pretrained classifier (Chapter 7) under the heads
FEATURE_SIDE = 4  # its last feature map is 4 x 4 for 32 x 32 inputs


# ---------------------------------------------------------------------------------- models


class LocalizationNet(nn.Module):
    """A classifier with a box head: one backbone, two heads.

    Args:
        features: the backbone, (N, 3, H, W) -> feature map (N, C, s, s).
        classifier: the class head's linear layer, (N, C) -> logits (N, K), applied after
            global average pooling (a classifier's own head).
        channels, side: C and s of the feature map.
        hidden: units of the box head's hidden layer.

    ``forward`` returns ``(logits (N, K), boxes (N, 4))``; the boxes are normalized
    ``(cx, cy, w, h)`` in (0, 1) (sigmoid outputs). The box head *flattens* the feature map
    instead of averaging it, so it still sees where the features are.
    """

    def __init__(self, features: nn.Module, classifier: nn.Module, *, channels: int,
                 side: int, hidden: int = 128) -> None:
        super().__init__()
        _check_positive(channels=channels, side=side, hidden=hidden)
        self.features = features
        self.class_head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (N, C)
                                        classifier)
        self.box_head = nn.Sequential(nn.Flatten(),  # (N, C, s, s) -> (N, C*s*s)
                                      nn.Linear(channels * side * side, hidden), nn.ReLU(),
                                      nn.Linear(hidden, 4), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)  # (N, C, s, s)
        return self.class_head(f), self.box_head(f)


def localization_net_torch(num_classes: int = 10, *, pretrained: bool = True,
                           hidden: int = 128) -> LocalizationNet:
    """The course's ``shapes_vgg`` classifier (Chapter 7) with a box head added.

    Args:
        num_classes: K; the pretrained classifier layer is kept when K equals its 10 source
            classes, else a new linear layer replaces it.
        pretrained: start from the course's pretrained weights (``course_lib.pretrained``);
            ``False``: the same architecture, randomly initialized.
        hidden: units of the box head's hidden layer.

    Input (N, 3, 32, 32) float32 in [0, 1]; the feature map is (N, 64, 4, 4).

    Taught in: ch09, 09_3_localization.ipynb.
    """
    from course_lib import pretrained as course_pretrained

    _check_positive(num_classes=num_classes, hidden=hidden)
    base = (course_pretrained.load_pretrained(BASE_MODEL, "torch") if pretrained
            else course_pretrained.build_model(BASE_MODEL, "torch"))
    blocks = base.features[:-2]  # drop AdaptiveAvgPool2d and Flatten: keep the map
    channels = base.classifier.in_features
    classifier = (base.classifier if base.classifier.out_features == num_classes
                  else nn.Linear(channels, num_classes))
    return LocalizationNet(blocks, classifier, channels=channels, side=FEATURE_SIDE,
                           hidden=hidden)


def localization_net_keras(num_classes: int = 10, *, pretrained: bool = True,
                           hidden: int = 128):
    """Keras twin of ``localization_net_torch`` (same layers, same trainable parameters).

    Input (N, 32, 32, 3) float32 in [0, 1]; outputs ``{"class": logits (N, K), "box": (N, 4)
    normalized cxcywh in (0, 1)}``, so ``compile`` takes a loss per output name.

    Taught in: ch09, 09_3_localization.ipynb.
    """
    import keras
    from keras import layers

    from course_lib import pretrained as course_pretrained

    _check_positive(num_classes=num_classes, hidden=hidden)
    base = (course_pretrained.load_pretrained(BASE_MODEL, "keras") if pretrained
            else course_pretrained.build_model(BASE_MODEL, "keras"))
    features = base.get_layer("features")
    backbone = keras.Model(features.inputs, features.get_layer("gap").input, name="backbone")
    old = base.get_layer("classifier")
    classifier = old if old.units == num_classes else layers.Dense(num_classes)
    image = layers.Input((32, 32, 3), name="image")
    feature_map = backbone(image)  # (N, 4, 4, 64)
    pooled = layers.GlobalAveragePooling2D(name="gap")(feature_map)  # (N, C): what
    flat = layers.Flatten(name="flatten")(feature_map)  # (N, s*s*C): where
    box_hidden = layers.Dense(hidden, activation="relu", name="box_hidden")(flat)
    outputs = {"class": classifier(pooled),
               "box": layers.Dense(4, activation="sigmoid", name="box")(box_hidden)}
    return keras.Model(image, outputs, name="localization_net")


# ---------------------------------------------------------------------------------- losses


def _check_pair(pred, target, name: str) -> None:
    if pred.shape != target.shape or len(pred.shape) != 2 or pred.shape[-1] != 4:
        raise ValueError(f"{name}: pred and target must both have shape (N, 4), got "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}")


def smooth_l1_torch(pred: torch.Tensor, target: torch.Tensor, *, beta: float = 1.0
                    ) -> torch.Tensor:
    r"""Smooth L1 loss, mean over all elements (``F.smooth_l1_loss(pred, target, beta=beta)``).

    .. math:: \ell(d) = 0.5\,d^2 / \beta \text{ if } |d| < \beta, \text{ else } |d| - 0.5\beta

    Args:
        pred, target: (N, 4) tensors (any box parameterization, the same for both).
        beta: where the quadratic part ends (> 0), in the units of the boxes.
    """
    _check_pair(pred, target, "smooth_l1_torch")
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    d = (pred - target).abs()
    return torch.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta).mean()


def cxcywh_to_xyxy_torch(b: torch.Tensor) -> torch.Tensor:
    """(N, 4) centre-size boxes -> (N, 4) corners, differentiable."""
    cx, cy, w, h = b.unbind(dim=-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def giou_loss_torch(pred: torch.Tensor, target: torch.Tensor, *, eps: float = 1e-7
                    ) -> torch.Tensor:
    r"""Mean ``1 - GIoU`` of matched (N, 4) normalized cxcywh boxes, differentiable.

    .. math:: \mathrm{GIoU} = \mathrm{IoU} - (|C| - |A \cup B|) / |C|

    with C the smallest box enclosing A and B. Equals
    ``torchvision.ops.generalized_box_iou_loss(xyxy(pred), xyxy(target), reduction="mean")``.
    """
    _check_pair(pred, target, "giou_loss_torch")
    a, b = cxcywh_to_xyxy_torch(pred), cxcywh_to_xyxy_torch(target)
    inter_w = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    inter_h = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = inter_w * inter_h
    union = pred[:, 2] * pred[:, 3] + target[:, 2] * target[:, 3] - inter
    enclosing = ((torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0]))
                 * (torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1])))
    giou = inter / (union + eps) - (enclosing - union) / (enclosing + eps)
    return (1 - giou).mean()


def localization_loss_torch(logits: torch.Tensor, box_pred: torch.Tensor,
                            labels: torch.Tensor, box_target: torch.Tensor, *,
                            box_loss: str = "smooth_l1", box_weight: float = 1.0,
                            beta: float = 1.0) -> dict[str, torch.Tensor]:
    r"""``L = CE(logits, labels) + box_weight * L_box(box_pred, box_target)``.

    Args:
        logits: (N, K); labels: (N,) int64.
        box_pred, box_target: (N, 4) normalized cxcywh.
        box_loss: ``"smooth_l1"`` (with ``beta``) or ``"giou"``.

    Returns:
        ``{"loss": L, "class_loss": CE, "box_loss": L_box}`` (scalars; ``loss`` has a graph).
    """
    if box_loss not in BOX_LOSSES:
        raise ValueError(f"box_loss must be one of {BOX_LOSSES}, got {box_loss!r}")
    class_loss = nn.functional.cross_entropy(logits, labels)
    if box_loss == "giou":
        box_term = giou_loss_torch(box_pred, box_target)
    else:
        box_term = smooth_l1_torch(box_pred, box_target, beta=beta)
    return {"loss": class_loss + box_weight * box_term, "class_loss": class_loss,
            "box_loss": box_term}


def smooth_l1_keras(y_true, y_pred, *, beta: float = 1.0):
    """Smooth L1 in ``keras.ops``, (N, 4) -> (N,) (mean over the 4 numbers of each box).

    ``keras.losses.Huber(delta=beta)`` computes ``beta`` times this: Huber's quadratic part is
    ``0.5 d^2``, smooth L1's ``0.5 d^2 / beta``.
    """
    from keras import ops

    _check_pair(y_pred, y_true, "smooth_l1_keras")
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    d = ops.abs(ops.convert_to_tensor(y_pred) - ops.convert_to_tensor(y_true))
    return ops.mean(ops.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta), axis=-1)


def giou_loss_keras(y_true, y_pred, eps: float = 1e-7):
    """``1 - GIoU`` per box in ``keras.ops``: (N, 4) normalized cxcywh -> (N,).

    Usable as a Keras loss (``compile(loss={"box": giou_loss_keras})``); Keras averages it
    over the batch.
    """
    from keras import ops

    _check_pair(y_pred, y_true, "giou_loss_keras")
    p, t = ops.convert_to_tensor(y_pred), ops.convert_to_tensor(y_true)
    p_lo, p_hi = p[:, :2] - p[:, 2:] / 2, p[:, :2] + p[:, 2:] / 2  # (N, 2) corners
    t_lo, t_hi = t[:, :2] - t[:, 2:] / 2, t[:, :2] + t[:, 2:] / 2
    inter = ops.prod(ops.maximum(ops.minimum(p_hi, t_hi) - ops.maximum(p_lo, t_lo), 0.0),
                     axis=-1)
    union = ops.prod(p[:, 2:], axis=-1) + ops.prod(t[:, 2:], axis=-1) - inter
    enclosing = ops.prod(ops.maximum(p_hi, t_hi) - ops.minimum(p_lo, t_lo), axis=-1)
    return 1 - (inter / (union + eps) - (enclosing - union) / (enclosing + eps))


# ----------------------------------------------------------------------- training, decoding


def fit_torch(model: LocalizationNet, images: np.ndarray, labels: np.ndarray,
              box_targets: np.ndarray, *, optimizer: torch.optim.Optimizer, num_epochs: int,
              batch_size: int = 32, val: tuple | None = None, scheduler=None, seed: int = 0,
              device: torch.device | str = "cpu", **loss_args) -> dict[str, list[float]]:
    """Train with ``localization_loss_torch`` (``loss_args``: box_loss, box_weight, beta).

    Args:
        images: (N, H, W, 3) uint8; labels: (N,); box_targets: (N, 4) normalized cxcywh.
        val: optional ``(images, labels, box_targets)`` scored after every epoch.
        scheduler: optional learning-rate scheduler, stepped after every *batch* (as Keras'
            ``keras.optimizers.schedules`` count steps), e.g. ``CosineAnnealingLR(optimizer,
            T_max=num_epochs * batches_per_epoch)``.
        seed: seeds the shuffling (a ``torch.Generator`` of its own).

    Returns:
        ``{"loss", "class_loss", "box_loss"}`` and, with ``val``, the same with ``val_``:
        per-epoch means (training ones averaged over the epoch's batches, as Keras does).
    """
    _check_positive(num_epochs=num_epochs, batch_size=batch_size)
    x, y, t = _as_torch(images, labels, box_targets, device)
    generator = torch.Generator().manual_seed(seed)
    keys = ("loss", "class_loss", "box_loss")
    names = keys + (tuple(f"val_{key}" for key in keys) if val is not None else ())
    history: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(num_epochs):
        model.train()
        sums, order = dict.fromkeys(keys, 0.0), torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size].to(device)
            losses = localization_loss_torch(*model(x[batch]), y[batch], t[batch], **loss_args)
            optimizer.zero_grad()
            losses["loss"].backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            for key in keys:
                sums[key] += losses[key].item() * len(batch)
        for key in keys:
            history[key].append(sums[key] / len(x))
        if val is not None:
            for key, value in _evaluate_torch(model, *val, device, loss_args).items():
                history[f"val_{key}"].append(value)
    return history


def _as_torch(images, labels, box_targets, device):
    x = torch.from_numpy(np.asarray(images, np.float32) / 255).permute(0, 3, 1, 2)  # NHWC->NCHW
    return (x.to(device), torch.as_tensor(np.asarray(labels), dtype=torch.int64, device=device),
            torch.as_tensor(np.asarray(box_targets), dtype=torch.float32, device=device))


def _evaluate_torch(model, images, labels, box_targets, device, loss_args) -> dict:
    x, y, t = _as_torch(images, labels, box_targets, device)
    model.eval()
    with torch.no_grad():
        return {k: v.item() for k, v in localization_loss_torch(*model(x), y, t,
                                                                   **loss_args).items()}


def predict_torch(model: LocalizationNet, images: np.ndarray, *,
                  device: torch.device | str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """``(logits (N, K), boxes (N, 4) normalized cxcywh)`` as numpy, in eval mode."""
    x = _as_torch(images, np.zeros(len(images)), np.zeros((len(images), 4)), device)[0]
    model.eval()
    with torch.no_grad():
        logits, box_pred = model(x)
    return logits.cpu().numpy(), box_pred.cpu().numpy()


def predict_keras(model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(logits (N, K), boxes (N, 4) normalized cxcywh)`` of the Keras model, as numpy."""
    out = model.predict(np.asarray(images, np.float32) / 255, verbose=0)
    return np.asarray(out["class"]), np.asarray(out["box"])


def decode_boxes(box_pred, *, height: int, width: int) -> np.ndarray:
    """Normalized cxcywh head outputs (N, 4) -> xyxy pixel boxes (N, 4), clipped to the image.

    The inverse of ``course_lib.boxes.to_yolo``; a box that sticks out of the image is cut at
    its edges (as ``torchvision.ops.clip_boxes_to_image``).

    Taught in: ch09, 09_3_localization.ipynb.
    """
    xyxy = from_yolo(as_boxes(box_pred, "box_pred"), height=height, width=width)
    return np.clip(xyxy, 0, np.array([width, height, width, height], dtype=np.float64))


def matched_iou(pred_xyxy, true_xyxy) -> np.ndarray:
    """IoU of each predicted box with *its own* true box: (N, 4), (N, 4) -> (N,).

    (``course_lib.boxes.box_iou`` gives all N x M pairs; here row i meets row i only.)
    """
    a, b = as_boxes(pred_xyxy, "pred_xyxy"), as_boxes(true_xyxy, "true_xyxy")
    if a.shape != b.shape:
        raise ValueError(f"need one prediction per box: got {a.shape} and {b.shape}")
    if np.any(a[:, 2:] < a[:, :2]) or np.any(b[:, 2:] < b[:, :2]):
        raise ValueError("boxes must be xyxy with x0 <= x1 and y0 <= y1")
    inter = np.prod(np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]),
                            0, None), axis=1)
    union = np.prod(a[:, 2:] - a[:, :2], axis=1) + np.prod(b[:, 2:] - b[:, :2], axis=1) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
