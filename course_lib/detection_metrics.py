"""Average precision (AP) and mean AP (mAP) for object detection, in numpy, COCO style.

How a detector is scored, in four steps:

1. **Match.** In each image and class, take the detections by decreasing score; each one
   claims the still-unmatched ground-truth box it overlaps most, if that IoU is at least the
   threshold: a true positive (TP). Otherwise it is a false positive (FP): a miss, or a
   duplicate of an object already found (``match_detections``).
2. **Rank.** Pool the detections of a class over all images and sort them by score. Going down
   the list, precision = TP / (TP + FP) so far and recall = TP / (number of true objects)
   (``precision_recall_curve``).
3. **Average.** AP is the area under that curve after replacing each precision by the best
   precision at any higher recall (the curve's monotone envelope), sampled three ways
   (``average_precision``):

   - ``"coco101"``: the mean of the envelope at the recalls 0, 0.01, ..., 1 (COCO, and
     ``torchmetrics``' default); a recall never reached counts as precision 0.
   - ``"voc_all"``: the exact area under the envelope, summed at every recall where it
     changes (Pascal VOC 2010 and later).
   - ``"voc11"``: the mean of the envelope at recalls 0, 0.1, ..., 1 (Pascal VOC 2007).

4. **Average again.** mAP is the mean AP over classes that have ground truth; COCO's headline
   ``mAP@[.5:.95]`` also averages over the IoU thresholds 0.5, 0.55, ..., 0.95
   (``evaluate_detections``), so it rewards tight boxes, while ``mAP@0.5`` (VOC's metric)
   accepts any box that half-overlaps.

This reproduces ``pycocotools.cocoeval.COCOeval`` for the area range "all" and
``maxDets=100`` (checked in ``tests/test_detection_metrics.py``): a match needs IoU >= the
threshold, at most ``max_detections`` per image and class count, and a class with no true box
has no AP (NaN, left out of the means). Not supported: crowd annotations, area ranges. Pascal
VOC's own code differs in matching (IoU > threshold, and a detection whose best box is taken is
an FP even if another box would do).

Taught in: ch09 (planned): measuring detection (precision-recall curve, AP, mAP).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_lib.boxes import as_boxes, box_iou
from course_lib.masks import pairwise_mask_iou

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # 0.5:0.05:0.95, as pycocotools builds them
COCO_RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
AP_METHODS = ("coco101", "voc_all", "voc11")


def match_detections(iou, scores, iou_threshold: float) -> np.ndarray:
    """Greedy COCO matching of the detections of ONE image and ONE class.

    Args:
        iou: (D, G) IoU of each detection with each true object (boxes or masks).
        scores: (D,) detection scores; higher is matched first (ties keep input order).
        iou_threshold: a match needs IoU >= this.

    Returns:
        (D,) bool, in the input order: True where the detection is a true positive.

    Taught in: ch09 (planned)
    """
    iou = np.asarray(iou, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if iou.ndim != 2 or scores.shape != (iou.shape[0],):
        raise ValueError(f"iou must be (D, G) and scores (D,), got {iou.shape} and "
                         f"{scores.shape}")
    threshold = min(float(iou_threshold), 1 - 1e-10)  # as COCOeval: IoU 1.0 still matches
    taken = np.zeros(iou.shape[1], dtype=bool)
    is_tp = np.zeros(iou.shape[0], dtype=bool)
    for d in np.argsort(-scores, kind="stable"):
        candidates = np.where(~taken & (iou[d] >= threshold), iou[d], -1.0)
        if candidates.size == 0 or candidates.max() < 0:
            continue
        g = candidates.size - 1 - int(np.argmax(candidates[::-1]))  # last best, as COCOeval
        taken[g] = is_tp[d] = True
    return is_tp


def precision_recall_curve(is_tp, scores, num_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall down the ranked list of detections of one class.

    Args:
        is_tp: (D,) bool, True for a true positive (pooled over images).
        scores: (D,) scores; the list is sorted by decreasing score (stable).
        num_gt: the number of true objects of the class (>= 1).

    Returns:
        ``(precision, recall)``, each (D,) float64: the values after the first 1, 2, ..., D
        detections.

    Taught in: ch09 (planned)
    """
    is_tp = np.asarray(is_tp)
    scores = np.asarray(scores, dtype=np.float64)
    if is_tp.ndim != 1 or scores.shape != is_tp.shape:
        raise ValueError(f"is_tp and scores must be (D,) each, got {is_tp.shape} and "
                         f"{scores.shape}")
    if isinstance(num_gt, bool) or not isinstance(num_gt, (int, np.integer)) or num_gt < 1:
        raise ValueError(f"num_gt must be an int >= 1 (AP is undefined without true objects), "
                         f"got {num_gt!r}")
    if is_tp.sum() > num_gt:
        raise ValueError(f"{int(is_tp.sum())} true positives but only {num_gt} true objects")
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(is_tp[order].astype(bool))
    ranks = np.arange(1, len(tp) + 1)
    return tp / ranks, tp / num_gt


