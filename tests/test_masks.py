"""Tests of course_lib.masks: IoU, Dice, confusion-matrix metrics and COCO RLE."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from course_lib import masks as M


def random_mask(rng, shape, p=0.3):
    return rng.random(shape) < p


def test_mask_iou_and_dice_on_hand_worked_masks():
    a = np.zeros((4, 4), dtype=bool)
    b = np.zeros((4, 4), dtype=bool)
    a[:2, :2] = True  # 4 pixels
    b[1:3, :2] = True  # 4 pixels, 2 shared
    assert M.mask_iou(a, b) == pytest.approx(2 / 6)
    assert M.dice(a, b) == pytest.approx(4 / 8)
    assert M.mask_iou(a, a) == 1.0 and M.dice(a, ~a) == 0.0
    empty = np.zeros((4, 4), dtype=bool)
    assert M.mask_iou(empty, empty) == 0.0 and M.mask_iou(empty, empty, empty=1.0) == 1.0
    assert M.dice(empty, empty, empty=1.0) == 1.0 and M.mask_iou(a, empty) == 0.0


def test_dice_is_a_monotone_function_of_iou(rng):
    for _ in range(20):
        a, b = random_mask(rng, (9, 7)), random_mask(rng, (9, 7))
        iou = M.mask_iou(a, b)
        assert M.dice(a, b) == pytest.approx(2 * iou / (1 + iou))
        assert M.dice(a, b) >= iou


def test_pairwise_mask_iou_matches_elementwise_iou(rng):
    a = random_mask(rng, (5, 12, 10))
    b = random_mask(rng, (3, 12, 10))
    b[0] = a[0]
    b[1] = False  # an empty mask
    got = M.pairwise_mask_iou(a, b)
    assert got.shape == (5, 3)
    want = [[M.mask_iou(x, y) for y in b] for x in a]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[0, 0] == 1.0 and np.all(got[:, 1] == 0)


def test_pairwise_mask_iou_matches_pycocotools(rng):
    mask_utils = pytest.importorskip("pycocotools.mask")
    a = random_mask(rng, (5, 12, 10))
    b = random_mask(rng, (3, 12, 10))
    b[1] = False  # an empty mask
    got = M.pairwise_mask_iou(a, b)
    encode = lambda m: mask_utils.encode(np.asfortranarray(m.transpose(1, 2, 0), np.uint8))
    coco = mask_utils.iou(encode(a), encode(b), [0] * len(b))
    np.testing.assert_allclose(got, coco, rtol=1e-12)


def test_one_hot_round_trip(rng):
    class_map = rng.integers(0, 4, size=(6, 5))
    one_hot = M.one_hot_masks(class_map, 4)
    assert one_hot.shape == (4, 6, 5) and one_hot.dtype == bool
    assert np.all(one_hot.sum(axis=0) == 1)
    np.testing.assert_array_equal(M.class_map_from_one_hot(one_hot), class_map)
    with pytest.raises(ValueError, match="exactly one"):
        M.class_map_from_one_hot(np.zeros((2, 3, 3), dtype=bool))


@pytest.mark.parametrize("shape", [(2, 7, 9), (1, 1, 1), (30,)])
def test_confusion_matrix_matches_sklearn(rng, shape):
    true = rng.integers(0, 5, size=shape)
    pred = np.where(rng.random(shape) < 0.6, true, rng.integers(0, 5, size=shape))
    got = M.confusion_matrix(true, pred, 5)
    want = sk_confusion_matrix(true.ravel(), pred.ravel(), labels=range(5))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)


def test_confusion_matrix_ignores_the_ignore_index():
    true = np.array([0, 1, 255, 2, 255])
    pred = np.array([0, 2, 1, 2, 0])
    got = M.confusion_matrix(true, pred, 3, ignore_index=255)
    assert got.sum() == 3 and got[1, 2] == 1 and got[0, 0] == 1 and got[2, 2] == 1


def test_per_class_iou_matches_masks_and_mean_iou_skips_absent_classes(rng):
    true = rng.integers(0, 3, size=(2, 8, 8))  # classes 0..2; class 3 never occurs
    pred = np.where(rng.random(true.shape) < 0.7, true, rng.integers(0, 3, size=true.shape))
    confusion = M.confusion_matrix(true, pred, 4)
    ious = M.per_class_iou(confusion)
    for k in range(3):
        assert ious[k] == pytest.approx(M.mask_iou(true == k, pred == k))
        assert M.per_class_dice(confusion)[k] == pytest.approx(M.dice(true == k, pred == k))
    assert np.isnan(ious[3])
    assert M.mean_iou(confusion) == pytest.approx(np.mean(ious[:3]))
    assert M.pixel_accuracy(confusion) == pytest.approx(np.mean(true == pred))
    assert np.isnan(M.mean_iou(np.zeros((2, 2))))


def test_perfect_prediction_has_mean_iou_one(rng):
    true = rng.integers(0, 4, size=(10, 10))
    assert M.mean_iou(M.confusion_matrix(true, true, 4)) == 1.0


def test_rle_of_a_hand_worked_mask():
    mask = np.array([[0, 1, 1],
                     [0, 1, 0]], dtype=bool)
    # column-major: column 0 = 0 0, column 1 = 1 1, column 2 = 1 0 -> runs 0:2, 1:3, 0:1
    assert M.rle_encode(mask) == {"size": [2, 3], "counts": [2, 3, 1]}
    first_on = np.array([[1, 0], [0, 0]], dtype=np.uint8)
    assert M.rle_encode(first_on)["counts"] == [0, 1, 3]  # starts with a run of zero 0s
    assert M.rle_area(M.rle_encode(mask)) == 3


@pytest.mark.parametrize("shape", [(1, 1), (5, 8), (33, 17)])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
def test_rle_round_trip(rng, shape, p):
    mask = random_mask(rng, shape, p)
    rle = M.rle_encode(mask)
    assert isinstance(rle["counts"], list) and sum(rle["counts"]) == mask.size
    assert all(count > 0 for count in rle["counts"][1:])  # runs alternate: none empty
    np.testing.assert_array_equal(M.rle_decode(rle), mask)
    assert M.rle_area(rle) == mask.sum()


@pytest.mark.parametrize("shape", [(1, 1), (5, 8), (33, 17)])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
def test_rle_is_what_pycocotools_reads_and_writes(rng, shape, p):
    mask_utils = pytest.importorskip("pycocotools.mask")
    mask = random_mask(rng, shape, p)
    rle = M.rle_encode(mask)
    compressed = mask_utils.frPyObjects(rle, *shape)
    np.testing.assert_array_equal(mask_utils.decode(compressed), mask)
    assert mask_utils.encode(np.asfortranarray(mask, np.uint8)) == compressed


def test_mask_to_box_uses_pixel_edges(rng):
    mask = np.zeros((10, 12), dtype=bool)
    mask[2:5, 3:9] = True  # rows 2..4, columns 3..8
    np.testing.assert_array_equal(M.mask_to_box(mask), [3, 2, 9, 5])


def test_mask_to_box_is_torchvision_masks_to_boxes_plus_one(rng):
    torch = pytest.importorskip("torch")
    ops = pytest.importorskip("torchvision.ops")
    for _ in range(5):
        mask = random_mask(rng, (15, 11), 0.05)
        mask[7, 5] = True
        tv = ops.masks_to_boxes(torch.as_tensor(mask[None])).numpy()[0]
        np.testing.assert_array_equal(M.mask_to_box(mask), tv + [0, 0, 1, 1])


def test_mask_to_box_matches_pycocotools_to_bbox(rng):
    mask_utils = pytest.importorskip("pycocotools.mask")
    mask = random_mask(rng, (15, 11), 0.05)
    mask[7, 5] = True
    xywh = mask_utils.toBbox(mask_utils.encode(np.asfortranarray(mask, np.uint8)))
    np.testing.assert_array_equal(M.mask_to_box(mask), xywh[:2].tolist() + (xywh[:2] + xywh[2:])
                                  .tolist())


def test_inputs_are_not_mutated(rng):
    a, b = random_mask(rng, (6, 6)), random_mask(rng, (6, 6))
    a0, b0 = a.copy(), b.copy()
    M.mask_iou(a, b), M.dice(a, b), M.rle_encode(a)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="same shape"):
        M.mask_iou(np.zeros((2, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="binary"):
        M.dice(np.full((2, 2), 0.5), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="summing"):
        M.rle_decode({"size": [2, 2], "counts": [1, 2]})
    with pytest.raises(ValueError, match="compressed"):
        M.rle_decode({"size": [2, 2], "counts": "04"})
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        M.confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="integer"):
        M.confusion_matrix([0.5], [0], 3)
    with pytest.raises(ValueError, match="empty"):
        M.mask_to_box(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="square"):
        M.per_class_iou(np.zeros((2, 3)))
