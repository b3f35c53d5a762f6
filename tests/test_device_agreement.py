"""CPU and GPU agree: the same seeded PyTorch training gives the same result on both.

Skipped on machines without CUDA (CI has none); run on a lent GPU as extra evidence that the
notebooks' checked outputs (rounded metrics) do not depend on the device.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.data import make_toy_2d
from course_lib.device import get_device, set_seed

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

NUM_STEPS = 300  # full-batch steps: enough to fit the moons well
LEARNING_RATE = 0.1


def _train_on(device: torch.device) -> tuple[float, float, torch.Tensor]:
    set_seed(0)
    x, y = make_toy_2d("moons", 256, noise=0.1)
    x = torch.tensor(x, dtype=torch.float32, device=device)
    y = torch.tensor(y, dtype=torch.float32, device=device)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=0.9)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(NUM_STEPS):
        optimizer.zero_grad()
        loss = loss_fn(model(x).squeeze(1), y)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        logits = model(x).squeeze(1)
        accuracy = ((logits > 0).float() == y).float().mean().item()
    return loss.item(), accuracy, model[0].weight.detach().cpu()


def test_get_device_picks_cuda_when_present():
    assert get_device().type == "cuda"


def test_training_agrees_between_cpu_and_gpu():
    cpu_loss, cpu_accuracy, cpu_weight = _train_on(torch.device("cpu"))
    gpu_loss, gpu_accuracy, gpu_weight = _train_on(get_device())
    assert round(cpu_accuracy, 2) == round(gpu_accuracy, 2)
    assert abs(cpu_loss - gpu_loss) < 1e-3
    torch.testing.assert_close(gpu_weight, cpu_weight, rtol=1e-3, atol=1e-3)
