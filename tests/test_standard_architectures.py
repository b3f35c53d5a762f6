"""Standard architectures built with weights=None have the published parameter counts.

torchvision: the exact ``num_params`` of the torchvision model docs
(https://pytorch.org/vision/stable/models.html, also in ``<Model>_Weights.<tag>.meta``).
keras.applications: the "Parameters" column of https://keras.io/api/applications/ (millions,
rounded to 0.1 M, counting BatchNorm moving statistics too). Where a paper gives a figure, the
framework's count is within its rounding (or the small head/auxiliary differences noted in
``course_lib.architectures.PUBLISHED_PARAMETER_COUNTS``). Nothing is downloaded.
"""

import course_lib  # noqa: F401 - first: loads Triton before TensorFlow, quiets TF's logs

import pytest

from course_lib.architectures import PUBLISHED_PARAMETER_COUNTS

TORCHVISION = {"VGG16": ("vgg16", "VGG16_Weights"), "ResNet18": ("resnet18", "ResNet18_Weights"),
               "ResNet50": ("resnet50", "ResNet50_Weights"),
               "InceptionV3": ("inception_v3", "Inception_V3_Weights"),
               "MobileNetV2": ("mobilenet_v2", "MobileNet_V2_Weights"),
               "DenseNet121": ("densenet121", "DenseNet121_Weights"),
               "EfficientNetB0": ("efficientnet_b0", "EfficientNet_B0_Weights")}
pytestmark = pytest.mark.slow  # builds 14 ImageNet-sized models (about 20 s of CPU)

KERAS = ["VGG16", "ResNet50", "InceptionV3", "MobileNetV2", "DenseNet121", "EfficientNetB0",
         "Xception"]
# Paper figures the frameworks reproduce exactly (trainable weights): Chollet 2017, Table 3.
KERAS_TRAINABLE_EXACT = {"Xception": 22_855_952}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_model_has_the_documented_parameter_count(name):
    import torch
    from torchvision import models

    builder, weights_enum = TORCHVISION[name]
    with torch.device("meta"):  # shapes only: no memory, no random initialisation
        extra = {"init_weights": False} if name == "InceptionV3" else {}  # skips a slow init
        model = getattr(models, builder)(weights=None, **extra)
    count = sum(p.numel() for p in model.parameters())
    published = PUBLISHED_PARAMETER_COUNTS[name]
    assert count == published.torchvision, f"{name}: {count:,} != {published.torchvision:,}"
    documented = getattr(models, weights_enum).DEFAULT.meta["num_params"]
    assert count == documented, f"{name}: the weights' metadata says {documented:,}"
    if published.paper_millions is not None:
        assert abs(count / 1e6 - published.paper_millions) / published.paper_millions < 0.16


@pytest.fixture(scope="module")
def keras_counts():
    """Each Keras application built once (weights=None): (all weights, trainable weights)."""
    import keras
    import numpy as np

    counts = {}
    for name in KERAS:
        model = getattr(keras.applications, name)(weights=None)
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        counts[name] = (model.count_params(), trainable)
        keras.backend.clear_session()
    return counts


@pytest.mark.parametrize("name", KERAS)
def test_keras_application_has_the_documented_parameter_count(keras_counts, name):
    total, trainable = keras_counts[name]
    published = PUBLISHED_PARAMETER_COUNTS[name]
    assert round(total / 1e6, 1) == published.keras_millions, f"{name}: {total:,}"
    if name in KERAS_TRAINABLE_EXACT:
        assert trainable == KERAS_TRAINABLE_EXACT[name]
    if published.paper_millions is not None:
        assert abs(trainable / 1e6 - published.paper_millions) / published.paper_millions < 0.05


def test_vgg16_is_the_same_network_in_both_frameworks(keras_counts):
    assert keras_counts["VGG16"][0] == PUBLISHED_PARAMETER_COUNTS["VGG16"].torchvision
