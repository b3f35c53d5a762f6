"""Bounding boxes in numpy: formats, the VOC pixel convention, IoU, GIoU and NMS.

Coordinates are continuous *pixel-edge* coordinates: pixel ``(row, col)`` covers the square
``[col, col + 1) x [row, row + 1)``, so a box around pixels ``c0..c1`` (inclusive) spans
``x0 = c0`` to ``x1 = c1 + 1`` and its width is the number of pixels it covers. This is the
convention of COCO, torchvision and Albumentations. Three formats of the same box:

- ``"xyxy"``: corners ``(x0, y0, x1, y1)`` (torchvision, Pascal VOC without its +1).
- ``"xywh"``: top-left corner and size ``(x0, y0, w, h)`` (COCO's ``bbox`` field).
- ``"cxcywh"``: centre and size ``(cx, cy, w, h)``; YOLO label files store it *normalized*
  by the image width and height, so every number lies in ``[0, 1]`` (``to_yolo``).

Pascal VOC's XML files use a fourth, integer convention: 1-based, *inclusive* pixel indices
(``to_voc`` / ``from_voc``); old code that computes areas as ``(x1 - x0 + 1) * (y1 - y0 + 1)``
comes from it.

A box is *valid* when ``x0 <= x1`` and ``y0 <= y1``; a zero-width or zero-height box is valid
(area 0, IoU 0 with everything). Inverted boxes raise ``ValueError``.

Checked against ``torchvision.ops`` (``box_convert``, ``box_iou``, ``generalized_box_iou``,
``nms``, ``batched_nms``) in ``tests/test_boxes.py``.

Taught in: ch09 (planned): tasks and labels (formats), measuring detection (IoU, NMS).
"""

from __future__ import annotations

import numpy as np

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


