"""Tests of course_lib.detection_metrics: hand-worked AP, properties, and pycocotools/torchmetrics.

The comparisons with ``pycocotools`` and ``torchmetrics`` run only where they are installed
(they are not course dependencies); the hand-worked and property tests always run.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from course_lib import detection_metrics as D


@pytest.mark.parametrize("method, want", [
    ("voc_all", 5 / 9),  # recall 1/3 at precision 1, then 1/3 more at precision 2/3
    ("coco101", 56 / 101),  # recalls 0..0.33 -> 1 (34), 0.34..0.66 -> 2/3 (33), rest -> 0
    ("voc11", 6 / 11),  # recalls 0..0.3 -> 1 (4), 0.4..0.6 -> 2/3 (3), 0.7..1 -> 0
])
def test_average_precision_of_a_hand_worked_ranked_list(method, want):
    # ranked: TP, FP, TP; three true objects, one never found
    is_tp, scores = [True, False, True], [0.9, 0.8, 0.7]
    precision, recall = D.precision_recall_curve(is_tp, scores, 3)
    np.testing.assert_allclose(precision, [1, 1 / 2, 2 / 3])
    np.testing.assert_allclose(recall, [1 / 3, 1 / 3, 2 / 3])
    assert D.average_precision(is_tp, scores, 3, method=method) == pytest.approx(want)
    # the same list given in another order: ranking is by score
    assert D.average_precision([True, True, False], [0.7, 0.9, 0.8], 3,
                               method=method) == pytest.approx(want)


@pytest.mark.parametrize("method", D.AP_METHODS)
def test_average_precision_extremes(method):
    assert D.average_precision([True] * 4, [4, 3, 2, 1], 4, method=method) == 1.0
    assert D.average_precision([], [], 4, method=method) == 0.0
    assert D.average_precision([False] * 3, [3, 2, 1], 2, method=method) == 0.0
    # a perfect detector that finds half the objects
    half = D.average_precision([True] * 2, [2, 1], 4, method=method)
    assert half == pytest.approx({"voc_all": 0.5, "coco101": 51 / 101, "voc11": 6 / 11}[method])


@pytest.mark.parametrize("method", D.AP_METHODS)
def test_average_precision_properties(rng, method):
    for _ in range(30):
        n = int(rng.integers(1, 30))
        is_tp = rng.random(n) < 0.5
        num_gt = int(is_tp.sum() + rng.integers(0, 5)) or 1
        scores = rng.random(n)
        ap = D.average_precision(is_tp, scores, num_gt, method=method)
        assert 0.0 <= ap <= 1.0
        # a monotone change of the scores keeps the ranking, so the AP
        assert D.average_precision(is_tp, 3 * scores**2 + 1, num_gt, method=method) == ap
        # sorting TPs to the top never lowers AP
        best = D.average_precision(np.sort(is_tp)[::-1], np.arange(n, 0, -1), num_gt,
                                   method=method)
        assert best >= ap - 1e-12
        if method != "voc11":  # a false positive ranked last changes nothing
            lower = D.average_precision(np.append(is_tp, False), np.append(scores, -1), num_gt,
                                        method=method)
            assert lower == pytest.approx(ap)


def test_match_detections_by_hand():
    iou = np.array([[0.9, 0.0],   # best detection on object 0
                    [0.8, 0.1],   # a duplicate of object 0: FP
                    [0.0, 0.6]])  # object 1, loosely
    scores = np.array([0.9, 0.8, 0.7])
    assert D.match_detections(iou, scores, 0.5).tolist() == [True, False, True]
    assert D.match_detections(iou, scores, 0.75).tolist() == [True, False, False]
    # the higher score is matched first, whatever the input order
    assert D.match_detections(iou[[1, 0, 2]], scores, 0.5).tolist() == [True, False, True]
    assert D.match_detections(np.ones((2, 1)), [0.1, 0.2], 1.0).tolist() == [False, True]
    # the duplicate takes a free object it overlaps enough, even if not its best
    assert D.match_detections([[0.9, 0.6], [0.8, 0.55]], [0.9, 0.8], 0.5).tolist() == [True,
                                                                                        True]


def random_detection_set(rng, *, num_images=12, num_classes=3, size=100.0):
    """True boxes, and predictions: jittered copies (some duplicated), misses and noise."""
    predictions, targets = [], []
    for _ in range(num_images):
        g = int(rng.integers(0, 6))
        corner = rng.uniform(0, size * 0.7, (g, 2))
        true = np.concatenate([corner, corner + rng.uniform(5, size * 0.3, (g, 2))], axis=1)
        labels = rng.integers(0, num_classes, g)
        keep = rng.random(g) < 0.8  # 20% of objects are missed
        found, found_labels = true[keep], labels[keep]
        extent = np.tile(found[:, 2:] - found[:, :2], 2)
        jitter = found + rng.normal(0, 0.06, found.shape) * extent  # IoUs from ~0.5 to 1
        duplicates = jitter[rng.random(len(jitter)) < 0.3] + rng.normal(0, 2, (1, 4))
        noise_corner = rng.uniform(0, size * 0.8, (int(rng.integers(0, 4)), 2))
        noise = np.concatenate(
            [noise_corner, noise_corner + rng.uniform(3, 20, noise_corner.shape)], axis=1)
        boxes = np.concatenate([jitter, duplicates, noise])
        boxes = np.concatenate([np.minimum(boxes[:, :2], boxes[:, 2:]),
                                np.maximum(boxes[:, :2], boxes[:, 2:])], axis=1)
        pred_labels = np.concatenate([
            rng.integers(0, num_classes, len(found)) if rng.random() < 0.2 else found_labels,
            rng.integers(0, num_classes, len(duplicates) + len(noise))])
        predictions.append({"boxes": boxes, "scores": rng.random(len(boxes)),
                            "labels": pred_labels})
        targets.append({"boxes": true, "labels": labels})
    return predictions, targets


def test_evaluate_detections_is_perfect_on_the_truth(rng):
    _, targets = random_detection_set(rng)
    predictions = [dict(t, scores=rng.random(len(t["boxes"]))) for t in targets]
    result = D.evaluate_detections(predictions, targets)
    assert result["map"] == 1.0 and result["map_50"] == 1.0 and result["map_75"] == 1.0
    assert result["ap"].shape == (10, len(result["classes"]))


def test_evaluate_detections_shapes_and_nan_for_classes_without_truth():
    targets = [{"boxes": [[0, 0, 10, 10]], "labels": [1]}]
    predictions = [{"boxes": [[0, 0, 10, 10], [50, 50, 60, 60]], "scores": [0.9, 0.8],
                    "labels": [1, 7]}]
    result = D.evaluate_detections(predictions, targets, iou_thresholds=[0.5])
    assert result["classes"].tolist() == [1, 7]
    assert result["ap"][0, 0] == 1.0 and np.isnan(result["ap"][0, 1])
    assert result["map"] == 1.0 and np.isnan(result["map_75"])


def test_evaluate_detections_counts_at_most_max_detections_per_image():
    targets = [{"boxes": [[0, 0, 10, 10]], "labels": [0]}]
    boxes = [[20, 20, 30, 30], [40, 40, 50, 50], [0, 0, 10, 10]]
    predictions = [{"boxes": boxes, "scores": [0.9, 0.8, 0.1], "labels": [0, 0, 0]}]
    full = D.evaluate_detections(predictions, targets, method="voc_all")
    assert full["map"] == pytest.approx(1 / 3)
    capped = D.evaluate_detections(predictions, targets, max_detections=2)
    assert capped["map"] == 0.0


def coco_evaluate(predictions, targets, num_classes, iou_type="bbox"):
    """(T, K) AP from pycocotools' COCOeval (area 'all', maxDets 100), -1 -> NaN."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, results = [], [], []
    for image_id, (pred, true) in enumerate(zip(predictions, targets), start=1):
        images.append({"id": image_id, "height": 200, "width": 200})
        for box, label in zip(true["boxes"], true["labels"]):
            x0, y0, x1, y1 = (float(v) for v in box)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,  # ids from 1
                                "category_id": int(label), "bbox": [x0, y0, x1 - x0, y1 - y0],
                                "area": (x1 - x0) * (y1 - y0), "iscrowd": 0})
        for box, score, label in zip(pred["boxes"], pred["scores"], pred["labels"]):
            x0, y0, x1, y1 = (float(v) for v in box)
            results.append({"image_id": image_id, "category_id": int(label),
                            "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(score)})
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {"images": images, "annotations": annotations,
                         "categories": [{"id": k} for k in range(num_classes)]}
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][:, :, :, 0, -1]  # (T, R, K), area all, 100 dets
    ap = precision.mean(axis=1)
    ap[(precision < 0).any(axis=1)] = np.nan
    return ap


@pytest.mark.parametrize("seed, num_images, num_classes", [
    (0, 12, 4), (1, 12, 4), (2, 12, 4), (3, 30, 2), (4, 3, 6), (5, 2, 8)])
def test_evaluate_detections_matches_pycocotools(seed, num_images, num_classes):
    pytest.importorskip("pycocotools")
    rng = np.random.default_rng(seed)
    predictions, targets = random_detection_set(rng, num_images=num_images,
                                                num_classes=num_classes)
    result = D.evaluate_detections(predictions, targets)
    want = coco_evaluate(predictions, targets, num_classes)
    got = np.full((10, num_classes), np.nan)
    got[:, result["classes"]] = result["ap"]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True)
    assert result["map"] == pytest.approx(np.nanmean(want))


