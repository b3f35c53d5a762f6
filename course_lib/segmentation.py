"""Semantic segmentation with a small U-Net: builders in PyTorch and Keras, class-map prediction,
and the output-size arithmetic of transposed convolution.

- ``conv_transpose_output_size``: ``(i - 1) s - 2p + d (k - 1) + output_padding + 1``, the
  formula of ``torch.nn.ConvTranspose2d`` (with ``d = 1``: ``(i - 1) s - 2p + k + op``).
- ``unet_torch`` / ``unet_keras``: a U-Net-style encoder-decoder whose encoder is the VGG
  backbone of the course's ``shapes_vgg`` model (``course_lib.pretrained``, Chapter 7), either
  with its pretrained weights or freshly initialized; the decoder doubles the resolution with a
  transposed convolution (``upsampling="transposed"``) or with nearest-neighbour upsampling
  followed by a 3x3 convolution (``"upsample"``), concatenates the encoder's feature map of the
  same resolution (the *skip connection*) and mixes it with a 3x3 conv-BN-ReLU. A 1x1
  convolution gives one logit per class and pixel.
- ``predict_class_map``: uint8 images (N, H, W, 3) -> (N, H, W) class maps, in both frameworks.
- ``plot_unet_shapes``: the U-shaped figure of the tensor shapes ``UNet.forward`` records.

Both frameworks build the same layers with the same number of trainable parameters; PyTorch
returns logits (N, K, H, W), Keras (N, H, W, K).

Taught in: ch09, 09_4_segmentation.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from course_lib import pretrained
from course_lib.blocks import TORCH_LIKE_BN

ENCODER = "shapes_vgg"  # the course model whose backbone is the encoder
UPSAMPLING = ("transposed", "upsample")
DEPTH = 3  # encoder blocks, each halving H and W: sizes must be multiples of 2**DEPTH


def conv_transpose_output_size(size: int, kernel: int, *, stride: int = 1, pad: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis.

    ``(size - 1) * stride - 2 * pad + dilation * (kernel - 1) + output_padding + 1``, the
    formula of PyTorch's ``nn.ConvTranspose2d`` documentation; with ``dilation=1`` it is
    ``(i - 1) s - 2p + k + output_padding``. It inverts Chapter 4's convolution size
    ``floor((o + 2p - k) / s) + 1`` (``course_lib.conv.conv_output_size``): a convolution with
    the same ``kernel, stride, pad`` maps the result back to ``size``. Because of the floor,
    ``stride`` input lengths give the same convolution output; ``output_padding`` (0 to
    ``stride - 1``) picks which one.

    Args:
        size: input length i >= 1; kernel: k >= 1; stride: s >= 1; pad: p >= 0 (the padding of
            the convolution being transposed: it *removes* p pixels on each side);
        output_padding: 0 <= op < max(stride, dilation) (PyTorch's rule), pixels added on one
            side; dilation: d >= 1.

    Returns:
        The output length, an int >= 1.

    Raises:
        ValueError: an argument is out of range or the output would be empty.

    Taught in: ch09, 09_4_segmentation.ipynb
    """
    for name, value, low in (("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1),
                             ("pad", pad, 0), ("output_padding", output_padding, 0),
                             ("dilation", dilation, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if output_padding >= max(stride, dilation):
        raise ValueError(f"output_padding must be smaller than stride or dilation, got "
                         f"output_padding={output_padding}, stride={stride}")
    out = (size - 1) * stride - 2 * pad + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"padding {pad} removes the whole output ({out} pixels)")
    return int(out)


# ---------------------------------------------------------------------------------- PyTorch


def _conv_bn_relu_torch(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU())


def _up_torch(c_in: int, c_out: int, upsampling: str) -> nn.Module:
    if upsampling == "transposed":  # learned: each input pixel paints a 2x2 patch
        return nn.ConvTranspose2d(c_in, c_out, kernel_size=2, stride=2)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                         nn.Conv2d(c_in, c_out, 3, padding=1))


class UNet(nn.Module):
    """Encoder (VGG blocks, the skip taken before each max-pool), bottleneck, decoder, head.

    Args:
        encoder_blocks: ``VGGBlock``-like ``nn.Sequential`` modules ending in a 2x2 max-pool
            (``pretrained.load_pretrained("shapes_vgg").features[:3]``); their modules are used
            as they are (shared, not copied).
        widths: output channels of those blocks, e.g. ``(16, 32, 64)``.
        num_classes: K, logits per pixel (background included).
        upsampling: ``"transposed"`` or ``"upsample"``.

    ``forward(x)`` maps (N, 3, H, W) to logits (N, K, H, W); H and W must be multiples of
    ``2 ** len(widths)``. ``forward(x, shapes=[])`` also appends ``(name, (C, H, W))`` of every
    stage to the list (for ``plot_unet_shapes``).
    """

    def __init__(self, encoder_blocks: Sequence[nn.Sequential], widths: Sequence[int],
                 num_classes: int, *, upsampling: str = "transposed") -> None:
        super().__init__()
        _check_upsampling(upsampling)
        widths = tuple(widths)
        if len(encoder_blocks) != len(widths) or not widths:
            raise ValueError(f"need one width per encoder block, got {len(widths)} widths "
                             f"for {len(encoder_blocks)} blocks")
        _check_classes(num_classes)
        # each block without its pool: the convolutions, whose output is the skip
        self.down = nn.ModuleList(nn.Sequential(*list(block)[:-1]) for block in encoder_blocks)
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _conv_bn_relu_torch(widths[-1], widths[-1])
        self.up, self.decode = nn.ModuleList(), nn.ModuleList()
        channels = widths[-1]
        for skip in reversed(widths):
            self.up.append(_up_torch(channels, skip, upsampling))
            self.decode.append(_conv_bn_relu_torch(2 * skip, skip))  # after the concatenation
            channels = skip
        self.head = nn.Conv2d(channels, num_classes, 1)  # one logit per class and pixel

    def forward(self, x: torch.Tensor, shapes: list | None = None) -> torch.Tensor:
        factor = 2 ** len(self.down)
        if x.ndim != 4 or x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(f"x must be (N, C, H, W) with H and W multiples of {factor}, got "
                             f"shape {tuple(x.shape)}")
        _note(shapes, "input", x)
        skips = []
        for level, block in enumerate(self.down, start=1):
            x = block(x)
            skips.append(x)  # (N, C_l, H_l, W_l): kept for the decoder
            _note(shapes, f"enc{level}", x)
            x = self.pool(x)  # H, W halve
        x = self.bottleneck(x)
        _note(shapes, "bottleneck", x)
        for level, up, decode, skip in zip(range(len(skips), 0, -1), self.up, self.decode,
                                           reversed(skips)):
            x = up(x)  # H, W double
            _note(shapes, f"up{level}", x)
            x = decode(torch.cat([x, skip], dim=1))  # the skip connection: (N, 2 C_l, ...)
            _note(shapes, f"dec{level}", x)
        x = self.head(x)
        _note(shapes, "logits", x)
        return x


def _note(shapes: list | None, name: str, x: torch.Tensor) -> None:
    if shapes is not None:
        shapes.append((name, tuple(x.shape[1:])))


def unet_torch(num_classes: int, *, pretrained_encoder: bool = False,
               upsampling: str = "transposed") -> UNet:
    """A ``UNet`` whose encoder is ``shapes_vgg``'s backbone (3 VGG blocks: 16, 32, 64 channels).

    Args:
        num_classes: K logits per pixel (background included).
        pretrained_encoder: start the encoder from the course's pretrained weights
            (``pretrained.load_pretrained("shapes_vgg", "torch")``); else from a fresh random
            initialization of the same layers. The decoder is always freshly initialized
            (seed with ``torch.manual_seed`` first).
        upsampling: ``"transposed"`` (2x2 transposed conv, stride 2) or ``"upsample"``
            (nearest-neighbour x2, then a 3x3 conv).

    Returns:
        The model in training mode, on the CPU. Input float32 (N, 3, H, W) in [0, 1]
        (``pretrained.as_inputs``), output logits (N, K, H, W).

    Taught in: ch09, 09_4_segmentation.ipynb
    """
    base = (pretrained.load_pretrained(ENCODER, "torch") if pretrained_encoder
            else pretrained.build_model(ENCODER, "torch"))
    blocks = list(base.features)[:DEPTH]  # the VGG blocks, without pooling and flattening
    widths = [[m for m in block if isinstance(m, nn.Conv2d)][-1].out_channels
              for block in blocks]
    return UNet(blocks, widths, num_classes, upsampling=upsampling).train()


# ------------------------------------------------------------------------------------ Keras


def _conv_bn_relu_keras(x, filters: int, name: str):
    from keras import layers

    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(**TORCH_LIKE_BN, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _up_keras(x, filters: int, upsampling: str, name: str):
    from keras import layers

    if upsampling == "transposed":
        return layers.Conv2DTranspose(filters, 2, strides=2, name=name)(x)
    x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_upsample")(x)
    return layers.Conv2D(filters, 3, padding="same", name=name)(x)


def keras_encoder(*, pretrained_encoder: bool = False, image_size: int = 32):
    """The Keras encoder: ``shapes_vgg``'s backbone as a model with four outputs.

    Input (N, image_size, image_size, 3); outputs the three blocks' feature maps before their
    max-pools (the skips, 16, 32 and 64 channels) and the last pool's output. With
    ``pretrained_encoder`` the weights are copied layer by layer (same names) from
    ``pretrained.load_pretrained("shapes_vgg", "keras")``.
    """
    import keras

    from course_lib.blocks import small_vgg_keras

    _check_size(image_size)
    base = small_vgg_keras(len(pretrained.SOURCE_CLASSES),
                           input_shape=(image_size, image_size, 3))
    features = base.get_layer("features")
    if pretrained_encoder:
        source = pretrained.load_pretrained(ENCODER, "keras").get_layer("features")
        for layer in features.layers:
            if layer.weights:
                layer.set_weights(source.get_layer(layer.name).get_weights())
    skips = [features.get_layer(f"block{level}_relu2").output for level in range(1, DEPTH + 1)]
    bottom = features.get_layer(f"block{DEPTH}_pool").output
    return keras.Model(features.input, [*skips, bottom], name="encoder")


def unet_keras(num_classes: int, *, pretrained_encoder: bool = False,
               upsampling: str = "transposed", image_size: int = 32):
    """Keras twin of ``unet_torch``: the same layers and trainable parameter count.

    Input (N, image_size, image_size, 3) float32 in [0, 1] (``image_size`` a multiple of 8);
    output logits (N, H, W, K). Seed with ``keras.utils.set_random_seed`` first.

    Taught in: ch09, 09_4_segmentation.ipynb
    """
    import keras
    from keras import layers

    _check_upsampling(upsampling)
    _check_classes(num_classes)
    encoder = keras_encoder(pretrained_encoder=pretrained_encoder, image_size=image_size)
    image = layers.Input((image_size, image_size, 3), name="image")
    *skips, x = encoder(image)
    x = _conv_bn_relu_keras(x, x.shape[-1], "bottleneck")
    for level in range(len(skips), 0, -1):
        skip = skips[level - 1]
        x = _up_keras(x, skip.shape[-1], upsampling, name=f"up{level}")
        x = layers.Concatenate(name=f"concat{level}")([x, skip])  # the skip connection
        x = _conv_bn_relu_keras(x, skip.shape[-1], f"dec{level}")
    logits = layers.Conv2D(num_classes, 1, name="logits")(x)
    return keras.Model(image, logits, name="unet")


# ------------------------------------------------------------------------------- prediction


def predict_class_map(model, images: np.ndarray, framework: str = "torch", *,
                      batch_size: int = 100) -> np.ndarray:
    """The predicted class of every pixel: uint8 images (N, H, W, 3) -> (N, H, W) int64.

    The argmax over the class logits, in inference mode (PyTorch: ``eval()`` and
    ``no_grad``, the previous mode restored; Keras: ``model(x, training=False)`` batch by
    batch, eagerly: ``model.predict`` would trace a new function for every new model).

    Taught in: ch09, 09_4_segmentation.ipynb
    """
    x = pretrained.as_inputs(images, framework)  # checks (N, H, W, 3) uint8
    if framework == "keras":
        logits = np.concatenate([np.asarray(model(x[start:start + batch_size],
                                                  training=False))
                                 for start in range(0, len(x), batch_size)])
        if logits.ndim != 4 or logits.shape[:3] != images.shape[:3]:
            raise ValueError(f"the Keras model must return (N, H, W, K) logits, got "
                             f"{logits.shape}")
        return logits.argmax(axis=-1).astype(np.int64)  # (N, H, W, K) -> (N, H, W)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            maps = [model(batch.to(device)).argmax(dim=1).cpu()  # (n, K, H, W) -> (n, H, W)
                    for batch in torch.split(x, batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(maps).numpy().astype(np.int64)


# ----------------------------------------------------------------------------------- figure


def plot_unet_shapes(shapes: Sequence[tuple[str, tuple[int, int, int]]], *, ax=None):
    """Draw the tensors of a U-Net as a "U": one box per stage, skips as dashed arrows.

    Args:
        shapes: ``(name, (C, H, W))`` in forward order, as ``UNet.forward(x, shapes=[])``
            records them (names ``input``, ``enc<l>``, ``bottleneck``, ``up<l>``, ``dec<l>``,
            ``logits``). A box's height grows with H, its width with log2(C).

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.6))
    size = shapes[0][1][1]
    places = {}
    for position, (name, (channels, height, width)) in enumerate(shapes):
        level = np.log2(size / height)
        box_w, box_h = 0.25 + 0.1 * np.log2(channels), 0.3 + 0.7 * height / size
        y = -1.4 * level
        places[name] = (position, y)
        colour = "C1" if name.startswith("up") else "C2" if name == "logits" else "C0"
        ax.add_patch(plt.Rectangle((position - box_w / 2, y - box_h / 2), box_w, box_h,
                                   color=colour, alpha=0.35))
        ax.text(position, y - box_h / 2 - 0.12, f"{name}\n{channels}×{height}×{width}",
                ha="center", va="top", fontsize=7)
        if position:
            ax.annotate("", (position - box_w / 2, y), (position - 1 + 0.2, places[
                shapes[position - 1][0]][1]), arrowprops={"arrowstyle": "->", "lw": 0.8})
    for name, (x_enc, y_enc) in places.items():
        if name.startswith("enc") and f"dec{name[3:]}" in places:
            x_dec = places[f"dec{name[3:]}"][0]
            ax.annotate("", (x_dec - 0.45, y_enc + 0.45), (x_enc + 0.45, y_enc + 0.45),
                        arrowprops={"arrowstyle": "->", "ls": "--", "color": "C3"})
    ax.set_xlim(-0.8, len(shapes) - 0.2)
    ax.set_ylim(-1.4 * np.log2(size / min(s[1][1] for s in shapes)) - 1.2, 1.0)
    ax.set_axis_off()
    return ax.figure


def _check_upsampling(upsampling: str) -> None:
    if upsampling not in UPSAMPLING:
        raise ValueError(f"upsampling must be one of {list(UPSAMPLING)}, got {upsampling!r}")


def _check_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2 (background included), got "
                         f"{num_classes!r}")


def _check_size(image_size: int) -> None:
    factor = 2 ** DEPTH
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) \
            or image_size < factor or image_size % factor:
        raise ValueError(f"image_size must be a positive multiple of {factor}, got "
                         f"{image_size!r}")
