"""The arithmetic of classic CNN architectures: parameters and multiply-adds, by formula.

Chapter 7 compares architectures by what they cost. Everything here is plain Python (no
framework), so a lesson can compute a cost, then check it against ``torch`` or ``keras``:

- ``conv2d_cost``: parameters and multiply-adds of one convolution (``groups`` included, so a
  depthwise convolution is ``groups=in_channels``).
- ``vgg16_layer_table``: VGG16 layer by layer (output shape, parameters, multiply-adds).
- ``inception_module_cost``: one Inception module with and without its 1x1 bottlenecks.
- ``depthwise_separable_cost``: a standard convolution against depthwise + pointwise.
- ``PUBLISHED_PARAMETER_COUNTS``: the counts the papers and the framework docs publish.

A *multiply-add* (MAC) is one ``a * b + c``; papers that say "FLOPs" (ResNet, EfficientNet)
usually mean multiply-adds too, while PyTorch's ``FlopCounterMode`` counts 2 per MAC.

Taught in: ch07, 07_1_lenet-alexnet-vgg.ipynb (VGG16 table, stacked 3x3), 07_2_inception.ipynb
(bottlenecks), 07_4_modern-architectures-and-apis.ipynb (depthwise separable, published counts).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerCost:
    """One layer: name, kind, output shape without the batch axis (C, H, W) or (D,), costs."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    mult_adds: int


def conv2d_cost(in_channels: int, out_channels: int, kernel_size: int, output_size: int | tuple[int, int],
                *, groups: int = 1, bias: bool = True) -> tuple[int, int]:
    """Parameters and multiply-adds of a ``K x K`` convolution producing ``F`` maps of OH x OW.

    ``params = F * (C / groups) * K^2 (+ F)``; each output value costs ``(C / groups) * K^2``
    multiply-adds, so ``mult_adds = F * OH * OW * (C / groups) * K^2`` (bias additions are not
    counted, as in the papers).

    Args:
        in_channels: C, divisible by ``groups``.
        out_channels: F, divisible by ``groups``.
        kernel_size: K (square kernels).
        output_size: OH (square output) or (OH, OW).
        groups: 1 for an ordinary convolution, C for a depthwise one.
        bias: whether the layer has one bias per filter.

    Returns:
        ``(params, mult_adds)``, two ints.

    Taught in: ch07, 07_1_lenet-alexnet-vgg.ipynb
    """
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("kernel_size", kernel_size), ("output height", oh), ("output width", ow),
                        ("groups", groups)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                         f"out_channels={out_channels}")
    per_output = (in_channels // groups) * kernel_size ** 2  # weights seen by one output value
    params = out_channels * per_output + (out_channels if bias else 0)
    return params, out_channels * oh * ow * per_output


# VGG16 = configuration D of Simonyan & Zisserman (2015), Table 1: channels per 3x3 conv, "M" = pool.
VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                512, 512, 512, "M")


def vgg16_layer_table(image_size: int = 224, num_classes: int = 1000) -> list[LayerCost]:
    """VGG16 layer by layer: 13 convolutions (3x3, pad 1), 5 max pools, 3 dense layers.

    Args:
        image_size: side of the square RGB input; 224 in the paper (a multiple of 32).
        num_classes: outputs of the last dense layer.

    Returns:
        One ``LayerCost`` per conv, pool and dense layer (ReLUs and dropout have no cost),
        names as in the paper (conv1_1 ... conv5_3, pool1 ... pool5, fc6, fc7, fc8).

    Taught in: ch07, 07_1_lenet-alexnet-vgg.ipynb
    """
    if not isinstance(image_size, int) or image_size < 32 or image_size % 32:
        raise ValueError(f"image_size must be a positive multiple of 32, got {image_size!r}")
    rows, channels, size, block, conv = [], 3, image_size, 1, 1
    for item in VGG16_CONFIG:
        if item == "M":
            size //= 2
            rows.append(LayerCost(f"pool{block}", "MaxPool 2x2/2", (channels, size, size), 0, 0))
            block, conv = block + 1, 1
            continue
        params, mult_adds = conv2d_cost(channels, item, 3, size)
        channels = item
        rows.append(LayerCost(f"conv{block}_{conv}", "Conv 3x3", (channels, size, size), params,
                              mult_adds))
        conv += 1
    features = channels * size * size  # (512, 7, 7) -> 25,088 at 224 pixels
    for name, units in (("fc6", 4096), ("fc7", 4096), ("fc8", num_classes)):
        rows.append(LayerCost(name, "Dense", (units,), features * units + units, features * units))
        features = units
    return rows


@dataclass(frozen=True)
class InceptionCost:
    """Costs of one Inception module: output channels, and (params, mult_adds) per variant."""

    out_channels: int
    naive: tuple[int, int]
    reduced: tuple[int, int]


