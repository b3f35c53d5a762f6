"""A small anchor-free detector: CenterNet-style center heatmaps, in numpy and PyTorch.

The detector looks at the image through a CNN with output stride ``s`` and predicts, at every
cell of the ``(H/s, W/s)`` output grid:

- a *heatmap* per class (K channels, after a sigmoid): how likely an object of that class has
  its box center in this cell;
- a *size* (2 channels): the box's width and height, in output cells (pixels / s);
- an *offset* (2 channels): where in the cell the center lies, ``center/s - cell`` in ``[0, 1)``
  (the part of the center the coarse grid rounds away).

Training targets come from ``encode_center_targets``; the loss is the penalty-reduced focal
loss on the heatmap plus L1 on size and offset at the object centers (``center_loss``);
decoding keeps the cells that are a 3x3 local maximum of the heatmap, takes the top k and
turns size and offset back into xyxy boxes (``decode_center_outputs``). ``center_net_torch``
builds a small stride-4 network; ``fit_center_net`` trains it on ``course_lib.scenes`` data,
turning every scene by a random symmetry of the square each epoch (``dihedral_scene``,
``augmented_epoch``); ``predict_center_net`` returns the detections in the format of
``course_lib.detection_metrics.evaluate_detections``. The decoder takes any framework's
outputs once they are NCHW torch tensors (lesson 9.5 decodes a Keras model with it).

Importing this module loads numpy only; PyTorch is imported inside the functions that use it.

Conventions: boxes are xyxy in pixel-edge coordinates (``course_lib.boxes``); scene labels are
``1..K`` (``course_lib.scenes``, 0 is the background) and label ``k`` is heatmap channel
``k - 1``; decoded labels are ``1..K`` again.

Reference: Zhou, Wang, Kraehenbuehl, "Objects as Points" (2019), arXiv:1904.07850.

Taught in: ch09, 09_5_detection.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_lib.boxes import as_boxes

DEFAULT_MIN_OVERLAP = 0.7  # CenterNet's IoU a box shifted inside the radius still reaches


def gaussian_radius(width: float, height: float, min_overlap: float = DEFAULT_MIN_OVERLAP
                    ) -> float:
    """CenterNet's Gaussian radius for a box of ``width`` x ``height`` (output cells).

    CornerNet's rule, in the form CenterNet's code (``gaussian_radius`` in
    ``src/lib/utils/image.py``) computes it: the smallest of three roots ``r``, one for each
    way two corners can move by ``r`` (both inwards, both outwards, one each) while the box
    keeps IoU ``>= min_overlap`` with the true one::

        r1 = (b1 + sqrt(b1^2 - 4 c1)) / 2,   b1 = h + w,      c1 = w h (1 - o) / (1 + o)
        r2 = (b2 + sqrt(b2^2 - 16 c2)) / 2,  b2 = 2 (h + w),  c2 = (1 - o) w h
        r3 = (b3 + sqrt(b3^2 - 16 o c3)) / 2, b3 = -2 o (h + w), c3 = (o - 1) w h

    (the code divides by 2 where the quadratic formula has ``2a``; the rule is kept as the
    code has it, because that is what CenterNet was trained with).

    Returns:
        ``min(r1, r2, r3)``, a float >= 0 (0 for an empty box).

    Taught in: ch09, 09_5_detection.ipynb.
    """
    if not 0 < min_overlap < 1:
        raise ValueError(f"min_overlap must be in (0, 1), got {min_overlap}")
    if width < 0 or height < 0:
        raise ValueError(f"width and height must be >= 0, got {width}, {height}")
    w, h, o = float(width), float(height), float(min_overlap)
    b1, c1 = h + w, w * h * (1 - o) / (1 + o)
    r1 = (b1 + np.sqrt(b1**2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - o) * w * h
    r2 = (b2 + np.sqrt(b2**2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * o, -2 * o * (h + w), (o - 1) * w * h
    r3 = (b3 + np.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return float(max(0.0, min(r1, r2, r3)))


def _check_image_size(image_size, stride) -> tuple[int, int]:
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride must be an int >= 1, got {stride!r}")
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        height = width = int(image_size)
    elif isinstance(image_size, Sequence) and len(image_size) == 2:
        height, width = (int(v) for v in image_size)
    else:
        raise ValueError(f"image_size must be an int or (height, width), got {image_size!r}")
    if height < 1 or width < 1 or height % stride or width % stride:
        raise ValueError(f"image_size {(height, width)} must be positive and divisible by "
                         f"stride {stride}")
    return height, width


def encode_center_targets(
    boxes_xyxy,
    labels,
    *,
    num_classes: int,
    image_size: int | tuple[int, int],
    stride: int,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
    min_radius: int = 0,
    radius: int | None = None,
) -> dict[str, np.ndarray]:
    """The training targets of one image for a center-heatmap detector (CenterNet).

    With ``Ho = H / stride`` and ``Wo = W / stride`` (both must divide exactly), each object
    with box ``(x0, y0, x1, y1)`` (pixels) and label ``k`` in ``1..num_classes``:

    1. **Center, in output cells:** ``cx = (x0 + x1) / 2 / stride``,
       ``cy = (y0 + y1) / 2 / stride``. It falls in the cell ``i = floor(cy)`` (row),
       ``j = floor(cx)`` (column): output cell ``(i, j)`` covers input pixels
       ``[j s, (j + 1) s) x [i s, (i + 1) s)``. ``i, j`` are clipped to the grid (a center on
       the image's far edge belongs to the last cell).
    2. **Radius:** ``r = max(min_radius, int(gaussian_radius(w, h, min_overlap)))`` with
       ``w = (x1 - x0) / stride``, ``h = (y1 - y0) / stride`` (``int`` truncates), or the given
       ``radius`` for every object when it is not None.
    3. **Heatmap:** channel ``k - 1`` gets the Gaussian
       ``exp(-((x - j)^2 + (y - i)^2) / (2 sigma^2))``, ``sigma = (2 r + 1) / 6``, at the
       integer cells ``(y, x)`` with ``|x - j| <= r`` and ``|y - i| <= r`` (a square window,
       cut at the grid's border), so it is exactly 1 at ``(i, j)``. Where Gaussians overlap
       in a channel the maximum is kept (never the sum); other cells are 0.
    4. **Size, offset, mask at (i, j) only:** ``size[:, i, j] = (w, h)`` in output cells,
       ``offset[:, i, j] = (cx - j, cy - i)`` (in ``[0, 1)`` unless clipped),
       ``mask[i, j] = 1``. Everywhere else they are 0. When two objects' centers share a cell,
       the later object in ``boxes_xyxy`` writes size and offset (the heatmap keeps both
       peaks by the max rule).

    Args:
        boxes_xyxy: (n, 4) xyxy boxes in input pixels (n may be 0); x0 <= x1, y0 <= y1.
        labels: (n,) ints in ``1..num_classes`` (``course_lib.scenes`` labels).
        num_classes: K, the number of object classes (no background):
            ``scene_data.num_classes - 1``.
        image_size: H = W as one int, or ``(H, W)``.
        stride: the output stride s (>= 1).
        min_overlap: the IoU of ``gaussian_radius``.
        min_radius: the smallest radius in cells.
        radius: if given (int >= 0), this radius for every object instead of the rule.

    Returns:
        dict of float32 numpy arrays: ``"heatmap"`` (K, Ho, Wo) in ``[0, 1]``, ``"size"``
        (2, Ho, Wo) (width, height), ``"offset"`` (2, Ho, Wo) (x, y), ``"mask"`` (Ho, Wo)
        with 1 at the object centers.

    Taught in: ch09, 09_5_detection.ipynb.
    """
    height, width = _check_image_size(image_size, stride)
    boxes = as_boxes(boxes_xyxy, "boxes_xyxy") if np.size(boxes_xyxy) else np.zeros((0, 4))
    labels = np.asarray(labels).reshape(-1)
    _check_targets(boxes, labels, num_classes)
    if radius is not None and (isinstance(radius, bool) or int(radius) != radius or radius < 0):
        raise ValueError(f"radius must be None or an int >= 0, got {radius!r}")
    if int(min_radius) != min_radius or min_radius < 0:
        raise ValueError(f"min_radius must be an int >= 0, got {min_radius!r}")
    out_h, out_w = height // stride, width // stride
    heatmap = np.zeros((num_classes, out_h, out_w), dtype=np.float32)
    size = np.zeros((2, out_h, out_w), dtype=np.float32)
    offset = np.zeros((2, out_h, out_w), dtype=np.float32)
    mask = np.zeros((out_h, out_w), dtype=np.float32)
    for (x0, y0, x1, y1), label in zip(boxes, labels):
        w, h = (x1 - x0) / stride, (y1 - y0) / stride
        cx, cy = (x0 + x1) / 2 / stride, (y0 + y1) / 2 / stride
        j = int(np.clip(np.floor(cx), 0, out_w - 1))
        i = int(np.clip(np.floor(cy), 0, out_h - 1))
        r = int(radius) if radius is not None else max(
            int(min_radius), int(gaussian_radius(w, h, min_overlap)))
        _draw_gaussian(heatmap[int(label) - 1], i, j, r)
        size[:, i, j] = (w, h)
        offset[:, i, j] = (cx - j, cy - i)
        mask[i, j] = 1.0
    return {"heatmap": heatmap, "size": size, "offset": offset, "mask": mask}


def _check_targets(boxes: np.ndarray, labels: np.ndarray, num_classes) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise ValueError(f"num_classes must be an int >= 1 (object classes, no background), "
                         f"got {num_classes!r}")
    if len(labels) != len(boxes):
        raise ValueError(f"need one label per box: boxes {boxes.shape}, labels "
                         f"{labels.shape}")
    if len(labels) and (not np.all(np.equal(np.mod(labels, 1), 0))
                        or labels.min() < 1 or labels.max() > num_classes):
        raise ValueError(f"labels must be ints in 1..{num_classes} (0 is the background), "
                         f"got {labels.tolist()}")
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if np.any(bad):
        raise ValueError(f"boxes_xyxy[{int(np.argmax(bad))}] is not xyxy (x0 <= x1, y0 <= y1)")


def _draw_gaussian(channel: np.ndarray, i: int, j: int, r: int) -> None:
    """Max a (2r+1)^2 Gaussian window centered on cell (i, j) into ``channel`` (in place)."""
    sigma = (2 * r + 1) / 6
    out_h, out_w = channel.shape
    rows = np.arange(max(0, i - r), min(out_h, i + r + 1))
    cols = np.arange(max(0, j - r), min(out_w, j + r + 1))
    dy, dx = rows[:, None] - i, cols[None, :] - j
    window = np.exp(-(dx**2 + dy**2) / (2 * sigma**2)).astype(np.float32)
    block = channel[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    np.maximum(block, window, out=block)


def encode_scene_targets(data, *, stride: int, **encode_args) -> dict[str, np.ndarray]:
    """``encode_center_targets`` for every image of a ``scenes.SceneData``, stacked.

    Returns:
        ``"heatmap"`` (N, K, Ho, Wo), ``"size"`` and ``"offset"`` (N, 2, Ho, Wo), ``"mask"``
        (N, Ho, Wo), float32, with ``K = data.num_classes - 1``.

    Taught in: ch09, 09_5_detection.ipynb.
    """
    height, width = data.images.shape[1:3]
    per_image = [encode_center_targets(boxes, labels, num_classes=data.num_classes - 1,
                                       image_size=(height, width), stride=stride,
                                       **encode_args)
                 for boxes, labels in zip(data.boxes, data.labels)]
    return {key: np.stack([t[key] for t in per_image]) for key in per_image[0]}


# ----------------------------------------------------------------------------------- PyTorch

HEATMAP_PRIOR = 0.1  # initial heatmap probability everywhere (CenterNet's bias -2.19)
MODEL_STRIDE = 4  # output stride of center_net_torch / center_net_keras


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


def focal_heatmap_loss(logits, heatmap, *, alpha: float = 2.0, beta: float = 4.0):
    """CenterNet's penalty-reduced focal loss, summed and divided by the number of peaks.

    With ``p = sigmoid(logits)`` and target ``y`` (1 exactly at the object centers)::

        L = -1/N sum( (1 - p)^alpha log p                 where y == 1
                      (1 - y)^beta p^alpha log(1 - p)      elsewhere )

    ``N`` is the number of cells with ``y == 1`` (at least 1). ``log p`` and ``log(1 - p)``
    are computed as ``logsigmoid(logits)`` and ``logsigmoid(-logits)``, which never give
    ``log 0``.

    Args:
        logits, heatmap: tensors of the same shape, e.g. (N, K, Ho, Wo).

    Taught in: ch09, 09_5_detection.ipynb.
    """
    import torch
    from torch.nn import functional as F

    if logits.shape != heatmap.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and heatmap {tuple(heatmap.shape)} "
                         "must have the same shape")
    p = torch.sigmoid(logits)
    positive = heatmap.eq(1).to(logits.dtype)
    pos_term = (1 - p) ** alpha * F.logsigmoid(logits) * positive
    neg_term = (1 - heatmap) ** beta * p**alpha * F.logsigmoid(-logits) * (1 - positive)
    return -(pos_term.sum() + neg_term.sum()) / positive.sum().clamp(min=1)


def center_loss(outputs: dict, targets: dict, *, size_weight: float = 0.1,
                offset_weight: float = 1.0) -> dict:
    """CenterNet's loss: focal heatmap loss + weighted L1 on size and offset at the centers.

    ``L = L_heatmap + size_weight * L_size + offset_weight * L_offset`` (CenterNet's weights
    0.1 and 1), where ``L_size = sum(mask * |size_pred - size|) / N`` over both channels and
    ``N = sum(mask)`` (the same for the offset): only the center cells are trained for
    size and offset.

    Args:
        outputs: the model's dict (``"heatmap"`` logits, ``"size"``, ``"offset"``).
        targets: a dict of tensors as ``encode_scene_targets`` stacks them (same shapes).

    Returns:
        ``{"loss", "heatmap", "size", "offset"}`` -> scalar tensors (``"loss"`` to backprop).

    Taught in: ch09, 09_5_detection.ipynb.
    """
    for key in ("heatmap", "size", "offset"):
        if key not in outputs or key not in targets:
            raise ValueError(f"outputs and targets need the key {key!r}")
    mask = targets["mask"].unsqueeze(1)  # (N, Ho, Wo) -> (N, 1, Ho, Wo)
    count = mask.sum().clamp(min=1)
    heat = focal_heatmap_loss(outputs["heatmap"], targets["heatmap"])
    size = (mask * (outputs["size"] - targets["size"]).abs()).sum() / count
    offset = (mask * (outputs["offset"] - targets["offset"]).abs()).sum() / count
    return {"loss": heat + size_weight * size + offset_weight * offset, "heatmap": heat,
            "size": size, "offset": offset}


def decode_center_outputs(outputs: dict, *, stride: int, top_k: int = 20,
                          score_threshold: float = 0.05, peak_pool: int = 3,
                          image_size: tuple[int, int] | None = None) -> list[dict]:
    """Boxes from heatmap, size and offset maps (CenterNet's decoding), per image.

    1. ``p = sigmoid(heatmap logits)``; a cell is a *peak* if it equals the maximum of its
       ``peak_pool x peak_pool`` neighbourhood in its class channel (``max_pool2d`` with
       stride 1; ``peak_pool=1`` keeps every cell, i.e. no peak extraction).
    2. The ``top_k`` peaks of the image over all classes and cells, by score; those with
       score ``>= score_threshold`` are kept.
    3. Peak at row ``i``, column ``j`` of channel ``c``: center ``((j + ox) s, (i + oy) s)``,
       size ``(w s, h s)`` (``ox, oy, w, h`` read at that cell), box ``center -+ size / 2``
       clipped to the image; label ``c + 1``.

    Args:
        outputs: the model's dict of tensors (batch first).
        stride: the output stride s.
        image_size: (H, W) to clip to; default ``(Ho s, Wo s)``.

    Returns:
        one dict per image: ``"boxes"`` (D, 4) float64 xyxy, ``"scores"`` (D,) float64,
        ``"labels"`` (D,) int64 in ``1..K``, by decreasing score (D <= top_k), the format
        ``detection_metrics.evaluate_detections`` takes.

    Taught in: ch09, 09_5_detection.ipynb.
    """
    import torch
    from torch.nn import functional as F

    if peak_pool < 1 or peak_pool % 2 == 0:
        raise ValueError(f"peak_pool must be an odd int >= 1, got {peak_pool}")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    with torch.no_grad():
        scores = torch.sigmoid(outputs["heatmap"].detach().float().cpu())
        batch, num_classes, out_h, out_w = scores.shape
        height, width = image_size or (out_h * stride, out_w * stride)
        pooled = F.max_pool2d(scores, peak_pool, stride=1, padding=peak_pool // 2)
        peaks = scores * (pooled == scores)  # (N, K, Ho, Wo); non-peaks -> 0
        top_scores, top_index = peaks.flatten(1).topk(min(top_k, peaks[0].numel()), dim=1)
        sizes = outputs["size"].detach().float().cpu().flatten(2)  # (N, 2, Ho*Wo)
        offsets = outputs["offset"].detach().float().cpu().flatten(2)
    results = []
    for n in range(batch):
        keep = top_scores[n] >= score_threshold
        index = top_index[n][keep]
        label, cell = index // (out_h * out_w), index % (out_h * out_w)
        row, col = (cell // out_w).double(), (cell % out_w).double()
        cx = (col + offsets[n, 0, cell].double()) * stride
        cy = (row + offsets[n, 1, cell].double()) * stride
        half_w = sizes[n, 0, cell].double() * stride / 2
        half_h = sizes[n, 1, cell].double() * stride / 2
        boxes = torch.stack([(cx - half_w).clamp(0, width), (cy - half_h).clamp(0, height),
                             (cx + half_w).clamp(0, width), (cy + half_h).clamp(0, height)],
                            dim=1)
        results.append({"boxes": boxes.numpy().reshape(-1, 4),
                        "scores": top_scores[n][keep].double().numpy(),
                        "labels": (label + 1).long().numpy()})
    return results


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
