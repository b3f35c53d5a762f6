"""Building blocks of classic CNNs, in PyTorch and in Keras: VGG blocks and residual blocks.

- ``VGGBlock`` / ``vgg_block``: ``num_convs`` 3x3 convolutions (padding 1, "same"), each
  followed by batch normalization (optional) and ReLU, then a 2x2 max-pool that halves H and W.
- ``ResidualBlock`` / ``residual_block``: the *basic block* of ResNet,
  ``out = ReLU(F(x) + shortcut(x))`` with ``F = conv3x3(stride)-BN-ReLU-conv3x3-BN``. The
  shortcut is the identity when the shapes already match, else a 1x1 convolution (stride) + BN,
  the *projection*. ``shortcut=False`` drops the skip connection: the "plain" block of the
  degradation experiment, ``out = ReLU(F(x))``.
- ``small_vgg_torch`` / ``small_resnet_torch`` / ``small_vgg_keras`` / ``small_resnet_keras``:
  small networks for 32 x 32 RGB inputs (float32 in [0, 1]; NCHW in PyTorch, NHWC in Keras), split
  into a backbone ``features`` (ending in global average pooling: one D-vector per image) and a
  linear ``classifier`` that returns logits. The course's pretrained models
  (``course_lib.pretrained``) are these networks.

Convolutions followed by batch normalization have no bias: BN subtracts the mean and adds its
own shift (beta), so a bias would be learned and then cancelled. Built the same way, an
architecture has the same number of *trainable* parameters in both frameworks; Keras also counts
BN's moving mean and variance (non-trainable weights), which PyTorch keeps as buffers.

Keras's ``BatchNormalization`` defaults differ from PyTorch's (moving-average momentum 0.99 vs
PyTorch's 0.9, written ``momentum=0.1`` there; epsilon 1e-3 vs 1e-5). The Keras builders here use
PyTorch's values (``TORCH_LIKE_BN``), so that both frameworks train the same way (with 0.99, the
moving statistics of a short training run can lag behind the weights they normalize).

Taught in: ch07, 07_1 to 07_5 (VGG, ResNet, the course's pretrained models); used in ch08.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# Keras BatchNormalization arguments equal to PyTorch's defaults (see the module docstring).
TORCH_LIKE_BN = {"momentum": 0.9, "epsilon": 1e-5}


# ---------------------------------------------------------------------------------- PyTorch


class VGGBlock(nn.Sequential):
    """``num_convs`` x (3x3 conv, padding 1 [+ BN] + ReLU), then 2x2 max-pool.

    Input (N, in_channels, H, W) -> output (N, out_channels, H // 2, W // 2).

    Args:
        in_channels / out_channels: channels of the block's input and of every convolution.
        num_convs: number of 3x3 convolutions (>= 1); VGG-16 uses 2 or 3.
        batch_norm: add ``BatchNorm2d`` after each convolution (then the conv has no bias).
    """

    def __init__(self, in_channels: int, out_channels: int, num_convs: int, *,
                 batch_norm: bool = True) -> None:
        _check_positive(in_channels=in_channels, out_channels=out_channels, num_convs=num_convs)
        layers: list[nn.Module] = []
        for index in range(num_convs):
            layers.append(nn.Conv2d(in_channels if index == 0 else out_channels, out_channels,
                                    kernel_size=3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU())
        layers.append(nn.MaxPool2d(kernel_size=2))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """ResNet's basic block: ``ReLU(residual(x) + shortcut(x))``.

    Input (N, in_channels, H, W) -> output (N, out_channels, ceil(H / stride), ceil(W / stride)).

    Args:
        in_channels / out_channels: channels in and out.
        stride: stride of the first 3x3 convolution (and of the projection); 2 halves H and W.
        shortcut: ``False`` gives the plain block ``ReLU(residual(x))`` (no skip connection).

    Attributes:
        residual: ``nn.Sequential`` conv3x3(stride)-BN-ReLU-conv3x3-BN, the branch F(x).
        shortcut: ``nn.Identity()`` when the shapes match, a ``nn.Sequential`` 1x1 conv(stride)
            + BN projection when ``stride != 1`` or the channels change, ``None`` for a plain
            block.
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1,
                 shortcut: bool = True) -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, out_channels=out_channels, stride=stride)
        self.residual = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module | None
        if not shortcut:
            self.shortcut = None
        elif stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)  # the skip connection: F(x) + x
        return self.relu(out)