def test_evaluate_detections_without_predictions_or_truth():
    targets = [{"boxes": [[0, 0, 4, 4]], "labels": [0]}, {"boxes": np.zeros((0, 4)),
                                                          "labels": []}]
    nothing = [{"boxes": np.zeros((0, 4)), "scores": [], "labels": []}] * 2
    assert D.evaluate_detections(nothing, targets)["map"] == 0.0
    wrong_image = [nothing[0], {"boxes": [[0, 0, 4, 4]], "scores": [0.5], "labels": [0]}]
    assert D.evaluate_detections(wrong_image, targets)["map"] == 0.0
    assert np.isnan(D.evaluate_detections(nothing[:1], targets[1:])["map"])


def boxes_to_masks(boxes, size=64):
    """(n, 4) integer xyxy boxes -> (n, size, size) bool masks filling them."""
    masks = np.zeros((len(boxes), size, size), dtype=bool)
    for mask, (x0, y0, x1, y1) in zip(masks, np.asarray(boxes, dtype=int)):
        mask[y0:y1, x0:x1] = True
    return masks


def test_segm_evaluation_matches_pycocotools(rng):
    mask_utils = pytest.importorskip("pycocotools.mask")
    predictions, targets = random_detection_set(rng, num_images=8, num_classes=3, size=60.0)
    for entry in predictions + targets:
        entry["boxes"] = np.clip(np.round(entry["boxes"]), 0, 64)
        entry["masks"] = boxes_to_masks(entry["boxes"])
        # a hole in every other mask, so mask IoU differs from box IoU
        entry["masks"][::2, 10:30, 10:30] = False
    keep = [np.array([m.any() for m in p["masks"]], dtype=bool) for p in predictions]
    predictions = [{k: v[ok] for k, v in p.items()} for p, ok in zip(predictions, keep)]
    result = D.evaluate_detections(predictions, targets, iou_type="segm")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, results = [], [], []
    encode = lambda m: mask_utils.encode(np.asfortranarray(m, np.uint8))
    for image_id, (pred, true) in enumerate(zip(predictions, targets), start=1):
        images.append({"id": image_id, "height": 64, "width": 64})
        for mask, label in zip(true["masks"], true["labels"]):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": int(label), "segmentation": encode(mask),
                                "area": float(mask.sum()), "iscrowd": 0})
        for mask, score, label in zip(pred["masks"], pred["scores"], pred["labels"]):
            results.append({"image_id": image_id, "category_id": int(label),
                            "segmentation": encode(mask), "score": float(score)})
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {"images": images, "annotations": annotations,
                         "categories": [{"id": k} for k in range(3)]}
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), "segm")
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][:, :, :, 0, -1]
    want = precision.mean(axis=1)
    want[(precision < 0).any(axis=1)] = np.nan
    got = np.full((10, 3), np.nan)
    got[:, result["classes"]] = result["ap"]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True)
    assert result["map"] != D.evaluate_detections(predictions, targets)["map"]


