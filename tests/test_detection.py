"""Tests of course_lib.detection (CenterNet-style targets, loss and decoding)."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.detection import encode_center_targets, gaussian_radius


def _centernet_gaussian_radius(det_size, min_overlap=0.7):
    """CenterNet's src/lib/utils/image.py gaussian_radius, copied as the oracle."""
    height, width = det_size
    a1 = 1
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    sq1 = np.sqrt(b1**2 - 4 * a1 * c1)
    r1 = (b1 + sq1) / 2
    a2 = 4
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    sq2 = np.sqrt(b2**2 - 4 * a2 * c2)
    r2 = (b2 + sq2) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    sq3 = np.sqrt(b3**2 - 4 * a3 * c3)
    r3 = (b3 + sq3) / 2
    return min(r1, r2, r3)


@pytest.mark.parametrize("size", [(3.0, 3.0), (5.0, 2.5), (10.0, 4.0), (1.0, 12.0)])
@pytest.mark.parametrize("overlap", [0.5, 0.7, 0.9])
def test_gaussian_radius_matches_centernet_code(size, overlap):
    width, height = size
    assert gaussian_radius(width, height, overlap) == pytest.approx(
        _centernet_gaussian_radius((height, width), overlap))


def test_encode_one_box_by_hand():
    # box 8..24 x 4..20 px, stride 4: center (16, 12) px = (4, 3) cells exactly; 4 x 4 cells
    targets = encode_center_targets([[8, 4, 24, 20]], [2], num_classes=3, image_size=32,
                                    stride=4, radius=1)
    assert {k: v.shape for k, v in targets.items()} == {
        "heatmap": (3, 8, 8), "size": (2, 8, 8), "offset": (2, 8, 8), "mask": (8, 8)}
    assert all(v.dtype == np.float32 for v in targets.values())
    heatmap = targets["heatmap"]
    assert heatmap[1, 3, 4] == 1.0 and heatmap[0].max() == 0 and heatmap[2].max() == 0
    sigma = 3 / 6
    np.testing.assert_allclose(heatmap[1, 2, 4], np.exp(-1 / (2 * sigma**2)), rtol=1e-6)
    np.testing.assert_allclose(heatmap[1, 2, 3], np.exp(-2 / (2 * sigma**2)), rtol=1e-6)
    assert np.count_nonzero(heatmap[1]) == 9  # the 3 x 3 window only
    assert targets["mask"].sum() == 1 and targets["mask"][3, 4] == 1
    np.testing.assert_allclose(targets["size"][:, 3, 4], [4, 4])
    np.testing.assert_allclose(targets["offset"][:, 3, 4], [0, 0])
    assert np.count_nonzero(targets["size"]) == 2


def test_center_cell_is_floor_and_offset_is_the_remainder():
    # center (13.5, 6.5) px / 4 = (3.375, 1.625) cells -> column 3, row 1
    targets = encode_center_targets([[11, 5, 16, 8]], [1], num_classes=1, image_size=(16, 24),
                                    stride=4)
    assert targets["heatmap"].shape == (1, 4, 6)
    assert np.argwhere(targets["mask"]).tolist() == [[1, 3]]
    np.testing.assert_allclose(targets["offset"][:, 1, 3], [0.375, 0.625])
    np.testing.assert_allclose(targets["size"][:, 1, 3], [5 / 4, 3 / 4])


def test_default_radius_follows_the_rule():
    box = np.array([[0.0, 0.0, 40.0, 24.0]])  # 10 x 6 cells at stride 4
    r = int(gaussian_radius(10, 6))
    targets = encode_center_targets(box, [1], num_classes=1, image_size=64, stride=4)
    row = targets["heatmap"][0, 3]  # center (5, 3)
    assert np.count_nonzero(row) == 2 * r + 1
    bigger = encode_center_targets(box, [1], num_classes=1, image_size=64, stride=4,
                                   min_radius=r + 2)
    assert np.count_nonzero(bigger["heatmap"][0, 3]) == 2 * (r + 2) + 1


def test_overlapping_peaks_combine_by_max_and_later_object_wins_the_cell():
    boxes = [[8, 8, 16, 16], [12, 8, 20, 16], [9, 9, 15, 15]]
    labels = [1, 1, 2]
    targets = encode_center_targets(boxes, labels, num_classes=2, image_size=32, stride=4,
                                    radius=2)
    alone = [encode_center_targets([b], [k], num_classes=2, image_size=32, stride=4,
                                   radius=2)["heatmap"] for b, k in zip(boxes, labels)]
    np.testing.assert_array_equal(targets["heatmap"], np.maximum.reduce(alone))
    assert targets["heatmap"].max() == 1.0
    # boxes 0 and 2 share center cell (3, 3); box 2 is later: its size is kept
    np.testing.assert_allclose(targets["size"][:, 3, 3], [6 / 4, 6 / 4])
    assert targets["mask"].sum() == 2


def test_center_on_far_edge_is_clipped_to_last_cell():
    targets = encode_center_targets([[32, 0, 32, 8]], [1], num_classes=1, image_size=32,
                                    stride=8)
    assert np.argwhere(targets["mask"]).tolist() == [[0, 3]]
    np.testing.assert_allclose(targets["offset"][:, 0, 3], [1.0, 0.5])


def test_no_objects_gives_zeros():
    targets = encode_center_targets(np.zeros((0, 4)), [], num_classes=4, image_size=16,
                                    stride=2)
    assert targets["heatmap"].shape == (4, 8, 8)
    assert all(not v.any() for v in targets.values())


def test_inputs_are_not_mutated():
    boxes = np.array([[1.0, 2.0, 9.0, 12.0]])
    labels = np.array([1])
    encode_center_targets(boxes, labels, num_classes=1, image_size=16, stride=2)
    np.testing.assert_array_equal(boxes, [[1.0, 2.0, 9.0, 12.0]])


