import numpy as np
import pytest
from matplotlib import pyplot as plt

from course_lib import plot
from course_lib.data import make_toy_2d


def test_decision_boundary_shades_both_classes_and_scatters_points():
    x, y = make_toy_2d("blobs", 50)
    ax = plot.plot_decision_boundary(lambda p: (p[:, 0] > 0).astype(int), x, y, resolution=50)
    assert len(ax.collections) >= 2  # the filled contours and the scatter
    offsets = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(offsets, x)


def test_decision_boundary_thresholds_probabilities():
    x, y = make_toy_2d("blobs", 20)
    calls = []

    def predict(points):
        calls.append(points.shape)
        return 1 / (1 + np.exp(-points[:, 0]))

    plot.plot_decision_boundary(predict, x, y, resolution=30)
    assert calls == [(900, 2)]


@pytest.mark.parametrize("x_shape, y_shape", [((10, 3), (10,)), ((10, 2), (9,))])
def test_decision_boundary_rejects_bad_shapes(x_shape, y_shape):
    with pytest.raises(ValueError):
        plot.plot_decision_boundary(lambda p: p[:, 0], np.zeros(x_shape), np.zeros(y_shape))


def test_learning_curves_from_dict_draws_train_and_validation():
    history = {"loss": [1.0, 0.5, 0.25], "val_loss": [1.1, 0.6, 0.4], "accuracy": [0.5, 0.7, 0.9]}
    fig = plot.plot_learning_curves(history)
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["train", "validation"]
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), [1.1, 0.6, 0.4])
    assert len(acc_ax.lines) == 1


def test_learning_curves_accepts_keras_history():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(np.zeros((8, 2)), np.zeros(8), validation_split=0.25, epochs=2,
                        verbose=0)
    fig = plot.plot_learning_curves(history)
    assert fig.axes[0].get_title() == "loss" and len(fig.axes[0].lines) == 2


@pytest.mark.parametrize("history, error", [({}, TypeError), ([1, 2], TypeError),
                                            ({"loss": [1]}, ValueError)])
def test_learning_curves_rejects_bad_histories(history, error):
    with pytest.raises(error):
        plot.plot_learning_curves(history, metrics=["accuracy"] if history else None)


@pytest.mark.parametrize("shape, channels_first", [((5, 8, 8), False), ((5, 8, 8, 1), False),
                                                   ((5, 8, 8, 3), False), ((5, 3, 8, 8), True)])
def test_show_images_accepts_common_layouts(shape, channels_first):
    images = np.random.default_rng(0).random(shape)
    fig = plot.show_images(images, labels=list("abcde"), ncols=3, channels_first=channels_first)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 5
    assert [ax.get_title() for ax in shown] == list("abcde")


@pytest.mark.parametrize("shape", [(5, 8), (5, 8, 8, 2), (5, 3, 8, 8)])
def test_show_images_rejects_other_layouts(shape):
    with pytest.raises(ValueError):
        plot.show_images(np.zeros(shape))


def test_show_images_rejects_label_count_mismatch():
    with pytest.raises(ValueError, match="labels"):
        plot.show_images(np.zeros((3, 4, 4)), labels=[1, 2])


def test_plot_functions_one_panel_each():
    fig = plot.plot_functions({"square": np.square, "abs": np.abs, "sin": np.sin}, ncols=2)
    drawn = [ax for ax in fig.axes if ax.lines]
    assert [ax.get_title() for ax in drawn] == ["square", "abs", "sin"]
    np.testing.assert_allclose(drawn[0].lines[0].get_ydata(), np.linspace(-5, 5, 401) ** 2)
    with pytest.raises(ValueError):
        plot.plot_functions({})
