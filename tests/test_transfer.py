"""Tests of course_lib.transfer: the target task's data and the three strategies' models."""

import course_lib  # noqa: F401 - first: prepares the TensorFlow import

import numpy as np
import pytest

from course_lib import pretrained, transfer
from course_lib.shapes import TARGET_CLASSES

needs_weights = pytest.mark.usefixtures("shapes_vgg_weights")


def test_target_task_has_the_requested_labels_and_fixed_eval_sets():
    task = transfer.target_task_data(2, seed=3)
    assert task.train.images.shape == (12, 32, 32, 3)
    assert task.train.images.dtype == np.uint8
    assert np.bincount(task.train.labels).tolist() == [2] * len(TARGET_CLASSES)
    assert task.train.class_names == TARGET_CLASSES
    assert task.val.images.shape[0] == transfer.EVAL_SIZES["val"] * len(TARGET_CLASSES)
    assert task.test.images.shape[0] == transfer.EVAL_SIZES["test"] * len(TARGET_CLASSES)
    other = transfer.target_task_data(1, seed=4)
    np.testing.assert_array_equal(other.test.images, task.test.images)  # the same fixed test set
    other.test.images[0] = 0  # a copy: changing it does not change the cached split
    assert not np.array_equal(other.test.images[0], task.test.images[0])


def test_target_images_are_nested_and_seeded():
    small = transfer.target_images(2, split="train", seed=5)
    large = transfer.target_images(4, split="train", seed=5)
    for label in range(len(TARGET_CLASSES)):
        first_small = small.images[small.labels == label]
        in_large = large.images[large.labels == label]
        for image in first_small:
            assert any(np.array_equal(image, other) for other in in_large)
    again = transfer.target_images(2, split="train", seed=5)
    np.testing.assert_array_equal(small.images, again.images)
    different = transfer.target_images(2, split="train", seed=6)
    assert not np.array_equal(np.sort(small.images, axis=None), np.sort(different.images, axis=None))


def test_target_images_differ_from_the_source_task_seeds():
    assert min(transfer.TARGET_SEEDS.values()) > max(pretrained.SOURCE_SEEDS.values()) + 10


@pytest.mark.parametrize("kwargs", [dict(n_per_class=0, split="train"),
                                    dict(n_per_class=2, split="extra"),
                                    dict(n_per_class=2, split="train", backgrounds=("sky",))])
def test_target_images_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        transfer.target_images(**kwargs)


def test_count_parameters_torch_and_scratch_strategy():
    model = transfer.transfer_model_torch("scratch")
    counts = transfer.count_parameters(model)
    assert counts["frozen"] == 0
    assert counts["trainable"] == sum(p.numel() for p in model.parameters())


def test_unknown_strategy_is_rejected():
    with pytest.raises(ValueError, match="strategy"):
        transfer.transfer_model_torch("linear_probe")


@needs_weights
def test_strategies_freeze_the_same_parameters_in_both_frameworks():
    for strategy in transfer.STRATEGIES:
        torch_counts = transfer.count_parameters(transfer.transfer_model_torch(strategy))
        keras_model = transfer.transfer_model_keras(strategy)
        keras_trainable = transfer.count_parameters(keras_model)["trainable"]
        assert torch_counts["trainable"] == keras_trainable, strategy
    extraction = transfer.count_parameters(transfer.transfer_model_torch("feature_extraction"))
    assert extraction["trainable"] == 64 * len(TARGET_CLASSES) + len(TARGET_CLASSES)


@needs_weights
def test_transfer_net_keeps_backbone_batchnorm_statistics_fixed():
    import torch

    model = transfer.transfer_model_torch("fine_tuning").train()
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    model(torch.rand(8, 3, 32, 32))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.classifier.training


@needs_weights
def test_embed_matches_the_backbone_in_eval_mode():
    import torch

    model = pretrained.load_pretrained("shapes_vgg", "torch")
    images = transfer.target_images(1, split="val").images
    embeddings = transfer.embed(model.features, images, "torch", batch_size=4)
    with torch.no_grad():
        expected = model.features(pretrained.as_inputs(images)).numpy()
    assert embeddings.shape == (len(images), 64)
    np.testing.assert_allclose(embeddings, expected, rtol=1e-4, atol=1e-5)


@needs_weights
@pytest.mark.parametrize("top_blocks", [1, 2, 4])
def test_fine_tuning_unfreezes_the_same_blocks_in_both_frameworks(top_blocks):
    for name in pretrained.available_models():
        if top_blocks > len(transfer.backbone_block_names(
                transfer.transfer_model_keras("scratch", name=name).get_layer("features"))):
            continue
        torch_model = transfer.transfer_model_torch("fine_tuning", name=name,
                                                    top_blocks=top_blocks)
        keras_model = transfer.transfer_model_keras("fine_tuning", name=name,
                                                    top_blocks=top_blocks)
        assert (transfer.count_parameters(torch_model)["trainable"]
                == transfer.count_parameters(keras_model)["trainable"]), (name, top_blocks)


def _dihedral_numpy(image, code):
    # Reference: turn (H, W, C) by code % 4 quarter turns, then mirror if code >= 4.
    turned = np.rot90(image, code % 4, axes=(0, 1))
    return turned[:, ::-1] if code >= 4 else turned


def test_dihedral_augmentation_torch_gives_the_eight_symmetries_reproducibly():
    import torch

    x = torch.rand(64, 3, 5, 5)
    original = x.clone()
    out = transfer.augment_dihedral_torch(x, torch.Generator().manual_seed(0))
    again = transfer.augment_dihedral_torch(x, torch.Generator().manual_seed(0))
    assert torch.equal(x, original)  # the input is not changed
    assert torch.equal(out, again)  # seeded
    images, results = x.permute(0, 2, 3, 1).numpy(), out.permute(0, 2, 3, 1).numpy()
    codes = []
    for image, result in zip(images, results):
        matches = [c for c in range(8) if np.array_equal(_dihedral_numpy(image, c), result)]
        assert len(matches) == 1
        codes.append(matches[0])
    assert set(codes) == set(range(8))  # every symmetry occurs in 64 draws


@pytest.mark.parametrize("code", range(8))
def test_dihedral_augmentation_tensorflow_matches_the_torch_convention(code):
    import tensorflow as tf

    image = np.random.default_rng(code).random((5, 5, 3)).astype(np.float32)
    result = transfer._augment_dihedral_tf(tf.constant(image), tf.constant(code, tf.int32))
    np.testing.assert_array_equal(result.numpy(), _dihedral_numpy(image, code))


def test_settings_give_scratch_at_least_the_fine_tuning_step_budget():
    settings = transfer.TransferSettings()
    assert settings.finetune_total_steps == settings.head_steps + settings.finetune_steps
    assert settings.scratch_max_steps >= settings.finetune_total_steps
