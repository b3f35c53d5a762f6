"""course_lib.feature_maps: each figure has the panels, images and patches it promises."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import Rectangle

from course_lib import feature_maps


def _images(fig):
    return [ax.images[0] for ax in fig.axes if ax.images]


def test_plot_feature_maps_draws_one_panel_per_map_with_titles(rng):
    maps = rng.normal(size=(1, 5, 6, 9))  # (1, F, H, W): one image of a batch
    fig = feature_maps.plot_feature_maps(maps, titles=list("abcde"), ncols=3)
    images = _images(fig)
    assert len(images) == 5
    assert [ax.get_title() for ax in fig.axes if ax.images] == list("abcde")
    assert images[0].get_array().shape == (6, 9)


def test_plot_feature_maps_centres_signed_maps_on_zero(rng):
    maps = np.stack([rng.normal(size=(4, 4)), np.abs(rng.normal(size=(4, 4)))])
    signed = _images(feature_maps.plot_feature_maps(maps))
    vmin, vmax = signed[0].get_clim()
    assert vmin == pytest.approx(-vmax)
    assert signed[0].get_cmap().name == feature_maps.DIVERGING
    assert signed[1].get_cmap().name == "gray"  # decided map by map
    forced = _images(feature_maps.plot_feature_maps(maps, symmetric=[False, True]))
    assert forced[0].get_cmap().name == "gray"
    assert forced[1].get_cmap().name == feature_maps.DIVERGING
    with pytest.raises(ValueError, match="symmetric"):
        feature_maps.plot_feature_maps(maps, symmetric=[True])


@pytest.mark.parametrize("bad", [np.zeros((4, 4)), np.zeros((2, 3, 4, 4))])
def test_plot_feature_maps_rejects_wrong_shapes(bad):
    with pytest.raises(ValueError, match="F, H, W"):
        feature_maps.plot_feature_maps(bad)


def test_plot_feature_maps_rejects_wrong_number_of_titles(rng):
    with pytest.raises(ValueError, match="titles"):
        feature_maps.plot_feature_maps(rng.normal(size=(3, 4, 4)), titles=["a"])


@pytest.mark.parametrize("shape, grid", [((2, 3, 3, 3), (2, 3)), ((4, 5, 5), (1, 4)),
                                         ((4, 1, 5, 5), (1, 4)), ((3, 3), (1, 1))])
def test_plot_kernels_has_one_row_per_filter_and_one_column_per_channel(rng, shape, grid):
    fig = feature_maps.plot_kernels(rng.normal(size=shape))
    assert len(_images(fig)) == grid[0] * grid[1]
    rows, cols = fig.axes[0].get_subplotspec().get_gridspec().get_geometry()
    assert (rows, cols) == grid


def test_plot_kernels_annotates_small_kernels_and_labels_rows_and_columns():
    w = np.arange(18.0).reshape(2, 1, 3, 3) - 9
    fig = feature_maps.plot_kernels(w, filter_names=["sobel", "blur"], channel_names=["gray"])
    assert len(fig.axes[0].texts) == 9
    assert fig.axes[0].get_ylabel() == "sobel" and fig.axes[0].get_title() == "gray"
    assert not feature_maps.plot_kernels(np.ones((7, 7))).axes[0].texts
    in_a_row = feature_maps.plot_kernels(w, filter_names=["sobel", "blur"])
    assert [ax.get_title() for ax in in_a_row.axes] == ["sobel", "blur"]


def test_plot_kernels_never_writes_minus_zero():
    fig = feature_maps.plot_kernels(-0.5 * np.eye(3))
    assert "-0" not in [text.get_text() for text in fig.axes[0].texts]


def test_plot_matrices_writes_every_entry_and_frames_the_highlight():
    x, w = np.arange(25).reshape(5, 5), np.array([[1, 0], [0, -1]])
    fig = feature_maps.plot_matrices({"x": x, "w": w}, highlight={"x": (1, 2, 2, 2)},
                                     symbols=["*"])
    assert [len(ax.texts) for ax in fig.axes] == [25 + 1, 4]  # entries, plus the "*" symbol
    assert "24" in [text.get_text() for text in fig.axes[0].texts]
    frames = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(frames) == 1 and frames[0].get_xy() == (1.5, 0.5)


def test_plot_matrices_rejects_unknown_highlight_and_non_2d():
    with pytest.raises(ValueError, match="not in matrices"):
        feature_maps.plot_matrices({"x": np.eye(2)}, highlight={"y": (0, 0, 1, 1)})
    with pytest.raises(ValueError, match="2-D"):
        feature_maps.plot_matrices({"x": np.zeros(3)})


def test_plot_receptive_fields_draws_one_square_per_layer_of_the_right_size():
    ax = feature_maps.plot_receptive_fields([3, 5, 7])
    squares = sorted(p.get_width() for p in ax.patches)
    assert squares == [1, 3, 5, 7]  # the centre pixel and the three fields
    assert ax.get_xlim() == (0, 9)
    assert len(ax.get_legend().get_texts()) == 4


def test_plot_receptive_fields_checks_its_arguments():
    with pytest.raises(ValueError):
        feature_maps.plot_receptive_fields([])
    with pytest.raises(ValueError, match="smaller"):
        feature_maps.plot_receptive_fields([3, 9], input_size=5)
    _, ax = plt.subplots()
    assert feature_maps.plot_receptive_fields([1], ax=ax) is ax
