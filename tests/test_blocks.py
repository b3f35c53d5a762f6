"""VGG and residual blocks, and the small networks, in PyTorch and Keras (course_lib.blocks)."""

import course_lib  # noqa: F401 - first: loads Triton before TensorFlow, quiets TF's logs

import numpy as np
import pytest
import torch
from torch import nn

from course_lib import blocks


def _keras_trainable(model_or_layers) -> int:
    return int(sum(np.prod(w.shape) for w in model_or_layers.trainable_weights))


def _keras_block(builder, input_shape, *args, **kwargs):
    import keras

    inputs = keras.Input(input_shape)
    return keras.Model(inputs, builder(inputs, *args, **kwargs))


# Hand counts: a 3x3 conv has 9 * C_in * C_out weights (no bias before BN), BN has 2C
# (gamma, beta), a conv with bias adds C_out, a 1x1 projection has C_in * C_out.
VGG_COUNTS = [
    ((3, 16, 2), True, 9 * 3 * 16 + 32 + 9 * 16 * 16 + 32),                 # 2,800
    ((3, 16, 2), False, 9 * 3 * 16 + 16 + 9 * 16 * 16 + 16),                # 2,768
    ((16, 32, 1), True, 9 * 16 * 32 + 64),                                  # 4,672
    ((32, 64, 3), True, 9 * 32 * 64 + 2 * 9 * 64 * 64 + 3 * 128),           # 92,544
]
RESIDUAL_COUNTS = [
    ((16, 16), 1, True, 2 * (9 * 16 * 16 + 32)),                            # identity
    ((16, 32), 2, True, 9 * 16 * 32 + 64 + 9 * 32 * 32 + 64 + 16 * 32 + 64),  # projection
    ((16, 16), 2, True, 2 * (9 * 16 * 16 + 32) + 16 * 16 + 32),             # stride only
    ((16, 32), 2, False, 9 * 16 * 32 + 64 + 9 * 32 * 32 + 64),              # plain
]


@pytest.mark.parametrize(("args", "batch_norm", "expected"), VGG_COUNTS)
def test_vgg_block_parameter_count_matches_hand_count_in_both_frameworks(args, batch_norm,
                                                                          expected):
    c_in, c_out, num_convs = args
    block = blocks.VGGBlock(c_in, c_out, num_convs, batch_norm=batch_norm)
    assert sum(p.numel() for p in block.parameters()) == expected
    keras_block = _keras_block(blocks.vgg_block, (8, 8, c_in), c_out, num_convs,
                               batch_norm=batch_norm)
    assert _keras_trainable(keras_block) == expected


@pytest.mark.parametrize(("channels", "stride", "shortcut", "expected"), RESIDUAL_COUNTS)
def test_residual_block_parameter_count_matches_hand_count_in_both_frameworks(
        channels, stride, shortcut, expected):
    block = blocks.ResidualBlock(*channels, stride=stride, shortcut=shortcut)
    assert sum(p.numel() for p in block.parameters()) == expected
    keras_block = _keras_block(blocks.residual_block, (8, 8, channels[0]), channels[1],
                               stride=stride, shortcut=shortcut)
    assert _keras_trainable(keras_block) == expected


@pytest.mark.parametrize(("shape", "expected"), [((2, 3, 32, 32), (2, 16, 16, 16)),
                                                 ((1, 3, 12, 8), (1, 16, 6, 4)),
                                                 ((2, 3, 9, 7), (2, 16, 4, 3))])
def test_vgg_block_halves_height_and_width(shape, expected):
    block = blocks.VGGBlock(3, 16, 2)
    assert tuple(block(torch.rand(shape)).shape) == expected
    keras_block = _keras_block(blocks.vgg_block, shape[2:] + (3,), 16, 2)
    n, c, h, w = expected
    assert tuple(keras_block(np.random.rand(shape[0], *shape[2:], 3)).shape) == (n, h, w, c)


@pytest.mark.parametrize(("stride", "size", "out_size"), [(1, (9, 7), (9, 7)), (2, (8, 8), (4, 4)),
                                                          (2, (9, 7), (5, 4))])
def test_residual_block_output_shape(stride, size, out_size):
    block = blocks.ResidualBlock(8, 16, stride=stride)
    assert tuple(block(torch.rand(2, 8, *size)).shape) == (2, 16, *out_size)
    keras_block = _keras_block(blocks.residual_block, (*size, 8), 16, stride=stride)
    assert tuple(keras_block(np.random.rand(2, *size, 8)).shape) == (2, *out_size, 16)


