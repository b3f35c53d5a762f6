"""course_lib.numpy_cnn: the numpy CNN's gradients against numerical ones and its PyTorch twin."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import numpy_cnn
from course_lib.gradcheck import numerical_gradient, rel_error


def _batch(rng, n=4, shape=(1, 6, 6), classes=3):
    return rng.normal(size=(n, *shape)), rng.integers(0, classes, size=n)


def test_cnn_loss_and_gradients_match_the_torch_twin(rng):
    params = numpy_cnn.init_cnn_params((2, 6, 8), num_filters=3, num_classes=4, seed=1)
    x, y = _batch(rng, 5, (2, 6, 8), 4)
    loss, grads = numpy_cnn.cnn_loss(params, x, y)
    model = numpy_cnn.torch_twin(params)
    loss_torch = F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
    loss_torch.backward()
    assert loss == pytest.approx(loss_torch.item(), rel=1e-12)
    torch_grads = {"w1": model[0].weight.grad, "b1": model[0].bias.grad,
                   "w2": model[4].weight.grad.T, "b2": model[4].bias.grad}
    for name, grad in grads.items():
        assert grad.shape == params[name].shape
        assert rel_error(grad, torch_grads[name]) <= 1e-8, name


def test_cnn_gradients_match_numerical_gradients(rng):
    params = numpy_cnn.init_cnn_params((1, 6, 6), num_filters=2, num_classes=3, seed=2)
    x, y = _batch(rng)
    _, grads = numpy_cnn.cnn_loss(params, x, y)
    for name in params:
        numeric = numerical_gradient(lambda _: numpy_cnn.cnn_loss(params, x, y)[0], params[name])
        assert rel_error(grads[name], numeric) <= 1e-8, name


def test_init_cnn_params_shapes_and_validation():
    params = numpy_cnn.init_cnn_params(num_filters=16)
    assert {name: value.shape for name, value in params.items()} == {
        "w1": (16, 1, 3, 3), "b1": (16,), "w2": (256, 10), "b2": (10,)}
    assert all(value.dtype == np.float64 for value in params.values())
    with pytest.raises(ValueError, match="odd"):
        numpy_cnn.init_cnn_params(kernel=2)
    with pytest.raises(ValueError, match="divide"):
        numpy_cnn.init_cnn_params((1, 7, 8))
