"""Tests of course_lib.center_net (the small CenterNet, its symmetries and training loop)."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.center_net import (augmented_epoch, center_net_torch, dihedral_scene,
                                   evaluate_center_net, fit_center_net, predict_center_net,
                                   to_torch_batch)
from course_lib.detection import encode_center_targets, encode_scene_targets
from course_lib.masks import mask_to_box

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("k", range(8))
def test_dihedral_scene_moves_boxes_with_the_pixels(small_scenes, k):
    for index in range(len(small_scenes)):
        masks = small_scenes.masks(index)
        image, boxes = dihedral_scene(small_scenes.images[index], small_scenes.boxes[index], k)
        turned = [dihedral_scene(mask[:, :, None], np.zeros((0, 4)), k)[0][:, :, 0]
                  for mask in masks]
        np.testing.assert_array_equal(boxes, np.stack([mask_to_box(m) for m in turned]))
        assert image.shape == small_scenes.images[index].shape
    if k == 0:
        np.testing.assert_array_equal(image, small_scenes.images[-1])


def test_dihedral_scene_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        dihedral_scene(np.zeros((4, 6, 3)), np.zeros((0, 4)), 1)
    with pytest.raises(ValueError, match="0..7"):
        dihedral_scene(np.zeros((4, 4, 3)), np.zeros((0, 4)), 8)


def test_model_shapes_and_a_short_fit(small_scenes):
    torch.manual_seed(0)
    model = center_net_torch(3, widths=(4, 8, 8), head_width=8)
    x, _ = to_torch_batch(small_scenes.images)
    outputs = model(x)
    assert {k: tuple(v.shape) for k, v in outputs.items()} == {
        "heatmap": (6, 3, 8, 8), "size": (6, 2, 8, 8), "offset": (6, 2, 8, 8)}
    assert model.stride == 4
    first = torch.sigmoid(outputs["heatmap"]).mean().item()
    assert first == pytest.approx(0.1, abs=0.05)  # the prior bias
    history = fit_center_net(model, small_scenes, num_epochs=2, batch_size=4,
                             val_data=small_scenes)
    assert set(history) == {"loss", "heatmap", "size", "offset", "val_loss", "val_heatmap",
                            "val_size", "val_offset"}
    assert all(len(v) == 2 and np.all(np.isfinite(v)) for v in history.values())
    losses = evaluate_center_net(model, small_scenes.images,
                                 encode_scene_targets(small_scenes, stride=4))
    assert losses["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-5)
    predictions = predict_center_net(model, small_scenes.images, top_k=5, score_threshold=0)
    assert len(predictions) == 6 and all(len(p["boxes"]) == 5 for p in predictions)
    assert all(np.all((p["boxes"] >= 0) & (p["boxes"] <= 32)) for p in predictions)


def test_model_and_batches_reject_bad_input():
    with pytest.raises(ValueError, match="widths"):
        center_net_torch(3, widths=(4, 8))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        to_torch_batch(np.zeros((2, 3, 8, 8), dtype=np.uint8))


def test_augmented_epoch_encodes_the_turned_boxes(small_scenes):
    plain_images, plain = augmented_epoch(small_scenes, np.random.default_rng(0), stride=4,
                                          augment=False)
    np.testing.assert_array_equal(plain_images, small_scenes.images)
    expected = encode_scene_targets(small_scenes, stride=4)
    assert all(np.array_equal(plain[k], expected[k]) for k in expected)
    images, targets = augmented_epoch(small_scenes, np.random.default_rng(1), stride=4,
                                      encode_args={"radius": 1})
    turns = np.random.default_rng(1).integers(0, 8, size=len(small_scenes))
    for index, k in enumerate(turns):
        image, boxes = dihedral_scene(small_scenes.images[index], small_scenes.boxes[index],
                                      int(k))
        np.testing.assert_array_equal(images[index], image)
        one = encode_center_targets(boxes, small_scenes.labels[index], num_classes=3,
                                    image_size=32, stride=4, radius=1)
        assert all(np.array_equal(targets[key][index], one[key]) for key in one)