class SmallCNN(nn.Module):
    """A backbone ``features`` ((N, 3, H, W) -> (N, D)) followed by a linear ``classifier``."""

    def __init__(self, features: nn.Sequential, num_features: int, num_classes: int) -> None:
        super().__init__()
        self.features = features
        self.classifier = nn.Linear(num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # logits (N, num_classes)


def small_vgg_torch(num_classes: int, *, widths: Sequence[int] = (16, 32, 64),
                    convs_per_block: int = 2, batch_norm: bool = True) -> SmallCNN:
    """A small VGG-style network: one ``VGGBlock`` per width, then global average pooling.

    Input (N, 3, 32, 32) float32 in [0, 1] -> logits (N, num_classes). With the defaults the
    embedding ``model.features(x)`` has D = 64 features.
    """
    _check_positive(num_classes=num_classes, convs_per_block=convs_per_block)
    widths = _check_widths(widths)
    blocks = [VGGBlock(c_in, c_out, convs_per_block, batch_norm=batch_norm)
              for c_in, c_out in zip((3, *widths[:-1]), widths)]
    features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())  # -> (N, D)
    return SmallCNN(features, widths[-1], num_classes)


def small_resnet_torch(num_classes: int, *, widths: Sequence[int] = (16, 32, 64),
                       blocks_per_stage: int = 1, shortcut: bool = True) -> SmallCNN:
    """A small ResNet: a 3x3 stem, one stage of residual blocks per width, global pooling.

    The stem (conv3x3-BN-ReLU, then 2x2 max-pool, like ResNet's conv7x7-maxpool stem scaled
    down) maps 3 -> ``widths[0]`` channels at half resolution; every stage after the first
    starts with a stride-2 block (H, W halve, channels change: a projection shortcut). Input
    (N, 3, 32, 32) -> stages at 16x16, 8x8, 4x4 -> logits (N, num_classes); D = ``widths[-1]``.
    ``shortcut=False`` builds the same depth without skip connections (the plain network).
    """
    _check_positive(num_classes=num_classes, blocks_per_stage=blocks_per_stage)
    widths = _check_widths(widths)
    layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 3, padding=1, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU(),
                               nn.MaxPool2d(kernel_size=2)]  # 32x32 -> 16x16, as ResNet's stem
    c_in = widths[0]
    for stage, c_out in enumerate(widths):
        for index in range(blocks_per_stage):
            stride = 2 if stage > 0 and index == 0 else 1
            layers.append(ResidualBlock(c_in, c_out, stride=stride, shortcut=shortcut))
            c_in = c_out
    features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())  # -> (N, D)
    return SmallCNN(features, widths[-1], num_classes)


# ------------------------------------------------------------------------------------ Keras


def vgg_block(x, filters: int, num_convs: int, *, batch_norm: bool = True,
              name: str | None = None):
    """Keras twin of ``VGGBlock`` on a tensor (N, H, W, C) -> (N, H // 2, W // 2, filters).

    ``name`` prefixes the layers' names (``name + "_conv1"``, ``"_bn1"``, ``"_relu1"``, ...,
    ``"_pool"``).
    """
    from keras import layers

    _check_positive(filters=filters, num_convs=num_convs)
    for index in range(1, num_convs + 1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm,
                          name=_sub(name, f"conv{index}"))(x)
        if batch_norm:
            x = layers.BatchNormalization(**TORCH_LIKE_BN, name=_sub(name, f"bn{index}"))(x)
        x = layers.ReLU(name=_sub(name, f"relu{index}"))(x)
    return layers.MaxPooling2D(2, name=_sub(name, "pool"))(x)