def average_precision(is_tp, scores, num_gt: int, *, method: str = "coco101") -> float:
    """AP of one class from its ranked detections (see the module docstring for ``method``).

    Args:
        is_tp, scores, num_gt: as in ``precision_recall_curve``.
        method: ``"coco101"`` (default), ``"voc_all"`` or ``"voc11"``.

    Returns:
        AP in [0, 1]; 0 when there are no detections.

    Taught in: ch09 (planned)
    """
    if method not in AP_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(AP_METHODS)}")
    precision, recall = precision_recall_curve(is_tp, scores, num_gt)
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    if method == "voc_all":
        recall_steps = np.diff(np.concatenate([[0.0], recall]))
        return float(np.sum(recall_steps * envelope))
    if len(envelope) == 0:
        return 0.0
    thresholds = COCO_RECALL_THRESHOLDS if method == "coco101" else np.linspace(0, 1, 11)
    first = np.searchsorted(recall, thresholds, side="left")  # first rank reaching each recall
    sampled = np.where(first < len(envelope), envelope[np.minimum(first, len(envelope) - 1)], 0.0)
    return float(np.mean(sampled))


def evaluate_detections(
    predictions: Sequence[dict],
    targets: Sequence[dict],
    *,
    iou_thresholds=COCO_IOU_THRESHOLDS,
    method: str = "coco101",
    max_detections: int = 100,
    iou_type: str = "bbox",
) -> dict:
    """AP per class and IoU threshold, and mAP, over a data set (COCO's ``bbox`` evaluation).

    Args:
        predictions: one dict per image with ``"boxes"`` (D, 4) xyxy, ``"scores"`` (D,),
            ``"labels"`` (D,) ints (and ``"masks"`` (D, H, W) bool for ``iou_type="segm"``):
            the format torchvision detectors return and torchmetrics' ``MeanAveragePrecision``
            takes (numpy arrays or CPU tensors).
        targets: one dict per image, in the same order, with ``"boxes"`` (G, 4) and
            ``"labels"`` (G,) (and ``"masks"`` (G, H, W) for ``"segm"``).
        iou_thresholds: the IoU thresholds; COCO's ten by default.
        method: how each AP is computed (``average_precision``).
        max_detections: at most this many highest-scoring detections per image and class.
        iou_type: ``"bbox"`` (box IoU) or ``"segm"`` (mask IoU).

    Returns:
        A dict with ``"map"`` (mean over classes and thresholds), ``"map_50"`` and
        ``"map_75"`` (NaN if 0.5 / 0.75 is not among the thresholds), ``"ap"`` (T, K) float64
        (NaN for a class without true objects), ``"ap_per_class"`` (K,) (mean over the
        thresholds), ``"classes"`` (K,) the labels seen in targets or predictions, sorted, and
        ``"iou_thresholds"`` (T,).

    Taught in: ch09 (planned)
    """
    if len(predictions) != len(targets):
        raise ValueError(f"need one prediction dict per target dict, got {len(predictions)} "
                         f"and {len(targets)}")
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    if method not in AP_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(AP_METHODS)}")
    thresholds = np.atleast_1d(np.asarray(iou_thresholds, dtype=np.float64))
    images = [(_image(p, True, iou_type), _image(t, False, iou_type))
              for p, t in zip(predictions, targets)]
    classes = np.unique(np.concatenate(
        [np.concatenate([p["labels"], t["labels"]]) for p, t in images] or [np.zeros(0)]))
    ap = np.full((len(thresholds), len(classes)), np.nan)
    for k, label in enumerate(classes):
        scores, is_tp, num_gt = _pool_class(images, label, thresholds, max_detections, iou_type)
        if num_gt == 0:
            continue
        for t in range(len(thresholds)):
            ap[t, k] = average_precision(is_tp[t], scores, num_gt, method=method)
    return {
        "map": _nanmean(ap),
        "map_50": _nanmean(ap[np.isclose(thresholds, 0.5)]),
        "map_75": _nanmean(ap[np.isclose(thresholds, 0.75)]),
        "ap": ap,
        "ap_per_class": np.array([_nanmean(ap[:, k]) for k in range(len(classes))]),
        "classes": classes.astype(np.int64),
        "iou_thresholds": thresholds,
    }