def as_boxes(boxes, name: str = "boxes") -> np.ndarray:
    """``boxes`` as a float64 array of shape (N, 4); ValueError if it is not one.

    A single box of shape (4,) is accepted and returned as (1, 4). NaN/inf raise.
    """
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim == 1 and array.shape[0] == 4:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {np.shape(boxes)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got NaN or inf")
    return array


def _as_valid_xyxy(boxes, name: str) -> np.ndarray:
    array = as_boxes(boxes, name)
    bad = (array[:, 2] < array[:, 0]) | (array[:, 3] < array[:, 1])
    if np.any(bad):
        index = int(np.argmax(bad))
        raise ValueError(f"{name}[{index}] = {array[index].tolist()} is not an xyxy box: "
                         "need x0 <= x1 and y0 <= y1 (convert other formats with box_convert)")
    return array


def box_convert(boxes, in_fmt: str, out_fmt: str) -> np.ndarray:
    """Convert boxes between ``"xyxy"``, ``"xywh"`` and ``"cxcywh"`` (same pixel units).

    Args:
        boxes: (N, 4) or (4,) array-like.
        in_fmt, out_fmt: one of ``BOX_FORMATS`` (the names ``torchvision.ops.box_convert``
            uses).

    Returns:
        (N, 4) float64 array in ``out_fmt``.

    Taught in: ch09 (planned)
    """
    for fmt, arg in ((in_fmt, "in_fmt"), (out_fmt, "out_fmt")):
        if fmt not in BOX_FORMATS:
            raise ValueError(f"unknown {arg} {fmt!r}; choose one of {list(BOX_FORMATS)}")
    a, b, c, d = as_boxes(boxes).T
    if in_fmt == "xywh":
        xyxy = (a, b, a + c, b + d)
    elif in_fmt == "cxcywh":
        xyxy = (a - c / 2, b - d / 2, a + c / 2, b + d / 2)
    else:
        xyxy = (a, b, c, d)
    x0, y0, x1, y1 = xyxy
    if out_fmt == "xywh":
        out = (x0, y0, x1 - x0, y1 - y0)
    elif out_fmt == "cxcywh":
        out = ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
    else:
        out = xyxy
    return np.stack(out, axis=1)


def to_yolo(boxes_xyxy, *, height: int, width: int) -> np.ndarray:
    """xyxy pixel boxes -> YOLO's normalized ``(cx, cy, w, h)``, each divided by the image size.

    Returns:
        (N, 4) float64; x values divided by ``width``, y values by ``height``.

    Taught in: ch09 (planned)
    """
    _check_image_size(height, width)
    return box_convert(_as_valid_xyxy(boxes_xyxy, "boxes_xyxy"), "xyxy", "cxcywh") / np.array(
        [width, height, width, height], dtype=np.float64)


def from_yolo(boxes_yolo, *, height: int, width: int) -> np.ndarray:
    """YOLO's normalized ``(cx, cy, w, h)`` -> xyxy pixel boxes (inverse of ``to_yolo``).

    Taught in: ch09 (planned)
    """
    _check_image_size(height, width)
    scale = np.array([width, height, width, height], dtype=np.float64)
    return box_convert(as_boxes(boxes_yolo, "boxes_yolo") * scale, "cxcywh", "xyxy")


def to_voc(boxes_xyxy) -> np.ndarray:
    """xyxy pixel-edge boxes -> Pascal VOC's 1-based inclusive pixel indices (int64).

    VOC's ``(xmin, ymin, xmax, ymax)`` name the first and last pixel the box covers, counting
    from 1. A box is widened to whole pixels: ``xmin = floor(x0) + 1``, ``xmax = ceil(x1)``.
    For integer boxes this is exact (``xmin = x0 + 1``, ``xmax = x1``) and the VOC width
    ``xmax - xmin + 1`` equals ``x1 - x0``. A box must cover at least one pixel each way.

    Taught in: ch09 (planned)
    """
    boxes = _as_valid_xyxy(boxes_xyxy, "boxes_xyxy")
    voc = np.concatenate([np.floor(boxes[:, :2]) + 1, np.ceil(boxes[:, 2:])], axis=1)
    empty = (voc[:, 2] < voc[:, 0]) | (voc[:, 3] < voc[:, 1])
    if np.any(empty):
        raise ValueError(f"box {int(np.argmax(empty))} covers no pixel; VOC cannot store it")
    return voc.astype(np.int64)


def from_voc(boxes_voc) -> np.ndarray:
    """Pascal VOC's 1-based inclusive ``(xmin, ymin, xmax, ymax)`` -> xyxy pixel edges (float).

    ``x0 = xmin - 1``, ``x1 = xmax`` (and the same for y): the inverse of ``to_voc`` on
    integer boxes.

    Taught in: ch09 (planned)
    """
    voc = as_boxes(boxes_voc, "boxes_voc")
    if np.any(voc[:, 2] < voc[:, 0]) or np.any(voc[:, 3] < voc[:, 1]):
        raise ValueError("VOC boxes need xmin <= xmax and ymin <= ymax")
    return np.concatenate([voc[:, :2] - 1, voc[:, 2:]], axis=1)


def box_area(boxes_xyxy) -> np.ndarray:
    """Areas (N,) of xyxy boxes, ``(x1 - x0) * (y1 - y0)``.

    Taught in: ch09 (planned)
    """
    boxes = _as_valid_xyxy(boxes_xyxy, "boxes_xyxy")
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _intersection_union(boxes1, boxes2) -> tuple[np.ndarray, np.ndarray]:
    a = _as_valid_xyxy(boxes1, "boxes1")[:, None, :]  # (N, 1, 4)
    b = _as_valid_xyxy(boxes2, "boxes2")[None, :, :]  # (1, M, 4)
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = width * height  # (N, M)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter, area_a + area_b - inter


def box_iou(boxes1, boxes2) -> np.ndarray:
    r"""Pairwise intersection over union of two sets of xyxy boxes.

    .. math:: \mathrm{IoU}(A, B) = \frac{|A \cap B|}{|A| + |B| - |A \cap B|}

    Args:
        boxes1: (N, 4) xyxy boxes.
        boxes2: (M, 4) xyxy boxes.

    Returns:
        (N, M) float64 in [0, 1]. Where the union is empty (two zero-area boxes) the IoU is
        defined as 0; ``torchvision.ops.box_iou`` returns NaN there.

    Taught in: ch09 (planned)
    """
    inter, union = _intersection_union(boxes1, boxes2)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def generalized_box_iou(boxes1, boxes2) -> np.ndarray:
    r"""Pairwise generalized IoU (Rezatofighi et al., 2019) of xyxy boxes.

    .. math:: \mathrm{GIoU}(A, B) = \mathrm{IoU}(A, B) - \frac{|C| - |A \cup B|}{|C|}

    where C is the smallest box enclosing A and B. GIoU lies in [-1, 1]; unlike IoU it still
    says how far apart two disjoint boxes are, so ``1 - GIoU`` is a useful box loss.

    Returns:
        (N, M) float64. Where C has zero area the penalty term is 0 (torchvision: NaN).

    Taught in: ch09 (planned)
    """
    a = _as_valid_xyxy(boxes1, "boxes1")[:, None, :]
    b = _as_valid_xyxy(boxes2, "boxes2")[None, :, :]
    inter, union = _intersection_union(boxes1, boxes2)
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    enclosing = ((np.maximum(a[..., 2], b[..., 2]) - np.minimum(a[..., 0], b[..., 0]))
                 * (np.maximum(a[..., 3], b[..., 3]) - np.minimum(a[..., 1], b[..., 1])))
    penalty = np.divide(enclosing - union, enclosing, out=np.zeros_like(inter),
                        where=enclosing > 0)
    return iou - penalty


def nms(boxes_xyxy, scores, iou_threshold: float, *, labels=None) -> np.ndarray:
    """Greedy non-maximum suppression.

    Repeatedly keep the highest-scoring box left and drop every remaining box whose IoU with it
    is *greater than* ``iou_threshold`` (as ``torchvision.ops.nms`` does). With ``labels``, boxes
    of different classes never suppress each other (``torchvision.ops.batched_nms``).

    Args:
        boxes_xyxy: (N, 4) boxes.
        scores: (N,) confidences; equal scores keep their input order (stable sort).
        iou_threshold: in [0, 1].
        labels: optional (N,) integer class of each box.

    Returns:
        (K,) int64 indices of the kept boxes, by decreasing score.

    Taught in: ch09 (planned)
    """
    boxes = _as_valid_xyxy(boxes_xyxy, "boxes_xyxy")
    scores = _as_vector(scores, len(boxes), "scores")
    if not 0 <= float(iou_threshold) <= 1:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    if labels is not None:
        labels = _as_vector(labels, len(boxes), "labels")
        keep = [np.flatnonzero(labels == label)[nms(boxes[labels == label],
                                                      scores[labels == label], iou_threshold)]
                for label in np.unique(labels)]
        keep = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
        return keep[np.argsort(-scores[keep], kind="stable")].astype(np.int64)
    order = np.argsort(-scores, kind="stable")
    iou = box_iou(boxes, boxes)
    suppressed = np.zeros(len(boxes), dtype=bool)
    keep = []
    for index in order:
        if suppressed[index]:
            continue
        keep.append(index)
        suppressed |= iou[index] > iou_threshold
    return np.asarray(keep, dtype=np.int64)


def _as_vector(values, length: int, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), one per box; got {array.shape}")
    return array


def _check_image_size(height, width) -> None:
    for value, arg in ((height, "height"), (width, "width")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{arg} must be a positive int (pixels), got {value!r}")
