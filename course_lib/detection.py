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
turns size and offset back into xyxy boxes (``decode_center_outputs``).

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