def residual_block(x, filters: int, *, stride: int = 1, shortcut: bool = True,
                   name: str | None = None):
    """Keras twin of ``ResidualBlock`` on a tensor (N, H, W, C) -> (N, H', W', filters).

    The projection (1x1 conv + BN, layers ``name + "_proj"``, ``"_proj_bn"``) is used exactly
    when ``stride != 1`` or ``C != filters``; ``shortcut=False`` gives the plain block.
    """
    from keras import layers

    _check_positive(filters=filters, stride=stride)
    out = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                        name=_sub(name, "conv1"))(x)
    out = layers.BatchNormalization(**TORCH_LIKE_BN, name=_sub(name, "bn1"))(out)
    out = layers.ReLU(name=_sub(name, "relu1"))(out)
    out = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                        name=_sub(name, "conv2"))(out)
    out = layers.BatchNormalization(**TORCH_LIKE_BN, name=_sub(name, "bn2"))(out)
    if shortcut:
        if stride != 1 or x.shape[-1] != filters:
            x = layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                              name=_sub(name, "proj"))(x)
            x = layers.BatchNormalization(**TORCH_LIKE_BN, name=_sub(name, "proj_bn"))(x)
        out = layers.Add(name=_sub(name, "add"))([out, x])  # the skip connection: F(x) + x
    return layers.ReLU(name=_sub(name, "out"))(out)


def small_vgg_keras(num_classes: int, *, widths: Sequence[int] = (16, 32, 64),
                    convs_per_block: int = 2, batch_norm: bool = True,
                    input_shape: tuple[int, int, int] = (32, 32, 3)):
    """Keras twin of ``small_vgg_torch``: a model ``features`` (nested) + Dense ``classifier``.

    Input (N, 32, 32, 3) float32 in [0, 1] -> logits (N, num_classes) (no softmax).
    """
    from keras import layers

    _check_positive(num_classes=num_classes, convs_per_block=convs_per_block)
    widths = _check_widths(widths)
    inputs = layers.Input(input_shape, name="image")
    x = inputs
    for index, filters in enumerate(widths, start=1):
        x = vgg_block(x, filters, convs_per_block, batch_norm=batch_norm, name=f"block{index}")
    return _with_classifier(inputs, x, num_classes, name="small_vgg")


def small_resnet_keras(num_classes: int, *, widths: Sequence[int] = (16, 32, 64),
                       blocks_per_stage: int = 1, shortcut: bool = True,
                       input_shape: tuple[int, int, int] = (32, 32, 3)):
    """Keras twin of ``small_resnet_torch`` (same layers, same trainable parameter count)."""
    from keras import layers

    _check_positive(num_classes=num_classes, blocks_per_stage=blocks_per_stage)
    widths = _check_widths(widths)
    inputs = layers.Input(input_shape, name="image")
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(**TORCH_LIKE_BN, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.MaxPooling2D(2, name="stem_pool")(x)  # 32x32 -> 16x16, as ResNet's stem
    for stage, filters in enumerate(widths, start=1):
        for index in range(1, blocks_per_stage + 1):
            stride = 2 if stage > 1 and index == 1 else 1
            x = residual_block(x, filters, stride=stride, shortcut=shortcut,
                               name=f"stage{stage}_block{index}")
    return _with_classifier(inputs, x, num_classes,
                            name="small_resnet" if shortcut else "small_plain")


def _with_classifier(inputs, x, num_classes: int, *, name: str):
    """Global average pooling closes the backbone ``features``; a Dense layer gives logits."""
    import keras
    from keras import layers

    x = layers.GlobalAveragePooling2D(name="gap")(x)  # (N, H, W, C) -> (N, C)
    features = keras.Model(inputs, x, name="features")
    image = layers.Input(inputs.shape[1:], name="input")
    logits = layers.Dense(num_classes, name="classifier")(features(image))
    return keras.Model(image, logits, name=name)


# ---------------------------------------------------------------------------------- helpers


def _sub(name: str | None, suffix: str) -> str | None:
    return None if name is None else f"{name}_{suffix}"


def _check_positive(**values: int) -> None:
    for arg, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg} must be a positive int, got {value!r}")


def _check_widths(widths: Sequence[int]) -> tuple[int, ...]:
    widths = tuple(widths)
    if not widths:
        raise ValueError("widths must name at least one width, e.g. (16, 32, 64)")
    _check_positive(**{f"widths[{i}]": width for i, width in enumerate(widths)})
    return widths