def test_evaluate_detections_matches_torchmetrics():
    pytest.importorskip("pycocotools")
    torch = pytest.importorskip("torch")
    detection = pytest.importorskip("torchmetrics.detection")
    rng = np.random.default_rng(7)
    predictions, targets = random_detection_set(rng, num_images=20, num_classes=3)
    metric = detection.MeanAveragePrecision(iou_type="bbox")
    to_torch = lambda d: {k: torch.as_tensor(v) for k, v in d.items()}
    metric.update([to_torch(p) for p in predictions], [to_torch(t) for t in targets])
    want = metric.compute()
    got = D.evaluate_detections(predictions, targets)
    for key in ("map", "map_50", "map_75"):
        assert got[key] == pytest.approx(float(want[key]), abs=1e-6), key


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="num_gt"):
        D.average_precision([True], [1.0], 0)
    with pytest.raises(ValueError, match="only 1 true objects"):
        D.average_precision([True, True], [1.0, 0.5], 1)
    with pytest.raises(ValueError, match="method"):
        D.average_precision([True], [1.0], 1, method="voc12")
    with pytest.raises(ValueError, match="one prediction dict per target"):
        D.evaluate_detections([], [{"boxes": [], "labels": []}])
    with pytest.raises(ValueError, match="keys"):
        D.evaluate_detections([{"boxes": [[0, 0, 1, 1]]}], [{"boxes": [], "labels": []}])
    with pytest.raises(ValueError, match="entries"):
        D.evaluate_detections([{"boxes": [[0, 0, 1, 1]], "scores": [1, 2], "labels": [0]}],
                              [{"boxes": [], "labels": []}])
    with pytest.raises(ValueError, match="scores"):
        D.match_detections(np.zeros((2, 3)), [1.0], 0.5)