def inception_module_cost(in_channels: int, size: int, c1: int, c3_reduce: int, c3: int,
                          c5_reduce: int, c5: int, pool_proj: int) -> InceptionCost:
    """Parameters and multiply-adds of an Inception module, with and without 1x1 reductions.

    The module (Szegedy et al. 2015, Fig. 2b) runs four branches on a (C, size, size) input and
    concatenates them: 1x1 (c1); 1x1 (c3_reduce) then 3x3 (c3); 1x1 (c5_reduce) then 5x5 (c5);
    3x3 max pool then 1x1 (pool_proj). The *naive* module (Fig. 2a) has no reduction layers:
    its 3x3 and 5x5 see all C channels, and its pool branch passes C channels through.

    Returns:
        ``InceptionCost`` (the reduced module's output channels; both variants' costs, biases
        included in the parameters).

    Taught in: ch07, 07_2_inception.ipynb
    """
    reduced = [conv2d_cost(in_channels, c1, 1, size), conv2d_cost(in_channels, c3_reduce, 1, size),
               conv2d_cost(c3_reduce, c3, 3, size), conv2d_cost(in_channels, c5_reduce, 1, size),
               conv2d_cost(c5_reduce, c5, 5, size), conv2d_cost(in_channels, pool_proj, 1, size)]
    naive = [conv2d_cost(in_channels, c1, 1, size), conv2d_cost(in_channels, c3, 3, size),
             conv2d_cost(in_channels, c5, 5, size)]
    total = lambda costs: (sum(c[0] for c in costs), sum(c[1] for c in costs))  # noqa: E731
    return InceptionCost(c1 + c3 + c5 + pool_proj, total(naive), total(reduced))


def depthwise_separable_cost(in_channels: int, out_channels: int, kernel_size: int,
                             output_size: int) -> dict[str, tuple[int, int]]:
    """A standard K x K convolution against depthwise K x K + pointwise 1x1 (no biases).

    The ratio separable / standard is ``1/F + 1/K^2`` for parameters and multiply-adds alike
    (Howard et al. 2017, eq. 5).

    Returns:
        ``{"standard": (params, mult_adds), "depthwise": ..., "pointwise": ...,
        "separable": depthwise + pointwise}``.

    Taught in: ch07, 07_4_modern-architectures-and-apis.ipynb
    """
    standard = conv2d_cost(in_channels, out_channels, kernel_size, output_size, bias=False)
    depthwise = conv2d_cost(in_channels, in_channels, kernel_size, output_size,
                            groups=in_channels, bias=False)
    pointwise = conv2d_cost(in_channels, out_channels, 1, output_size, bias=False)
    separable = (depthwise[0] + pointwise[0], depthwise[1] + pointwise[1])
    return {"standard": standard, "depthwise": depthwise, "pointwise": pointwise,
            "separable": separable}


@dataclass(frozen=True)
class PublishedCount:
    """Published parameter counts of one ImageNet architecture (1,000 classes, with its head).

    Attributes:
        paper_millions: the figure in the original paper, in millions (None: not given there).
        paper_source: where the paper gives it (or what it gives instead).
        torchvision: exact ``num_params`` of the torchvision docs (``<Model>_Weights.meta``),
            None when torchvision has no such model.
        keras_millions: the "Parameters" column of the keras.io Keras Applications table,
            rounded to 0.1 M; it counts every weight, BatchNorm moving statistics included.
    """

    paper_millions: float | None
    paper_source: str
    torchvision: int | None
    keras_millions: float | None


# Sources: the papers cited in paper_source; https://pytorch.org/vision/stable/models.html
# (num_params of each weights enum); https://keras.io/api/applications/ (table of models).
PUBLISHED_PARAMETER_COUNTS: dict[str, PublishedCount] = {
    "AlexNet": PublishedCount(60, "Krizhevsky et al. 2012, Sec. 1 (\"60 million parameters\")",
                              61_100_840, None),
    "VGG16": PublishedCount(138, "Simonyan & Zisserman 2015, Table 2 (configuration D)",
                            138_357_544, 138.4),
    "GoogLeNet": PublishedCount(6.8, "Szegedy et al. 2015, Table 1 (sum of the params column)",
                                6_624_904, None),
    "InceptionV3": PublishedCount(23.626728, "Chollet 2017 (Xception), Table 3: 23,626,728",
                                  27_161_264, 23.9),
    "ResNet18": PublishedCount(None, "He et al. 2016, Table 1 gives 1.8e9 FLOPs, no parameters",
                               11_689_512, None),
    "ResNet50": PublishedCount(None, "He et al. 2016, Table 1 gives 3.8e9 FLOPs, no parameters",
                               25_557_032, 25.6),
    "MobileNetV2": PublishedCount(3.4, "Sandler et al. 2018, Table 4 (3.4M, 300M MAdds)",
                                  3_504_872, 3.5),
    "DenseNet121": PublishedCount(None, "Huang et al. 2017 plot parameters (Fig. 3), no table",
                                  7_978_856, 8.1),
    "EfficientNetB0": PublishedCount(5.3, "Tan & Le 2019, Table 2 (5.3M, 0.39B FLOPs)",
                                     5_288_548, 5.3),
    "Xception": PublishedCount(22.855952, "Chollet 2017, Table 3: 22,855,952", None, 22.9),
}
