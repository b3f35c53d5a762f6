"""Tests of course_lib.segmentation: transposed-conv arithmetic, the U-Net builders, prediction."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from course_lib import pretrained
from course_lib import segmentation as S

ARITHMETIC = [  # (size, kernel, stride, pad, output_padding, dilation)
    (size, kernel, stride, pad, op, dilation)
    for size, kernel, stride, pad, op, dilation in itertools.product(
        (1, 4, 7), (1, 2, 3, 4), (1, 2, 3), (0, 1), (0, 1, 2), (1, 2))
    if op < max(stride, dilation) and (size - 1) * stride - 2 * pad
    + dilation * (kernel - 1) + op + 1 >= 1
]


@pytest.mark.parametrize(("size", "kernel", "stride", "pad", "op", "dilation"), ARITHMETIC)
def test_conv_transpose_output_size_matches_torch(size, kernel, stride, pad, op, dilation):
    layer = nn.ConvTranspose2d(1, 1, kernel, stride=stride, padding=pad, output_padding=op,
                               dilation=dilation)
    out = layer(torch.zeros(1, 1, size, size + 1))
    assert out.shape[2] == S.conv_transpose_output_size(
        size, kernel, stride=stride, pad=pad, output_padding=op, dilation=dilation)
    assert out.shape[3] == S.conv_transpose_output_size(
        size + 1, kernel, stride=stride, pad=pad, output_padding=op, dilation=dilation)


@pytest.mark.parametrize(("size", "kernel", "stride", "pad", "op"), [
    (4, 3, 2, 1, 1), (5, 2, 2, 0, 0), (7, 3, 1, 1, 0), (3, 4, 3, 0, 2), (1, 1, 1, 0, 0)])
def test_a_convolution_maps_the_transposed_output_back_to_the_input_size(size, kernel, stride,
                                                                         pad, op):
    out = S.conv_transpose_output_size(size, kernel, stride=stride, pad=pad, output_padding=op)
    conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=pad)
    assert conv(torch.zeros(1, 1, out, out)).shape[2] == size


def test_brief_formula_with_unit_dilation():
    for size, kernel, stride, pad, op in [(8, 3, 2, 1, 1), (4, 2, 2, 0, 0), (5, 5, 1, 2, 0)]:
        assert S.conv_transpose_output_size(size, kernel, stride=stride, pad=pad,
                                            output_padding=op) == \
            (size - 1) * stride - 2 * pad + kernel + op


@pytest.mark.parametrize("kwargs", [
    {"size": 0, "kernel": 3}, {"size": 4, "kernel": 0}, {"size": 4, "kernel": 3, "stride": 0},
    {"size": 4, "kernel": 3, "pad": -1}, {"size": 4, "kernel": 3, "stride": 2,
                                          "output_padding": 2},
    {"size": 1, "kernel": 1, "pad": 1}, {"size": 4.0, "kernel": 3},
    {"size": True, "kernel": 3}])
def test_conv_transpose_output_size_rejects_bad_arguments(kwargs):
    size, kernel = kwargs.pop("size"), kwargs.pop("kernel")
    with pytest.raises(ValueError):
        S.conv_transpose_output_size(size, kernel, **kwargs)


@pytest.mark.parametrize("upsampling", S.UPSAMPLING)
def test_unet_torch_gives_logits_per_pixel_and_records_shapes(upsampling):
    torch.manual_seed(0)
    model = S.unet_torch(5, upsampling=upsampling)
    shapes: list = []
    for size in (32, 48):
        out = model(torch.rand(2, 3, size, size), shapes=shapes if size == 32 else None)
        assert out.shape == (2, 5, size, size)
    names = [name for name, _ in shapes]
    assert names == ["input", "enc1", "enc2", "enc3", "bottleneck", "up3", "dec3", "up2",
                     "dec2", "up1", "dec1", "logits"]
    as_dict = dict(shapes)
    assert as_dict["enc1"] == (16, 32, 32) and as_dict["bottleneck"] == (64, 4, 4)
    assert as_dict["up3"] == as_dict["enc3"] and as_dict["logits"] == (5, 32, 32)
    assert model.training


def test_unet_torch_rejects_sizes_the_pools_cannot_halve_and_bad_options():
    model = S.unet_torch(3)
    with pytest.raises(ValueError, match="multiples of 8"):
        model(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match="upsampling"):
        S.unet_torch(3, upsampling="bilinear")
    with pytest.raises(ValueError, match="num_classes"):
        S.unet_torch(1)


def test_pretrained_torch_encoder_holds_the_pretrained_weights():
    source = pretrained.load_pretrained("shapes_vgg", "torch").features
    torch.manual_seed(0)
    warm = S.unet_torch(4, pretrained_encoder=True)
    cold = S.unet_torch(4, pretrained_encoder=False)
    for level in range(S.DEPTH):
        first_conv = source[level][0].weight
        assert torch.equal(warm.down[level][0].weight, first_conv)
        assert not torch.equal(cold.down[level][0].weight, first_conv)
        assert torch.equal(warm.down[level][1].running_mean, source[level][1].running_mean)
    assert warm.training and all(module.training for module in warm.modules())


@pytest.mark.parametrize("upsampling", S.UPSAMPLING)
def test_keras_twin_has_the_same_trainable_parameters_and_shapes(upsampling):
    import keras

    keras.utils.set_random_seed(0)
    model = S.unet_keras(5, upsampling=upsampling)
    assert model.output_shape == (None, 32, 32, 5)
    torch_params = sum(p.numel() for p in S.unet_torch(5, upsampling=upsampling).parameters())
    keras_params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert keras_params == torch_params


def test_pretrained_keras_encoder_copies_every_backbone_layer():
    source = pretrained.load_pretrained("shapes_vgg", "keras").get_layer("features")
    warm = S.keras_encoder(pretrained_encoder=True)
    cold = S.keras_encoder(pretrained_encoder=False)
    for name in ("block1_conv1", "block2_bn2", "block3_conv2"):
        for a, b in zip(warm.get_layer(name).get_weights(),
                        source.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(cold.get_layer("block1_conv1").get_weights()[0],
                              source.get_layer("block1_conv1").get_weights()[0])
    assert [tuple(t.shape[1:]) for t in warm.outputs] == [(32, 32, 16), (16, 16, 32),
                                                           (8, 8, 64), (4, 4, 64)]
    with pytest.raises(ValueError, match="multiple of 8"):
        S.keras_encoder(image_size=36)


def test_predict_class_map_is_the_argmax_in_both_frameworks_and_keeps_the_mode():
    import keras

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    torch.manual_seed(0)
    model = S.unet_torch(4)
    maps = S.predict_class_map(model, images, "torch", batch_size=2)
    assert maps.shape == (3, 32, 32) and maps.dtype == np.int64 and model.training
    with torch.no_grad():
        logits = model.eval()(pretrained.as_inputs(images, "torch"))
    np.testing.assert_array_equal(maps, logits.argmax(dim=1).numpy())
    keras.utils.set_random_seed(0)
    k_model = S.unet_keras(4)
    k_maps = S.predict_class_map(k_model, images, "keras")
    expected = np.asarray(k_model(pretrained.as_inputs(images, "keras"), training=False))
    np.testing.assert_array_equal(k_maps, expected.argmax(axis=-1))
    with pytest.raises(ValueError, match="uint8"):
        S.predict_class_map(model, images.astype(np.float32))


def test_plot_unet_shapes_draws_one_box_per_stage():
    model = S.unet_torch(3)
    shapes: list = []
    model(torch.rand(1, 3, 32, 32), shapes=shapes)
    fig = S.plot_unet_shapes(shapes)
    texts = [text.get_text() for text in fig.axes[0].texts]
    assert len(fig.axes[0].patches) == len(shapes)
    assert "bottleneck\n64×4×4" in texts and "logits\n3×32×32" in texts