@pytest.mark.parametrize(("c_in", "c_out", "stride", "projection"),
                         [(16, 16, 1, False), (16, 32, 1, True), (16, 16, 2, True),
                          (16, 32, 2, True)])
def test_projection_shortcut_is_used_exactly_when_the_shape_changes(c_in, c_out, stride,
                                                                    projection):
    block = blocks.ResidualBlock(c_in, c_out, stride=stride)
    assert isinstance(block.shortcut, nn.Sequential if projection else nn.Identity)
    keras_block = _keras_block(blocks.residual_block, (8, 8, c_in), c_out, stride=stride,
                               name="b")
    names = {layer.name for layer in keras_block.layers}
    assert ("b_proj" in names) == projection
    assert "b_add" in names


def test_plain_block_has_no_shortcut_and_applies_relu_to_the_branch():
    torch.manual_seed(0)
    block = blocks.ResidualBlock(4, 4, shortcut=False).eval()
    assert block.shortcut is None
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(block(x), torch.relu(block.residual(x)))
    keras_block = _keras_block(blocks.residual_block, (6, 6, 4), 4, shortcut=False, name="p")
    assert not any(layer.name in ("p_add", "p_proj") for layer in keras_block.layers)


def test_residual_block_with_a_zeroed_branch_is_the_identity_on_nonnegative_input():
    # The last BN's gamma = beta = 0 makes F(x) = 0, so out = ReLU(0 + x) = x for x >= 0 (for
    # signed x it would be ReLU(x): the ReLU after the sum).
    block = blocks.ResidualBlock(4, 4).eval()
    nn.init.zeros_(block.residual[-1].weight)
    nn.init.zeros_(block.residual[-1].bias)
    x = torch.rand(2, 4, 5, 7)
    torch.testing.assert_close(block(x), x)
    keras_block = _keras_block(blocks.residual_block, (5, 7, 4), 4, name="r")
    bn = keras_block.get_layer("r_bn2")
    bn.gamma.assign(np.zeros(4, dtype="float32"))
    bn.beta.assign(np.zeros(4, dtype="float32"))
    x = np.random.default_rng(0).random((2, 5, 7, 4), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(keras_block(x, training=False)), x, atol=1e-6)


@pytest.mark.parametrize(("builders", "kwargs", "expected"), [
    (("small_vgg_torch", "small_vgg_keras"), {}, 72_304 + 650),
    (("small_resnet_torch", "small_resnet_keras"), {}, 78_042),
    (("small_resnet_torch", "small_resnet_keras"), {"blocks_per_stage": 2}, None),
    (("small_resnet_torch", "small_resnet_keras"), {"shortcut": False},
     78_042 - (16 * 32 + 64) - (32 * 64 + 128)),  # minus the two projections,
    (("small_vgg_torch", "small_vgg_keras"), {"widths": (8, 16), "convs_per_block": 1}, None),
])
def test_small_networks_have_features_classifier_and_equal_counts_in_both_frameworks(
        builders, kwargs, expected):
    torch_model = getattr(blocks, builders[0])(10, **kwargs)
    keras_model = getattr(blocks, builders[1])(10, **kwargs)
    count = sum(p.numel() for p in torch_model.parameters())
    assert count == _keras_trainable(keras_model)
    assert expected is None or count == expected
    width = kwargs.get("widths", (16, 32, 64))[-1]
    x = torch.rand(3, 3, 32, 32)
    assert tuple(torch_model.features(x).shape) == (3, width)
    assert isinstance(torch_model.classifier, nn.Linear)
    assert tuple(torch_model(x).shape) == (3, 10)
    features = keras_model.get_layer("features")
    assert features.output.shape[1:] == (width,)
    assert keras_model.layers[-1].name == "classifier"
    assert keras_model.layers[-1].get_config()["activation"] == "linear"  # logits
    assert tuple(keras_model(np.random.rand(3, 32, 32, 3)).shape) == (3, 10)


@pytest.mark.parametrize(("builder", "kwargs"), [
    (blocks.VGGBlock, {"in_channels": 3, "out_channels": 8, "num_convs": 0}),
    (blocks.ResidualBlock, {"in_channels": 3, "out_channels": 8, "stride": 0}),
    (blocks.small_vgg_torch, {"num_classes": 10, "widths": ()}),
    (blocks.small_resnet_torch, {"num_classes": 0}),
])
def test_bad_arguments_raise_value_error(builder, kwargs):
    with pytest.raises(ValueError, match="must"):
        builder(**kwargs)
