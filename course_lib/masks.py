"""Segmentation masks in numpy: IoU, Dice, per-class and mean IoU, COCO run-length encoding.

Three ways to store the same segmentation of an (H, W) image:

- a *class map*: (H, W) integers, ``0`` the background and ``k`` the k-th class (Pascal VOC's
  ``SegmentationClass`` PNGs; what a semantic segmentation net is trained on);
- *one-hot masks*: (K, H, W) booleans, one per class (``one_hot_masks``), or one per object
  for instance segmentation (COCO, Mask R-CNN);
- *run-length encoding* (RLE): COCO's compact form of one binary mask (``rle_encode``).

Taught in: ch09 (planned): tasks and labels (masks, RLE), measuring segmentation (IoU, Dice,
mean IoU).
"""

from __future__ import annotations

import numpy as np


def as_mask(mask, name: str = "mask") -> np.ndarray:
    """``mask`` as a bool array; ValueError unless it holds only 0/1 (or False/True)."""
    array = np.asarray(mask)
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "biuf" or not np.all((array == 0) | (array == 1)):
        raise ValueError(f"{name} must be binary (bool or 0/1 values), got dtype {array.dtype}")
    return array.astype(bool)


def mask_iou(mask1, mask2, *, empty: float = 0.0) -> float:
    r"""Intersection over union of two binary masks of the same shape.

    .. math:: \mathrm{IoU} = \frac{|A \cap B|}{|A \cup B|}

    Args:
        mask1, mask2: (H, W) (or any equal shape) binary masks.
        empty: the value when both masks are empty (0/0). 0 follows ``pycocotools``; 1 is the
            "both agree nothing is there" convention some segmentation benchmarks use.

    Taught in: ch09 (planned)
    """
    a, b = _pair(mask1, mask2)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else float(empty)


def dice(mask1, mask2, *, empty: float = 0.0) -> float:
    r"""Dice coefficient (F1 score of the pixels) of two binary masks of the same shape.

    .. math::
        \mathrm{Dice} = \frac{2|A \cap B|}{|A| + |B|} = \frac{2\,\mathrm{IoU}}{1 + \mathrm{IoU}}

    Dice is a monotone function of IoU, so both rank predictions the same way; Dice is the
    larger number (0.5 IoU is 0.67 Dice). ``empty``: as in ``mask_iou``.

    Taught in: ch09 (planned)
    """
    a, b = _pair(mask1, mask2)
    total = a.sum() + b.sum()
    return float(2 * np.logical_and(a, b).sum() / total) if total else float(empty)


def pairwise_mask_iou(masks1, masks2) -> np.ndarray:
    """IoU of every mask in ``masks1`` (N, H, W) with every mask in ``masks2`` (M, H, W).

    Returns:
        (N, M) float64; 0 where both masks are empty (as ``pycocotools.mask.iou``). This is the
        matrix that matches predicted to true instance masks when AP is computed for masks.

    Taught in: ch09 (planned)
    """
    a, b = as_mask(masks1, "masks1"), as_mask(masks2, "masks2")
    if a.ndim != 3 or b.ndim != 3 or a.shape[1:] != b.shape[1:]:
        raise ValueError(f"masks1 and masks2 must be (N, H, W) and (M, H, W), got {a.shape} "
                         f"and {b.shape}")
    flat_a = a.reshape(len(a), -1).astype(np.float64)  # (N, H, W) -> (N, H*W)
    flat_b = b.reshape(len(b), -1).astype(np.float64)  # (M, H, W) -> (M, H*W)
    inter = flat_a @ flat_b.T
    union = flat_a.sum(1)[:, None] + flat_b.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def one_hot_masks(class_map, num_classes: int) -> np.ndarray:
    """(H, W) integer class map -> (num_classes, H, W) bool masks, one per class (0 included).

    Taught in: ch09 (planned)
    """
    labels = _as_class_map(class_map, num_classes, "class_map")
    return labels[None, :, :] == np.arange(num_classes)[:, None, None]


