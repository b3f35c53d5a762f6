"""Tests of course_lib.boxes against torchvision.ops on random and degenerate boxes."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import boxes as B

torch = pytest.importorskip("torch")
ops = pytest.importorskip("torchvision.ops")


def random_boxes(rng, n, *, degenerate=False, size=50.0):
    """n xyxy boxes inside [0, size]^2; some with zero width/height when ``degenerate``."""
    corners = rng.uniform(0, size, size=(n, 2))
    extent = rng.uniform(0, size / 2, size=(n, 2))
    if degenerate:
        extent[rng.random((n, 2)) < 0.3] = 0.0  # zero width or height (area 0)
    return np.concatenate([corners, corners + extent], axis=1)


def as_tensor(array):
    return torch.as_tensor(np.asarray(array), dtype=torch.float64)


@pytest.mark.parametrize("in_fmt", B.BOX_FORMATS)
@pytest.mark.parametrize("out_fmt", B.BOX_FORMATS)
def test_box_convert_matches_torchvision(rng, in_fmt, out_fmt):
    boxes = B.box_convert(random_boxes(rng, 20), "xyxy", in_fmt)
    got = B.box_convert(boxes, in_fmt, out_fmt)
    want = ops.box_convert(as_tensor(boxes), in_fmt, out_fmt).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(B.box_convert(got, out_fmt, in_fmt), boxes, atol=1e-12)


def test_box_convert_on_a_hand_worked_box():
    xyxy = np.array([[10.0, 20.0, 30.0, 60.0]])
    np.testing.assert_array_equal(B.box_convert(xyxy, "xyxy", "xywh"), [[10, 20, 20, 40]])
    np.testing.assert_array_equal(B.box_convert(xyxy, "xyxy", "cxcywh"), [[20, 40, 20, 40]])
    assert B.box_convert([1, 2, 3, 4], "xyxy", "xyxy").shape == (1, 4)
    assert B.box_convert(np.zeros((0, 4)), "xywh", "xyxy").shape == (0, 4)


def test_yolo_normalizes_by_width_and_height(rng):
    xyxy = np.array([[0.0, 0.0, 64.0, 32.0], [16.0, 8.0, 48.0, 24.0]])
    yolo = B.to_yolo(xyxy, height=32, width=64)
    np.testing.assert_allclose(yolo, [[0.5, 0.5, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
    boxes = random_boxes(rng, 10)
    np.testing.assert_allclose(B.from_yolo(B.to_yolo(boxes, height=80, width=60),
                                           height=80, width=60), boxes, atol=1e-12)


def test_voc_is_one_based_and_inclusive():
    # pixels 0..9 (columns) and 5..6 (rows): pixel edges x 0..10, y 5..7
    xyxy = np.array([[0.0, 5.0, 10.0, 7.0]])
    voc = B.to_voc(xyxy)
    assert voc.dtype == np.int64 and voc.tolist() == [[1, 6, 10, 7]]
    assert (voc[0, 2] - voc[0, 0] + 1) == 10  # the VOC width = the pixel width
    np.testing.assert_array_equal(B.from_voc(voc), xyxy)
    assert B.to_voc([[0.2, 0.5, 3.4, 2.0]]).tolist() == [[1, 1, 4, 2]]  # widened outward
    with pytest.raises(ValueError, match="covers no pixel"):
        B.to_voc([[3.0, 3.0, 3.0, 5.0]])


@pytest.mark.parametrize("degenerate", [False, True])
@pytest.mark.parametrize("shapes", [(7, 5), (1, 1), (12, 1), (0, 3)])
def test_box_iou_matches_torchvision(rng, degenerate, shapes):
    a = random_boxes(rng, shapes[0], degenerate=degenerate)
    b = random_boxes(rng, shapes[1], degenerate=degenerate)
    b[: min(len(a), len(b))][::2] = a[: min(len(a), len(b))][::2]  # some identical pairs
    got = B.box_iou(a, b)
    want = ops.box_iou(as_tensor(a), as_tensor(b)).numpy()
    assert got.shape == shapes and got.dtype == np.float64
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-12)
    assert np.all(got[~finite] == 0)  # 0/0: both boxes empty -> defined as 0 here
    assert np.all((got >= 0) & (got <= 1))


def test_box_iou_of_hand_worked_boxes():
    a = [[0, 0, 2, 2]]
    b = [[1, 1, 3, 3], [0, 0, 2, 2], [2, 0, 4, 2], [5, 5, 5, 9]]
    np.testing.assert_allclose(B.box_iou(a, b), [[1 / 7, 1.0, 0.0, 0.0]])
    np.testing.assert_allclose(B.box_iou([[1, 1, 1, 1]], [[1, 1, 1, 1]]), [[0.0]])


@pytest.mark.parametrize("degenerate", [False, True])
def test_generalized_box_iou_matches_torchvision(rng, degenerate):
    a = random_boxes(rng, 9, degenerate=degenerate)
    b = random_boxes(rng, 6, degenerate=degenerate)
    got = B.generalized_box_iou(a, b)
    want = ops.generalized_box_iou(as_tensor(a), as_tensor(b)).numpy()
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-12)
    assert np.all((got >= -1) & (got <= 1))  # -1 only for far-apart zero-area boxes
    assert np.all(got <= B.box_iou(a, b) + 1e-12)  # GIoU never exceeds IoU


def test_generalized_box_iou_tells_near_from_far_disjoint_boxes():
    giou = B.generalized_box_iou([[0, 0, 1, 1]], [[2, 0, 3, 1], [9, 0, 10, 1]])
    assert B.box_iou([[0, 0, 1, 1]], [[2, 0, 3, 1], [9, 0, 10, 1]]).tolist() == [[0.0, 0.0]]
    np.testing.assert_allclose(giou, [[-1 / 3, -0.8]])


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.7, 1.0])
@pytest.mark.parametrize("n", [0, 1, 40, 200])
def test_nms_matches_torchvision(rng, threshold, n):
    boxes = random_boxes(rng, n, degenerate=True, size=30.0)
    scores = rng.random(n)
    got = B.nms(boxes, scores, threshold)
    want = ops.nms(as_tensor(boxes), as_tensor(scores), threshold).numpy()
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("threshold", [0.2, 0.5])
def test_nms_per_class_matches_batched_nms(rng, threshold):
    boxes = random_boxes(rng, 150, size=30.0)
    scores = rng.random(150)
    labels = rng.integers(0, 4, size=150)
    got = B.nms(boxes, scores, threshold, labels=labels)
    want = ops.batched_nms(as_tensor(boxes), as_tensor(scores), torch.as_tensor(labels),
                           threshold).numpy()
    np.testing.assert_array_equal(got, want)
    assert len(got) > len(B.nms(boxes, scores, threshold))  # classes do not suppress each other


def test_nms_keeps_the_best_of_overlapping_boxes_and_does_not_mutate():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=float)
    scores = np.array([0.6, 0.9, 0.5])
    before = boxes.copy()
    assert B.nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert B.nms(boxes, scores, 0.7).tolist() == [1, 0, 2]  # IoU 81/119 = 0.68 <= 0.7: kept
    np.testing.assert_array_equal(boxes, before)


def test_box_area():
    np.testing.assert_array_equal(B.box_area([[0, 0, 2, 3], [1, 1, 1, 5]]), [6.0, 0.0])


@pytest.mark.parametrize("bad, match", [
    (np.zeros((3, 5)), "shape"),
    ([[0, 0, 1, np.nan]], "finite"),
    ([[5, 0, 1, 1]], "not an xyxy box"),
])
def test_bad_boxes_raise_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        B.box_iou(bad, [[0, 0, 1, 1]])


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="in_fmt"):
        B.box_convert([[0, 0, 1, 1]], "xyz", "xyxy")
    with pytest.raises(ValueError, match="iou_threshold"):
        B.nms([[0, 0, 1, 1]], [1.0], 1.5)
    with pytest.raises(ValueError, match="scores"):
        B.nms([[0, 0, 1, 1]], [1.0, 2.0], 0.5)
    with pytest.raises(ValueError, match="width"):
        B.to_yolo([[0, 0, 1, 1]], height=10, width=0)
