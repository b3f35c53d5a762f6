"""course_lib.initialization against torch.nn.init's fans and Keras initializers' variances."""

import numpy as np
import pytest
import torch

from course_lib import initialization as init

DENSE = [(1, 1), (3, 5), (784, 128), (64, 10)]            # (D, M)
CONV = [(1, 1, 1, 1), (16, 3, 3, 3), (8, 4, 5, 3), (32, 16, 1, 1)]  # (F, C, kh, kw)
INITIALIZERS = {
    "glorot_uniform": lambda fi, fo: 2.0 / (fi + fo),
    "glorot_normal": lambda fi, fo: 2.0 / (fi + fo),
    "he_uniform": lambda fi, fo: 2.0 / fi,
    "he_normal": lambda fi, fo: 2.0 / fi,
}


@pytest.mark.parametrize("shape", DENSE)
def test_dense_fans_match_torch_on_the_transposed_layout(shape):
    # torch stores nn.Linear.weight as (M, D); the course (and Keras) as (D, M)
    want = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape[::-1]))
    assert init.fans(shape) == want == shape


@pytest.mark.parametrize("shape", CONV)
def test_conv_fans_match_torch(shape):
    want = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init.fans(shape) == want
    f, c, kh, kw = shape
    assert init.fans(shape) == (c * kh * kw, f * kh * kw)


@pytest.mark.parametrize("bad", [(5,), (), (0, 3), (2, 0, 3, 3)])
def test_fans_reject_bad_shapes(bad):
    with pytest.raises(ValueError):
        init.fans(bad)


@pytest.mark.parametrize("name", list(INITIALIZERS))
@pytest.mark.parametrize("shape", [(400, 300), (64, 32, 3, 3)])
def test_initializer_sample_statistics(name, shape):
    w = getattr(init, name)(shape, rng=np.random.default_rng(0))
    assert w.shape == shape and w.dtype == np.float64
    var = INITIALIZERS[name](*init.fans(shape))
    assert abs(w.mean()) < 4 * np.sqrt(var / w.size)
    assert abs(w.var() / var - 1) < 0.03
    if "uniform" in name:
        assert np.abs(w).max() <= np.sqrt(3 * var)


@pytest.mark.parametrize("name", list(INITIALIZERS))
def test_initializers_match_torch_init_variance(name):
    shape = (32, 16, 3, 3)
    w_t = torch.empty(shape, dtype=torch.float64)
    torch.manual_seed(0)
    {"glorot_uniform": torch.nn.init.xavier_uniform_,
     "glorot_normal": torch.nn.init.xavier_normal_,
     "he_uniform": lambda t: torch.nn.init.kaiming_uniform_(t, nonlinearity="relu"),
     "he_normal": lambda t: torch.nn.init.kaiming_normal_(t, nonlinearity="relu")}[name](w_t)
    ours = getattr(init, name)(shape, rng=np.random.default_rng(0))
    assert abs(ours.var() / w_t.var().item() - 1) < 0.06


@pytest.mark.slow
@pytest.mark.parametrize("name, keras_name", [("glorot_uniform", "GlorotUniform"),
                                              ("glorot_normal", "GlorotNormal"),
                                              ("he_uniform", "HeUniform"),
                                              ("he_normal", "HeNormal")])
def test_initializers_match_keras_variance_for_dense_and_conv(name, keras_name):
    import course_lib  # noqa: F401  (before TensorFlow)
    import keras

    for ours_shape, keras_shape in [((300, 200), (300, 200)), ((32, 16, 3, 3), (3, 3, 16, 32))]:
        w_k = np.asarray(getattr(keras.initializers, keras_name)(seed=0)(keras_shape))
        ours = getattr(init, name)(ours_shape, rng=np.random.default_rng(0))
        assert abs(ours.var() / w_k.var() - 1) < 0.06


def test_initializers_require_a_generator():
    with pytest.raises(TypeError):
        init.he_normal((3, 4), rng=0)


def test_depth_forward_keeps_relu_scale_under_he_and_collapses_under_small_init():
    x = np.random.default_rng(0).normal(size=(200, 100))
    he = init.forward_through_depth(x, init.he_normal, "relu", depth=12, width=100,
                                    rng=np.random.default_rng(1))
    small = init.forward_through_depth(x, lambda s, rng: rng.normal(0, 0.01, size=s), "relu",
                                       depth=12, width=100, rng=np.random.default_rng(1))
    assert len(he) == 12 and he[-1].shape == (200, 100)
    he_std = init.activation_statistics(he)["std"]
    assert 0.3 < he_std[-1] / he_std[0] < 3
    assert init.activation_statistics(small)["std"][-1] < 1e-6


def test_plot_activation_histograms_draws_a_panel_per_layer_and_scheme():
    x = np.random.default_rng(0).normal(size=(50, 20))
    results = {name: init.forward_through_depth(x, getattr(init, name), "tanh", depth=6,
                                                width=20, rng=np.random.default_rng(0))
               for name in ("glorot_normal", "he_normal")}
    fig = init.plot_activation_histograms(results)
    assert len(fig.axes) == 2 * 3