def class_map_from_one_hot(masks) -> np.ndarray:
    """(K, H, W) one-hot masks -> (H, W) int64 class map (the inverse of ``one_hot_masks``).

    Every pixel must be in exactly one mask; for scores (probabilities, logits) use
    ``scores.argmax(axis=0)`` instead.

    Taught in: ch09 (planned)
    """
    masks = as_mask(masks, "masks")
    if masks.ndim != 3 or not np.all(masks.sum(axis=0) == 1):
        raise ValueError("masks must be (K, H, W) with exactly one True per pixel")
    return masks.argmax(axis=0).astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes: int, *, ignore_index: int | None = None
                     ) -> np.ndarray:
    """Pixel confusion matrix: entry ``[i, j]`` counts pixels of true class i predicted as j.

    Args:
        y_true, y_pred: integer class maps of equal shape, e.g. (N, H, W), values in
            ``[0, num_classes)``.
        ignore_index: a label in ``y_true`` whose pixels are left out (VOC marks object
            borders with 255).

    Returns:
        (num_classes, num_classes) int64. Equals ``sklearn.metrics.confusion_matrix`` with
        ``labels=range(num_classes)``.

    Taught in: ch09 (planned)
    """
    true, pred = np.asarray(y_true), np.asarray(y_pred)
    if true.shape != pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {true.shape} and "
                         f"{pred.shape}")
    if ignore_index is not None:
        keep = true != ignore_index
        true, pred = true[keep], pred[keep]
    true = _as_class_map(true, num_classes, "y_true").ravel()
    pred = _as_class_map(pred, num_classes, "y_pred").ravel()
    counts = np.bincount(true * num_classes + pred, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def per_class_iou(confusion) -> np.ndarray:
    r"""IoU of each class from a confusion matrix: :math:`TP / (TP + FP + FN)`.

    Returns:
        (K,) float64; NaN for a class that is neither in the truth nor in the prediction
        (its IoU is undefined, and ``mean_iou`` leaves it out).

    Taught in: ch09 (planned)
    """
    matrix = _as_confusion(confusion)
    tp = np.diag(matrix).astype(np.float64)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - tp
    return np.divide(tp, union, out=np.full_like(tp, np.nan), where=union > 0)


def per_class_dice(confusion) -> np.ndarray:
    r"""Dice of each class from a confusion matrix: :math:`2TP / (2TP + FP + FN)`; NaN if absent.

    Taught in: ch09 (planned)
    """
    matrix = _as_confusion(confusion)
    tp = np.diag(matrix).astype(np.float64)
    total = matrix.sum(axis=0) + matrix.sum(axis=1)
    return np.divide(2 * tp, total, out=np.full_like(tp, np.nan), where=total > 0)


def mean_iou(confusion) -> float:
    """Mean of ``per_class_iou`` over the classes that occur (NaNs left out); the background
    class counts like any other (as in Pascal VOC). NaN if no class occurs.

    Taught in: ch09 (planned)
    """
    ious = per_class_iou(confusion)
    return float(np.mean(ious[~np.isnan(ious)])) if np.any(~np.isnan(ious)) else float("nan")


def pixel_accuracy(confusion) -> float:
    """Fraction of pixels whose class is right; dominated by the background on most images.

    Taught in: ch09 (planned)
    """
    matrix = _as_confusion(confusion)
    return float(np.trace(matrix) / matrix.sum()) if matrix.sum() else float("nan")


def rle_encode(mask) -> dict:
    """COCO run-length encoding of a binary (H, W) mask, uncompressed.

    The pixels are read in column-major (Fortran) order, top to bottom then left to right, and
    ``counts`` lists the lengths of alternating runs of 0s and 1s, *starting with 0s* (so it
    starts with 0 when the first pixel is 1). This is COCO's ``{"size": [H, W], "counts":
    [...]}`` for ``iscrowd`` annotations; ``pycocotools.mask.frPyObjects`` turns it into the
    compressed string form.

    Taught in: ch09 (planned)
    """
    mask = as_mask(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    pixels = mask.ravel(order="F").astype(np.int8)  # (H, W) -> (H*W,), column by column
    changes = np.flatnonzero(np.diff(pixels)) + 1  # where a run ends and the next begins
    edges = np.concatenate([[0], changes, [pixels.size]])
    counts = np.diff(edges).tolist()
    if pixels.size and pixels[0] == 1:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def rle_decode(rle: dict) -> np.ndarray:
    """Uncompressed COCO RLE ``{"size": [H, W], "counts": [...]}`` -> (H, W) bool mask.

    Taught in: ch09 (planned)
    """
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError("rle must be a dict with 'size' [H, W] and 'counts' (a list of ints)")
    height, width = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        raise ValueError("counts is compressed (a string); decode it with "
                         "pycocotools.mask.decode, or pass the uncompressed list of ints")
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or np.any(counts < 0) or counts.sum() != height * width:
        raise ValueError(f"counts must be non-negative run lengths summing to H*W = "
                         f"{height * width}, got a sum of {int(counts.sum())}")
    values = np.arange(len(counts)) % 2 == 1  # runs alternate 0, 1, 0, ...
    flat = np.repeat(values, counts)
    return flat.reshape((height, width), order="F")  # (H*W,) -> (H, W), column by column


def rle_area(rle: dict) -> int:
    """Number of foreground pixels of an uncompressed RLE (the sum of its odd runs).

    Taught in: ch09 (planned)
    """
    return int(sum(rle["counts"][1::2]))


def mask_to_box(mask) -> np.ndarray:
    """Tightest xyxy pixel-edge box (4,) float64 around the True pixels of an (H, W) mask.

    Pixels ``c0..c1`` give ``x0 = c0, x1 = c1 + 1`` (COCO's ``bbox`` of a mask);
    ``torchvision.ops.masks_to_boxes`` returns the inclusive pixel indices ``(c0, r0, c1, r1)``
    instead, one pixel smaller. An empty mask raises ValueError.

    Taught in: ch09 (planned)
    """
    mask = as_mask(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("mask is empty: it has no box")
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float64)


def _pair(mask1, mask2) -> tuple[np.ndarray, np.ndarray]:
    a, b = as_mask(mask1, "mask1"), as_mask(mask2, "mask2")
    if a.shape != b.shape:
        raise ValueError(f"masks must have the same shape, got {a.shape} and {b.shape}")
    return a, b


def _as_class_map(values, num_classes: int, name: str) -> np.ndarray:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    array = np.asarray(values)
    if array.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(f"{name} values must be in [0, {num_classes}), got "
                         f"[{array.min()}, {array.max()}]")
    return array.astype(np.int64)


def _as_confusion(confusion) -> np.ndarray:
    matrix = np.asarray(confusion)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or np.any(matrix < 0):
        raise ValueError(f"confusion must be a square (K, K) matrix of counts, got shape "
                         f"{matrix.shape}")
    return matrix
