"""course_lib.architectures: formulas checked against PyTorch layers and the papers' figures."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_lib.architectures import (PUBLISHED_PARAMETER_COUNTS, conv2d_cost,
                                      depthwise_separable_cost, inception_module_cost,
                                      vgg16_layer_table)


def torch_conv_cost(c_in, c_out, kernel, size, *, groups=1, bias=True):
    """Parameters of nn.Conv2d and its multiply-adds (FlopCounterMode counts 2 per MAC)."""
    layer = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups, bias=bias)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        layer(torch.zeros(1, c_in, size, size))
    return sum(p.numel() for p in layer.parameters()), counter.get_total_flops() // 2


@pytest.mark.parametrize("c_in, c_out, kernel, size, groups, bias", [
    (3, 64, 3, 8, 1, True), (16, 8, 5, 7, 1, False), (12, 12, 3, 6, 12, False),
    (8, 16, 1, 5, 2, True), (1, 1, 7, 9, 1, True)])
def test_conv2d_cost_matches_torch(c_in, c_out, kernel, size, groups, bias):
    assert conv2d_cost(c_in, c_out, kernel, size, groups=groups, bias=bias) == torch_conv_cost(
        c_in, c_out, kernel, size, groups=groups, bias=bias)


def test_conv2d_cost_accepts_rectangular_output_and_rejects_bad_groups():
    assert conv2d_cost(2, 4, 3, (5, 7))[1] == 4 * 5 * 7 * 2 * 9
    with pytest.raises(ValueError, match="groups"):
        conv2d_cost(6, 4, 3, 5, groups=4)
    with pytest.raises(ValueError, match="positive"):
        conv2d_cost(0, 4, 3, 5)


def test_vgg16_layer_table_totals_match_the_paper_and_torchvision():
    rows = vgg16_layer_table()
    assert sum(row.kind == "Conv 3x3" for row in rows) == 13 and len(rows) == 13 + 5 + 3
    assert sum(row.params for row in rows) == PUBLISHED_PARAMETER_COUNTS["VGG16"].torchvision
    assert round(sum(row.mult_adds for row in rows) / 1e9, 2) == 15.47  # torchvision's GFLOPS
    assert rows[-4].output_shape == (512, 7, 7) and rows[-3].params == 25088 * 4096 + 4096


def test_vgg16_layer_table_rejects_sizes_that_are_not_multiples_of_32():
    with pytest.raises(ValueError, match="multiple of 32"):
        vgg16_layer_table(100)


def test_inception_3a_matches_googlenet_table_1():
    cost = inception_module_cost(192, 28, 64, 96, 128, 16, 32, 32)
    assert cost.out_channels == 256
    assert round(cost.reduced[0] / 1e3) == 164  # 163,696 with biases; Table 1 prints 159K
    assert round(cost.reduced[1] / 1e6) == 128  # Table 1: 128M ops
    assert cost.naive[1] > 2 * cost.reduced[1]


def test_depthwise_separable_ratio_is_one_over_f_plus_one_over_k_squared():
    costs = depthwise_separable_cost(32, 64, 3, 10)
    for index in (0, 1):
        ratio = costs["separable"][index] / costs["standard"][index]
        assert ratio == pytest.approx(1 / 64 + 1 / 9)
    assert costs["depthwise"] == torch_conv_cost(32, 32, 3, 10, groups=32, bias=False)


def test_published_counts_are_consistent():
    for name, count in PUBLISHED_PARAMETER_COUNTS.items():
        assert count.paper_source, name
        if count.torchvision and count.paper_millions:
            assert abs(count.torchvision / 1e6 - count.paper_millions) < 3.6, name
