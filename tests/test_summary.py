"""course_lib.summary.torch_summary: shapes and parameter counts from forward hooks."""

import pytest
import torch
from torch import nn

from course_lib.summary import torch_summary


def _small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )


def test_rows_give_output_shapes_and_parameter_counts_of_every_layer():
    summary = torch_summary(_small_cnn(), (1, 8, 8))
    got = [(row.name, row.kind, row.output_shape, row.num_params) for row in summary.rows]
    assert got == [
        ("0", "Conv2d", (8, 8, 8), 1 * 8 * 9 + 8),
        ("1", "ReLU", (8, 8, 8), 0),
        ("2", "MaxPool2d", (8, 4, 4), 0),
        ("3", "Conv2d", (16, 2, 2), 8 * 16 * 9 + 16),
        ("4", "ReLU", (16, 2, 2), 0),
        ("5", "AdaptiveAvgPool2d", (16, 1, 1), 0),
        ("6", "Flatten", (16,), 0),
        ("7", "Linear", (10,), 16 * 10 + 10),
    ]
    assert summary.total_params == sum(row.num_params for row in summary.rows) == 1418
    assert summary.trainable_params == 1418


def test_non_square_inputs_and_named_submodules():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 4, (3, 5)), nn.ReLU())
            self.head = nn.Linear(4 * 4 * 6, 2)

        def forward(self, x):
            return self.head(self.features(x).flatten(1))

    summary = torch_summary(Net(), (3, 6, 10))
    assert [row.name for row in summary.rows] == ["features.0", "features.1", "head"]
    assert summary.rows[0].output_shape == (4, 4, 6)
    assert summary.rows[-1].output_shape == (2,)


def test_frozen_parameters_are_counted_but_not_as_trainable():
    model = _small_cnn()
    for parameter in model[0].parameters():
        parameter.requires_grad_(False)
    summary = torch_summary(model, (1, 8, 8))
    assert summary.total_params - summary.trainable_params == 80


def test_a_module_called_twice_appears_twice():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x):
            return self.conv(self.conv(x))

    summary = torch_summary(Twice(), (2, 5, 5))
    assert [row.name for row in summary.rows] == ["conv", "conv"]
    assert summary.total_params == 2 * 2 * 9 + 2


def test_hooks_are_removed_and_training_mode_is_restored_even_on_failure():
    model = _small_cnn().train()
    torch_summary(model, (1, 8, 8))
    assert model.training
    assert all(not module._forward_hooks for module in model.modules())
    with pytest.raises(RuntimeError):
        torch_summary(model, (3, 8, 8))  # wrong number of channels
    assert model.training
    assert all(not module._forward_hooks for module in model.modules())


def test_table_lists_layers_and_totals():
    text = str(torch_summary(_small_cnn(), (1, 8, 8)))
    assert "0 (Conv2d)" in text and "(N, 8, 4, 4)" in text
    assert "total params: 1,418" in text
    assert repr(torch_summary(_small_cnn(), (1, 8, 8))) == text


@pytest.mark.parametrize("shape", [8, (1, -8, 8), (1.0, 8, 8)])
def test_rejects_bad_input_shapes(shape):
    with pytest.raises(ValueError, match="input_shape"):
        torch_summary(_small_cnn(), shape)


def test_rejects_non_modules():
    with pytest.raises(TypeError):
        torch_summary(lambda x: x, (1, 8, 8))
