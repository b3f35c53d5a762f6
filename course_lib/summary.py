"""A Keras-like ``summary`` for PyTorch models: output shape and parameters of every layer.

Keras knows each layer's output shape once the model is built (``model.summary()``); a
PyTorch module only learns its shapes when data flows through it. ``torch_summary`` therefore
runs one forward pass on a dummy batch with a *forward hook* on every leaf module, a function
PyTorch calls after the module's ``forward`` with its inputs and output, and records the
output's shape and the module's parameter count. The hooks are removed afterwards.

Taught in: ch04, 04_6_cnn-layers-in-frameworks.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LayerRow:
    """One call of a leaf module: its name in the model, its class, output shape, parameters.

    ``output_shape`` leaves out the batch axis, as Keras's ``None``: (C, H, W) or (D,).
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    num_params: int


@dataclass(frozen=True)
class ModelSummary:
    """Rows in call order, and the model's totals. ``str()`` / ``repr()`` give a table."""

    input_shape: tuple[int, ...]
    rows: tuple[LayerRow, ...]
    total_params: int
    trainable_params: int

    def __str__(self) -> str:
        header = ("layer (type)", "output shape", "params")
        lines = [(f"{row.name} ({row.kind})", _format_shape(row.output_shape),
                  f"{row.num_params:,}") for row in self.rows]
        widths = [max(len(line[i]) for line in [header, *lines]) for i in range(3)]
        rule = "-" * (sum(widths) + 4)

        def fmt(line):
            return f"{line[0]:<{widths[0]}}  {line[1]:<{widths[1]}}  {line[2]:>{widths[2]}}"

        return "\n".join([f"input: {_format_shape(self.input_shape)}", rule, fmt(header), rule,
                          *map(fmt, lines), rule,
                          f"total params: {self.total_params:,}",
                          f"trainable params: {self.trainable_params:,}"])

    __repr__ = __str__


def torch_summary(model: nn.Module, input_shape: tuple[int, ...], *,
                  device: torch.device | str | None = None,
                  dtype: torch.dtype = torch.float32) -> ModelSummary:
    """Per-layer output shapes and parameter counts of a PyTorch model, from forward hooks.

    Args:
        model: any ``nn.Module`` that accepts a batch of shape (1, *input_shape).
        input_shape: one sample's shape without the batch axis, e.g. (1, 8, 8) for NCHW
            digits.
        device: where to run the dummy forward pass; default: where the model's first
            parameter lives (CPU for a model without parameters).
        dtype: dtype of the dummy batch (zeros).

    Returns:
        A ``ModelSummary``: one ``LayerRow`` per call of a leaf module (a module called twice
        appears twice), plus the totals of ``model.parameters()``. The model's train/eval mode
        is restored and every hook removed, also if the forward pass fails.

    Taught in: ch04, 04_6_cnn-layers-in-frameworks.ipynb
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(input_shape, (tuple, list)) or not all(
            isinstance(size, int) and size > 0 for size in input_shape):
        raise ValueError(f"input_shape must be a tuple of positive ints without the batch axis, "
                         f"e.g. (1, 8, 8); got {input_shape!r}")
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else "cpu"
    rows: list[LayerRow] = []

    def record(name):
        def hook(module, inputs, output):
            shape = tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else ()
            rows.append(LayerRow(name, type(module).__name__, shape,
                                 sum(p.numel() for p in module.parameters())))
        return hook

    leaves = [(name, module) for name, module in model.named_modules()
              if not any(True for _ in module.children())]
    handles = [module.register_forward_hook(record(name or type(module).__name__))
               for name, module in leaves]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), dtype=dtype, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return ModelSummary(tuple(input_shape), tuple(rows),
                        sum(p.numel() for p in model.parameters()),
                        sum(p.numel() for p in model.parameters() if p.requires_grad))


def _format_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"
