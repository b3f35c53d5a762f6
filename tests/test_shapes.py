"""Tests of course_lib.shapes: the synthetic shape images of chapters 5, 7 and 8."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from course_lib import shapes


def test_make_shapes_is_balanced_seeded_and_uint8():
    data = shapes.make_shapes(5, classes=("circle", "star", "ring"), size=24, seed=3)
    assert data.images.shape == (15, 24, 24, 3) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int64
    assert np.bincount(data.labels).tolist() == [5, 5, 5]
    assert data.num_classes == 3
    again = shapes.make_shapes(5, classes=("circle", "star", "ring"), size=24, seed=3)
    np.testing.assert_array_equal(data.images, again.images)
    other = shapes.make_shapes(5, classes=("circle", "star", "ring"), size=24, seed=4)
    assert not np.array_equal(data.images, other.images)


def test_source_and_target_classes_are_disjoint():
    assert not set(shapes.SOURCE_CLASSES) & set(shapes.TARGET_CLASSES)
    assert set(shapes.SOURCE_CLASSES) | set(shapes.TARGET_CLASSES) == set(shapes.SHAPES)


@pytest.mark.parametrize("name", shapes.SHAPES)
def test_every_shape_draws_a_visible_object(name):
    image = shapes.render_shape(name, size=32, rng=np.random.default_rng(0))
    background = image[0, 0]
    differs = np.abs(image.astype(int) - background).sum(axis=-1) > 30
    assert 0.03 < differs.mean() < 0.6, f"{name} covers {differs.mean():.2f} of the image"


@pytest.mark.parametrize("background", shapes.BACKGROUNDS)
def test_backgrounds_differ_in_texture(background):
    image = shapes.render_shape("circle", background=background, rng=np.random.default_rng(1))
    corner = image[:6, :6].astype(float)
    assert (corner.std(axis=(0, 1)).max() == 0) == (background == "plain")


@pytest.mark.parametrize("image_format", shapes.IMAGE_FORMATS)
def test_make_shapes_folder_writes_the_image_folder_layout(tmp_path, image_format):
    folders = shapes.make_shapes_folder(
        tmp_path, {"train": 3, "test": 2}, classes=("square", "plus"), size=16,
        image_format=image_format,
    )
    assert set(folders) == {"train", "test"}
    files = sorted(folders["train"].glob("*/*"))
    assert len(files) == 6 and {f.parent.name for f in files} == {"square", "plus"}
    with Image.open(files[0]) as image:
        assert image.size == (16, 16) and image.mode == "RGB"
    if image_format == "png":  # lossless: the files hold exactly the generated pixels
        data = shapes.make_shapes(2, classes=("square", "plus"), size=16, seed=1)
        for index, label in enumerate(data.labels):
            path = folders["test"] / data.class_names[label] / f"{index:05d}.png"
            np.testing.assert_array_equal(np.asarray(Image.open(path)), data.images[index])


def test_write_image_folder_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    data = shapes.make_shapes(1, classes=("circle",))
    with pytest.raises(FileExistsError, match="not empty"):
        shapes.write_image_folder(tmp_path, data)


@pytest.mark.parametrize("kwargs, error", [
    ({"n_per_class": 0}, ValueError), ({"n_per_class": 2.0}, TypeError),
    ({"n_per_class": 2, "classes": ("circle", "circle")}, ValueError),
    ({"n_per_class": 2, "classes": ("blob",)}, ValueError),
    ({"n_per_class": 2, "background": "grass"}, ValueError),
    ({"n_per_class": 2, "size": 4}, ValueError),
])
def test_bad_arguments_raise_clear_errors(kwargs, error):
    with pytest.raises(error):
        shapes.make_shapes(**kwargs)