def _pool_class(images, label, thresholds, max_detections, iou_type):
    """Scores (D,), TP flags (T, D) and the number of true objects of one class, all images."""
    scores, flags, num_gt = [], [], 0
    for prediction, target in images:
        pred = prediction["labels"] == label
        true = target["labels"] == label
        num_gt += int(true.sum())
        order = np.argsort(-prediction["scores"][pred], kind="stable")[:max_detections]
        if order.size == 0:
            continue
        key = "masks" if iou_type == "segm" else "boxes"
        found, wanted = prediction[key][pred][order], target[key][true]
        if not true.any():
            iou = np.zeros((len(order), 0))
        elif iou_type == "segm":
            iou = pairwise_mask_iou(found, wanted)
        else:
            iou = box_iou(found, wanted)
        image_scores = prediction["scores"][pred][order]
        scores.append(image_scores)
        flags.append([match_detections(iou, image_scores, t) for t in thresholds])
    if not scores:
        return np.zeros(0), np.zeros((len(thresholds), 0), dtype=bool), num_gt
    return np.concatenate(scores), np.concatenate(flags, axis=1), num_gt


def _image(entry: dict, is_prediction: bool, iou_type: str) -> dict:
    """One image's dict as numpy arrays, checked."""
    what = "prediction" if is_prediction else "target"
    keys = ["boxes", "labels"] + (["scores"] if is_prediction else [])
    keys += ["masks"] if iou_type == "segm" else []
    if not isinstance(entry, dict) or any(key not in entry for key in keys):
        raise ValueError(f"each {what} must be a dict with keys {keys}")
    out = {key: np.asarray(entry[key]) for key in keys}
    out["boxes"] = as_boxes(out["boxes"], f"{what} boxes") if out["boxes"].size else np.zeros(
        (0, 4))
    count = len(out["boxes"])
    for key in keys[1:]:
        if len(out[key]) != count:
            raise ValueError(f"{what} {key!r} has {len(out[key])} entries for {count} boxes")
    if out["labels"].size and out["labels"].dtype.kind not in "iu":
        raise ValueError(f"{what} labels must be integers, got dtype {out['labels'].dtype}")
    out["labels"] = out["labels"].astype(np.int64)
    return out


def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    valid = values[~np.isnan(values)]
    return float(valid.mean()) if valid.size else float("nan")
