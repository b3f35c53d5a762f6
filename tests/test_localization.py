"""Tests of course_lib.localization: losses against torch / torchvision / Keras oracles, the two
networks' shapes and parameter counts, decoding and matched IoU."""

import numpy as np
import pytest
import torch
import torchvision

from course_lib import boxes, localization
from course_lib.localization import (
    decode_boxes,
    giou_loss_keras,
    giou_loss_torch,
    localization_loss_torch,
    matched_iou,
    smooth_l1_keras,
    smooth_l1_torch,
)


def random_cxcywh(count: int, seed: int) -> np.ndarray:
    """(count, 4) normalized centre-size boxes, some far apart, some overlapping."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform(0.1, 0.9, size=(count, 2))
    size = rng.uniform(0.05, 0.6, size=(count, 2))
    return np.concatenate([centre, size], axis=1)


@pytest.mark.parametrize("beta", [1.0, 0.1, 0.03])
def test_smooth_l1_torch_matches_functional(beta):
    pred = torch.from_numpy(random_cxcywh(40, 0))
    target = torch.from_numpy(random_cxcywh(40, 1))
    ours = smooth_l1_torch(pred, target, beta=beta)
    theirs = torch.nn.functional.smooth_l1_loss(pred, target, beta=beta)
    assert torch.allclose(ours, theirs)


@pytest.mark.parametrize("beta", [1.0, 0.1])
def test_smooth_l1_keras_is_huber_divided_by_delta(beta):
    import keras

    pred, target = random_cxcywh(30, 2), random_cxcywh(30, 3)
    ours = keras.ops.convert_to_numpy(smooth_l1_keras(target, pred, beta=beta))
    huber = float(keras.losses.Huber(delta=beta)(target, pred))
    torch_value = float(smooth_l1_torch(torch.from_numpy(pred), torch.from_numpy(target),
                                        beta=beta))
    assert ours.shape == (30,)
    assert np.isclose(ours.mean(), huber / beta, rtol=1e-5)
    assert np.isclose(ours.mean(), torch_value, rtol=1e-5)


def test_giou_loss_torch_matches_torchvision_and_numpy():
    pred, target = random_cxcywh(50, 4), random_cxcywh(50, 5)
    pred_t, target_t = torch.from_numpy(pred), torch.from_numpy(target)
    ours = giou_loss_torch(pred_t, target_t)
    theirs = torchvision.ops.generalized_box_iou_loss(
        localization.cxcywh_to_xyxy_torch(pred_t), localization.cxcywh_to_xyxy_torch(target_t),
        reduction="mean")
    giou_np = np.diag(boxes.generalized_box_iou(boxes.box_convert(pred, "cxcywh", "xyxy"),
                                                boxes.box_convert(target, "cxcywh", "xyxy")))
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert np.isclose(float(ours), float(np.mean(1 - giou_np)), atol=1e-6)


def test_giou_loss_keras_matches_torch_per_box():
    import keras

    pred, target = random_cxcywh(50, 6), random_cxcywh(50, 7)
    ours = keras.ops.convert_to_numpy(giou_loss_keras(target.astype(np.float32),
                                                      pred.astype(np.float32)))
    per_box = [float(giou_loss_torch(torch.from_numpy(pred[i:i + 1]),
                                     torch.from_numpy(target[i:i + 1]))) for i in range(50)]
    assert ours.shape == (50,)
    assert np.allclose(ours, per_box, atol=1e-5)


def test_giou_loss_has_a_gradient_for_disjoint_boxes():
    pred = torch.tensor([[0.2, 0.2, 0.1, 0.1]], requires_grad=True)
    target = torch.tensor([[0.7, 0.7, 0.1, 0.1]])
    giou_loss_torch(pred, target).backward()
    assert pred.grad[0, 0] < 0 and pred.grad[0, 1] < 0  # moving right/down lowers the loss


def test_giou_loss_is_zero_for_identical_boxes():
    b = torch.from_numpy(random_cxcywh(5, 8))
    assert float(giou_loss_torch(b, b)) == pytest.approx(0.0, abs=1e-4)  # eps / area


def test_localization_loss_adds_weighted_terms():
    torch.manual_seed(0)
    logits, labels = torch.randn(8, 5), torch.randint(0, 5, (8,))
    pred = torch.from_numpy(random_cxcywh(8, 9)).float()
    target = torch.from_numpy(random_cxcywh(8, 10)).float()
    for name in localization.BOX_LOSSES:
        out = localization_loss_torch(logits, pred, labels, target, box_loss=name,
                                      box_weight=3.0, beta=0.1)
        ce = torch.nn.functional.cross_entropy(logits, labels)
        assert torch.allclose(out["class_loss"], ce)
        assert torch.allclose(out["loss"], ce + 3.0 * out["box_loss"])
    with pytest.raises(ValueError, match="box_loss"):
        localization_loss_torch(logits, pred, labels, target, box_loss="l3")


def test_losses_reject_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        smooth_l1_torch(torch.zeros(3, 4), torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        giou_loss_torch(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="beta"):
        smooth_l1_torch(torch.zeros(2, 4), torch.zeros(2, 4), beta=0)


@pytest.mark.parametrize("num_classes", [10, 7])
def test_torch_and_keras_nets_have_same_shapes_and_trainable_parameters(num_classes):
    model = localization.localization_net_torch(num_classes)
    logits, box_pred = model(torch.rand(2, 3, 32, 32))
    assert logits.shape == (2, num_classes) and box_pred.shape == (2, 4)
    assert bool(((box_pred >= 0) & (box_pred <= 1)).all())
    keras_model = localization.localization_net_keras(num_classes)
    out = keras_model(np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32))
    assert tuple(out["class"].shape) == (2, num_classes) and tuple(out["box"].shape) == (2, 4)
    torch_count = sum(p.numel() for p in model.parameters())
    keras_count = int(sum(np.prod(w.shape) for w in keras_model.trainable_weights))
    assert torch_count == keras_count


def test_pretrained_class_head_is_the_course_classifier():
    from course_lib import pretrained

    x = torch.rand(3, 3, 32, 32)
    base = pretrained.load_pretrained("shapes_vgg", "torch")
    model = localization.localization_net_torch().eval()
    assert torch.allclose(model(x)[0], base(x), atol=1e-6)
    scratch = localization.localization_net_torch(pretrained=False).eval()
    assert not torch.allclose(scratch(x)[0], base(x), atol=1e-3)


def test_decode_inverts_to_yolo_and_clips():
    xyxy = np.array([[2.0, 3.0, 20.0, 30.0], [0.0, 0.0, 32.0, 16.0]])
    encoded = boxes.to_yolo(xyxy, height=32, width=32)
    assert np.allclose(decode_boxes(encoded, height=32, width=32), xyxy)
    sticking_out = np.array([[0.05, 0.5, 0.3, 0.2]])  # x from -0.1 to 0.2 of the width
    assert np.allclose(decode_boxes(sticking_out, height=32, width=64),
                       [[0.0, 12.8, 12.8, 19.2]])
    with pytest.raises(ValueError, match="shape"):
        decode_boxes(np.zeros((3, 5)), height=32, width=32)


def test_matched_iou_is_the_diagonal_of_box_iou():
    a = boxes.box_convert(random_cxcywh(20, 11) * 32, "cxcywh", "xyxy")
    b = boxes.box_convert(random_cxcywh(20, 12) * 32, "cxcywh", "xyxy")
    assert np.allclose(matched_iou(a, b), np.diag(boxes.box_iou(a, b)))
    with pytest.raises(ValueError, match="one prediction per box"):
        matched_iou(a, b[:3])


def test_fit_torch_lowers_the_loss_and_records_history():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(16, 32, 32, 3), dtype=np.uint8)
    labels, targets = rng.integers(0, 3, 16), random_cxcywh(16, 13)
    torch.manual_seed(0)
    model = localization.localization_net_torch(3, pretrained=False)
    history = localization.fit_torch(
        model, images, labels, targets, optimizer=torch.optim.Adam(model.parameters(), 1e-2),
        num_epochs=5, batch_size=8, val=(images, labels, targets), box_weight=2.0)
    assert set(history) == {"loss", "class_loss", "box_loss", "val_loss", "val_class_loss",
                            "val_box_loss"}
    assert all(len(values) == 5 for values in history.values())
    assert history["loss"][-1] < history["loss"][0]
    logits, box_pred = localization.predict_torch(model, images)
    assert logits.shape == (16, 3) and box_pred.shape == (16, 4)


def test_giou_loss_keras_trains_a_keras_model():
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.random((16, 32, 32, 3), dtype=np.float32)
    targets = {"class": rng.integers(0, 10, 16), "box": random_cxcywh(16, 14).astype("float32")}
    model = localization.localization_net_keras(pretrained=False)
    model.compile(optimizer="adam", loss={
        "class": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "box": giou_loss_keras})
    history = model.fit(images, targets, epochs=2, batch_size=8, verbose=0).history
    assert np.all(np.isfinite(history["box_loss"]))
    assert 0 <= history["box_loss"][0] <= 2  # 1 - GIoU lies in [0, 2]
