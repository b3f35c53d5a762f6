"""A small anchor-free detector, CenterNet style: center-heatmap targets, loss and decoding.

The detector looks at the image through a CNN with output stride ``s`` and predicts, at every
cell of the ``(H/s, W/s)`` output grid:

- a *heatmap* per class (K channels, after a sigmoid): how likely an object of that class has
  its box center in this cell;
- a *size* (2 channels): the box's width and height, in output cells (pixels / s);
- an *offset* (2 channels): where in the cell the center lies, ``center/s - cell`` in ``[0, 1)``
  (the part of the center the coarse grid rounds away).

Training targets come from ``encode_center_targets`` (numpy); the loss is the penalty-reduced
focal loss on the heatmap plus L1 on size and offset at the object centers (``center_loss``);
decoding keeps the cells that are a 3x3 local maximum of the heatmap, takes the top k and turns
size and offset back into xyxy boxes (``decode_center_outputs``), in the format of
``course_lib.detection_metrics.evaluate_detections``. The decoder takes any framework's outputs
once they are NCHW torch tensors (lesson 9.5 decodes a Keras model with it). The network that
makes these outputs, and its training loop, are in ``course_lib.center_net``.

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