@pytest.mark.parametrize("kwargs, message", [
    ({"labels": [0]}, "1..3"),
    ({"labels": [4]}, "1..3"),
    ({"labels": [1, 2]}, "one label per box"),
    ({"boxes_xyxy": [[5, 0, 1, 4]]}, "not xyxy"),
    ({"boxes_xyxy": [[1, 2, 3]]}, "shape"),
    ({"image_size": 30}, "divisible"),
    ({"stride": 0}, "stride"),
    ({"num_classes": 0}, "num_classes"),
    ({"radius": -1}, "radius"),
])
def test_encode_rejects_bad_input(kwargs, message):
    args = {"boxes_xyxy": [[0, 0, 4, 4]], "labels": [1], "num_classes": 3, "image_size": 32,
            "stride": 4}
    args.update(kwargs)
    boxes, labels = args.pop("boxes_xyxy"), args.pop("labels")
    with pytest.raises(ValueError, match=message):
        encode_center_targets(boxes, labels, **args)


# ------------------------------------------------------------------------ loss, decoding

torch = pytest.importorskip("torch")

from course_lib.detection import (  # noqa: E402
    center_loss, decode_center_outputs, encode_scene_targets, focal_heatmap_loss)


def _centernet_neg_loss(pred, gt):
    """CenterNet's src/lib/models/losses.py _neg_loss (on probabilities), as the oracle."""
    pos_inds = gt.eq(1).float()
    neg_inds = gt.lt(1).float()
    neg_weights = torch.pow(1 - gt, 4)
    pos_loss = (torch.log(pred) * torch.pow(1 - pred, 2) * pos_inds).sum()
    neg_loss = (torch.log(1 - pred) * torch.pow(pred, 2) * neg_weights * neg_inds).sum()
    num_pos = pos_inds.sum()
    if num_pos == 0:
        return -neg_loss
    return -(pos_loss + neg_loss) / num_pos


@pytest.mark.parametrize("seed", range(3))
def test_focal_heatmap_loss_matches_centernet(small_scenes, seed):
    targets = encode_scene_targets(small_scenes, stride=4, min_radius=1)
    heatmap = torch.from_numpy(targets["heatmap"]).double()
    logits = torch.randn(heatmap.shape, generator=torch.Generator().manual_seed(seed),
                         dtype=torch.float64) * 2
    expected = _centernet_neg_loss(torch.sigmoid(logits), heatmap)
    assert focal_heatmap_loss(logits, heatmap).item() == pytest.approx(expected.item(),
                                                                      rel=1e-9)
    no_peaks = torch.zeros_like(heatmap)
    assert focal_heatmap_loss(logits, no_peaks).item() == pytest.approx(
        _centernet_neg_loss(torch.sigmoid(logits), no_peaks).item(), rel=1e-9)
    with pytest.raises(ValueError, match="same shape"):
        focal_heatmap_loss(logits, heatmap[:, :1])


def test_center_loss_is_l1_at_the_centers_only(small_scenes):
    targets = {k: torch.from_numpy(v) for k, v in
               encode_scene_targets(small_scenes, stride=4).items()}
    outputs = {"heatmap": torch.zeros_like(targets["heatmap"]),
               "size": targets["size"] + 0.5, "offset": targets["offset"] - 0.25}
    outputs["size"][:, :, 0, 0] += 100  # a non-center cell (no center falls there)
    assert targets["mask"][:, 0, 0].sum() == 0
    losses = center_loss(outputs, targets, size_weight=0.1, offset_weight=1.0)
    assert losses["size"].item() == pytest.approx(2 * 0.5)  # two channels
    assert losses["offset"].item() == pytest.approx(2 * 0.25)
    assert losses["loss"].item() == pytest.approx(
        losses["heatmap"].item() + 0.1 * 1.0 + 0.5, rel=1e-6)


def _perfect_outputs(targets):
    heat = torch.from_numpy(targets["heatmap"]).double().clamp(1e-6, 1 - 1e-12)
    return {"heatmap": torch.log(heat / (1 - heat)),
            "size": torch.from_numpy(targets["size"]),
            "offset": torch.from_numpy(targets["offset"])}


def test_decoding_perfect_outputs_gives_back_the_boxes(small_scenes):
    targets = encode_scene_targets(small_scenes, stride=4, min_radius=1)
    decoded = decode_center_outputs(_perfect_outputs(targets), stride=4, top_k=10,
                                    score_threshold=0.99)
    for result, boxes, labels in zip(decoded, small_scenes.boxes, small_scenes.labels):
        assert result["boxes"].dtype == np.float64 and result["labels"].dtype == np.int64
        order = np.lexsort(boxes.T[::-1])
        found = np.lexsort(result["boxes"].T[::-1])
        np.testing.assert_allclose(result["boxes"][found], boxes[order], atol=1e-5)
        np.testing.assert_array_equal(result["labels"][found], labels[order])
        assert np.all(np.diff(result["scores"]) <= 0)


def test_peak_pool_one_keeps_the_neighbours(small_scenes):
    targets = encode_scene_targets(small_scenes, stride=4, radius=1)
    outputs = _perfect_outputs(targets)
    peaks = decode_center_outputs(outputs, stride=4, top_k=50, score_threshold=0.1)
    every_cell = decode_center_outputs(outputs, stride=4, top_k=50, score_threshold=0.1,
                                       peak_pool=1)
    for a, b, labels in zip(peaks, every_cell, small_scenes.labels):
        assert len(a["boxes"]) == len(labels)
        assert len(b["boxes"]) > len(labels)
    with pytest.raises(ValueError, match="odd"):
        decode_center_outputs(outputs, stride=4, peak_pool=2)
