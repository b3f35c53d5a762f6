import importlib.util
import random

import numpy as np
import pytest
import torch

from course_lib.device import DeviceReport, describe_devices, get_device, set_seed


def test_get_device_returns_an_available_torch_device():
    device = get_device()
    assert isinstance(device, torch.device)
    assert device.type in {"cpu", "cuda", "mps"}
    torch.zeros(1, device=device)  # usable


def test_get_device_prefers_cuda_when_available():
    expected = "cuda" if torch.cuda.is_available() else None
    if expected:
        assert get_device().type == "cuda"
    else:
        assert get_device().type in {"cpu", "mps"}


def test_get_device_honours_prefer_and_environment(monkeypatch):
    assert get_device("cpu").type == "cpu"
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device().type == "cpu"


@pytest.mark.parametrize("bad", ["gpu", "CUDA:0", "tpu"])
def test_get_device_rejects_unknown_names(bad):
    with pytest.raises(ValueError, match="prefer must be one of"):
        get_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_get_device_rejects_unavailable_device():
    with pytest.raises(ValueError, match="not available"):
        get_device("cuda")


def test_set_seed_makes_python_numpy_and_torch_repeatable():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    set_seed(123)
    first = draw()
    set_seed(123)
    assert draw() == first
    set_seed(124)
    assert draw() != first


def test_set_seed_seeds_tensorflow_when_imported():
    tf = pytest.importorskip("tensorflow")
    set_seed(7)
    first = tf.random.uniform((3,)).numpy()
    set_seed(7)
    np.testing.assert_array_equal(tf.random.uniform((3,)).numpy(), first)


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (1.5, TypeError), ("3", TypeError),
                                        (True, TypeError)])
def test_set_seed_rejects_bad_seeds(bad, error):
    with pytest.raises(error):
        set_seed(bad)


def test_describe_devices_reports_both_frameworks():
    report = describe_devices()
    assert isinstance(report, DeviceReport)
    assert report.torch_device == get_device().type
    if importlib.util.find_spec("tensorflow") is not None:
        assert report.tensorflow_version is not None
    text = str(report)
    assert "PyTorch" in text and "TensorFlow" in text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_set_seed_makes_cuda_random_numbers_repeatable():
    set_seed(11)
    first = torch.rand(4, device="cuda").cpu()
    set_seed(11)
    torch.testing.assert_close(torch.rand(4, device="cuda").cpu(), first)
