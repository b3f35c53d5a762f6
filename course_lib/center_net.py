"""The small CenterNet of lesson 9.5 (PyTorch) and its training loop on the shapes scenes.

``center_net_torch`` builds a stride-4 CNN with the three heads that ``course_lib.detection``
defines targets, loss and decoding for; ``fit_center_net`` trains it on ``course_lib.scenes``
data with AdamW and a one-cycle learning rate, turning every scene by a random symmetry of the
square each epoch (``dihedral_scene``, ``augmented_epoch``); ``evaluate_center_net`` scores the
loss parts and ``predict_center_net`` returns decoded detections.

Importing this module loads numpy only; PyTorch is imported inside the functions that use it.

Taught in: ch09, 09_5_detection.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_lib.boxes import as_boxes
from course_lib.detection import (center_loss, decode_center_outputs, encode_center_targets,
                                  encode_scene_targets)

HEATMAP_PRIOR = 0.1  # initial heatmap probability everywhere (CenterNet's bias -2.19)
MODEL_STRIDE = 4  # output stride of center_net_torch (and of lesson 9.5's Keras model)


def center_net_torch(num_classes: int, *, widths: Sequence[int] = (16, 32, 64),
                     head_width: int = 64):
    """A small CenterNet for the CPU: a stride-4 CNN and three heads (PyTorch).

    Backbone: conv3x3(3 -> w0), then conv3x3 stride 2 (w0 -> w1) + conv3x3, then conv3x3
    stride 2 (w1 -> w2) + conv3x3 + a 3x3 conv with dilation 2 (a larger receptive field for
    no extra weights); each conv is followed by BatchNorm and ReLU. Every head is conv3x3(w2 ->
    head_width) + ReLU + conv1x1; the heatmap head's last bias starts at
    ``-log((1 - p) / p)``, ``p = HEATMAP_PRIOR``, so the first focal losses are not huge.

    Returns:
        an ``nn.Module`` mapping (N, 3, H, W) images (H, W divisible by 4) to a dict of
        ``"heatmap"`` logits (N, K, H/4, W/4), ``"size"`` and ``"offset"`` (N, 2, H/4, W/4);
        its ``stride`` attribute is 4.

    Taught in: ch09, 09_5_detection.ipynb.
    """
    import torch
    from torch import nn

    widths = _check_widths(num_classes, widths, head_width)

    def conv(c_in, c_out, stride=1, dilation=1):
        return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation,
                          bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

    w0, w1, w2 = widths
    backbone = nn.Sequential(*conv(3, w0), *conv(w0, w1, 2), *conv(w1, w1), *conv(w1, w2, 2),
                             *conv(w2, w2), *conv(w2, w2, dilation=2))
    heads = nn.ModuleDict({
        name: nn.Sequential(nn.Conv2d(w2, head_width, 3, padding=1), nn.ReLU(),
                            nn.Conv2d(head_width, channels, 1))
        for name, channels in (("heatmap", num_classes), ("size", 2), ("offset", 2))})
    with torch.no_grad():
        heads["heatmap"][-1].bias.fill_(-float(np.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR)))
    return _center_net_class()(backbone, heads)


def _center_net_class():
    from torch import nn

    class CenterNet(nn.Module):
        """``backbone`` -> ``{"heatmap": logits, "size": ..., "offset": ...}`` at stride 4."""

        stride = MODEL_STRIDE

        def __init__(self, backbone, heads) -> None:
            super().__init__()
            self.backbone, self.heads = backbone, heads

        def forward(self, x):
            features = self.backbone(x)  # (N, 3, H, W) -> (N, C, H/4, W/4)
            return {name: head(features) for name, head in self.heads.items()}

    return CenterNet


def _check_widths(num_classes, widths, head_width) -> tuple[int, int, int]:
    widths = tuple(widths)
    values = (num_classes, *widths, head_width)
    if len(widths) != 3 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer))
                               or v < 1 for v in values):
        raise ValueError(f"num_classes, head_width and three widths must be ints >= 1, got "
                         f"{num_classes}, {head_width}, {widths}")
    return widths


def dihedral_scene(image: np.ndarray, boxes_xyxy, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One of the 8 symmetries of a square image, applied to the image and its boxes exactly.

    ``k % 4`` quarter turns counterclockwise (``np.rot90``), then a left-right mirror if
    ``k >= 4``. In pixel-edge coordinates a quarter turn maps a point ``(x, y)`` to
    ``(y, W - x)`` and the mirror maps it to ``(W - x, y)``, so a box stays the tight box of
    its turned object.

    Returns:
        ``(image, boxes)``: the new (H, W, C) image (a copy) and (n, 4) float64 boxes.

    Taught in: ch09, 09_5_detection.ipynb.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] != image.shape[1]:
        raise ValueError(f"image must be square (H, H, C), got {image.shape}")
    if not 0 <= k < 8:
        raise ValueError(f"k must be in 0..7, got {k}")
    size = image.shape[1]
    boxes = as_boxes(boxes_xyxy) if np.size(boxes_xyxy) else np.zeros((0, 4))
    x0, y0, x1, y1 = boxes.T
    for _ in range(k % 4):
        x0, y0, x1, y1 = y0, size - x1, y1, size - x0
    image = np.rot90(image, k % 4)
    if k >= 4:
        x0, x1 = size - x1, size - x0
        image = image[:, ::-1]
    return np.ascontiguousarray(image), np.stack([x0, y0, x1, y1], axis=1)


def fit_center_net(model, data, *, num_epochs: int, batch_size: int = 32, lr: float = 3e-3,
                   weight_decay: float = 1e-4, augment: bool = True, val_data=None,
                   encode_args: dict | None = None, seed: int = 0,
                   device="cpu") -> dict[str, list[float]]:
    """Train a CenterNet with AdamW and a one-cycle learning rate; return the history.

    Every epoch, each training image gets a random one of its 8 ``dihedral_scene``
    symmetries (with ``augment``) and its targets are encoded afresh
    (``encode_center_targets``, stride ``model.stride``, plus ``encode_args``).

    Args:
        model: e.g. ``center_net_torch(K)``, already on ``device``.
        data: a ``scenes.SceneData`` of square images (the training set).
        val_data: an optional ``SceneData`` scored (loss parts) after every epoch.
        seed: seeds the symmetries and the mini-batch order.

    Returns:
        ``{"loss", "heatmap", "size", "offset"}`` (and the same with ``val_``) -> one value
        per epoch: training values averaged over the epoch's batches (weighted by size).

    Taught in: ch09, 09_5_detection.ipynb.
    """
    import torch

    if num_epochs < 1 or batch_size < 1:
        raise ValueError(f"num_epochs and batch_size must be >= 1, got {num_epochs}, "
                         f"{batch_size}")
    encode_args = dict(encode_args or {})
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = num_epochs * -(-len(data) // batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps,
                                                    pct_start=0.15)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    val = None if val_data is None else (
        val_data.images, encode_scene_targets(val_data, stride=model.stride, **encode_args))
    history: dict[str, list[float]] = {}
    for _ in range(num_epochs):
        images, targets = augmented_epoch(data, rng, augment=augment, stride=model.stride,
                                          encode_args=encode_args)
        x, y = to_torch_batch(images, targets)
        model.train()
        totals: dict[str, float] = {}
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            losses = center_loss(model(x[batch].to(device)),
                                 {k: v[batch].to(device) for k, v in y.items()})
            optimizer.zero_grad()
            losses["loss"].backward()
            optimizer.step()
            scheduler.step()
            for key, value in losses.items():
                totals[key] = totals.get(key, 0.0) + value.item() * len(batch)
        for key, value in totals.items():
            history.setdefault(key, []).append(value / len(x))
        if val is not None:
            for key, value in evaluate_center_net(model, *val, device=device).items():
                history.setdefault(f"val_{key}", []).append(value)
    return history


def augmented_epoch(data, rng: np.random.Generator, *, stride: int, augment: bool = True,
                    encode_args: dict | None = None) -> tuple[np.ndarray, dict]:
    """One epoch's training images and targets: each image under a random ``dihedral_scene``
    symmetry drawn from ``rng`` (or as is, without ``augment``), targets encoded afresh.

    Returns:
        ``(images, targets)``: (N, H, W, 3) uint8 and ``encode_scene_targets``' dict.

    Taught in: ch09, 09_5_detection.ipynb.
    """
    encode_args = dict(encode_args or {})
    if not augment:
        return data.images, encode_scene_targets(data, stride=stride, **encode_args)
    turns = rng.integers(0, 8, size=len(data))
    pairs = [dihedral_scene(image, boxes, int(k))
             for image, boxes, k in zip(data.images, data.boxes, turns)]
    size = data.images.shape[1]
    per_image = [encode_center_targets(boxes, labels, num_classes=data.num_classes - 1,
                                       image_size=size, stride=stride, **encode_args)
                 for (_, boxes), labels in zip(pairs, data.labels)]
    targets = {key: np.stack([t[key] for t in per_image]) for key in per_image[0]}
    return np.stack([image for image, _ in pairs]), targets


def evaluate_center_net(model, images: np.ndarray, targets: dict[str, np.ndarray], *,
                        batch_size: int = 128, device="cpu") -> dict[str, float]:
    """The mean ``center_loss`` parts of ``model`` over a data set (eval mode, no gradients).

    Taught in: ch09, 09_5_detection.ipynb.
    """
    import torch

    x, y = to_torch_batch(images, targets)
    model.eval()
    totals: dict[str, float] = {}
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            part = slice(start, start + batch_size)
            losses = center_loss(model(x[part].to(device)),
                                 {k: v[part].to(device) for k, v in y.items()})
            for key, value in losses.items():
                totals[key] = totals.get(key, 0.0) + value.item() * len(x[part])
    return {key: value / len(x) for key, value in totals.items()}


def predict_center_net(model, images: np.ndarray, *, batch_size: int = 128, device="cpu",
                       **decode_args) -> list[dict]:
    """Decoded detections (``decode_center_outputs``) of ``model`` on uint8 (N, H, W, 3) images.

    Taught in: ch09, 09_5_detection.ipynb.
    """
    import torch

    x, _ = to_torch_batch(images)
    model.eval()
    results = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            outputs = model(x[start:start + batch_size].to(device))
            results.extend(decode_center_outputs(outputs, stride=model.stride,
                                                 image_size=tuple(images.shape[1:3]),
                                                 **decode_args))
    return results


def to_torch_batch(images: np.ndarray, targets: dict[str, np.ndarray] | None = None):
    """(N, H, W, 3) uint8 images -> (N, 3, H, W) float32 tensor in [0, 1]; targets -> tensors.

    Taught in: ch09, 09_5_detection.ipynb.
    """
    import torch

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {images.shape}")
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255  # (N, H, W, 3) -> NCHW
    y = None if targets is None else {k: torch.as_tensor(v) for k, v in targets.items()}
    return x, y
