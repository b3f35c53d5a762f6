"""Tests of course_lib.scenes (and the drawing functions it adds to course_lib.shapes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from course_lib import scenes, shapes
from course_lib.boxes import box_iou
from course_lib.masks import mask_to_box

CLASSES = ("circle", "square", "triangle", "star", "ring")


@pytest.fixture(scope="module")
def scene_data() -> scenes.SceneData:
    return scenes.make_scenes(40, classes=CLASSES, size=48, objects=(2, 5), seed=3)


def interior(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` whose four neighbours are in it too (away from anti-aliased edges)."""
    padded = np.pad(mask, 1)
    return (mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2]
            & padded[1:-1, 2:])


@pytest.mark.parametrize("background", shapes.BACKGROUNDS)
def test_render_shape_with_mask_draws_what_render_shape_draws(background):
    for seed in range(4):
        name = shapes.SHAPES[seed * 3]
        image = shapes.render_shape(name, size=24, background=background,
                                    rng=np.random.default_rng(seed))
        rng = np.random.default_rng(seed)
        same, coverage = shapes.render_shape_with_mask(name, size=24, background=background,
                                                       rng=rng)
        np.testing.assert_array_equal(same, image)
        assert coverage.shape == (24, 24) and 0 <= coverage.min() and coverage.max() == 1
        # the rng moved on exactly as far as render_shape moves it
        twin = np.random.default_rng(seed)
        shapes.render_shape(name, size=24, background=background, rng=twin)
        assert rng.random() == twin.random()


def test_make_localization_matches_make_shapes_and_its_boxes_fit_its_masks():
    data = scenes.make_localization(4, classes=CLASSES, size=32, background="noise", seed=5)
    reference = shapes.make_shapes(4, classes=CLASSES, size=32, background="noise", seed=5)
    np.testing.assert_array_equal(data.images, reference.images)
    np.testing.assert_array_equal(data.labels, reference.labels)
    assert len(data) == 20 and data.class_names == CLASSES
    assert data.boxes.shape == (20, 4) and data.boxes.dtype == np.float64
    assert data.masks.shape == (20, 32, 32) and data.masks.dtype == bool
    for box, mask in zip(data.boxes, data.masks):
        assert mask.sum() > 20
        np.testing.assert_array_equal(box, mask_to_box(mask))
    assert np.all(data.boxes[:, :2] >= 0) and np.all(data.boxes[:, 2:] <= 32)


def off_colour_fraction(image: np.ndarray, regions) -> float:
    """Pooled over ``regions`` (bool masks): the fraction of interior pixels whose colour is not
    the region's most common colour. Flat-coloured shapes on a plain background give ~0 (only
    pixels that another shape's edge or a sharp tip crosses differ); a shifted or transposed
    mask gives far more."""
    off = total = 0
    for region in regions:
        pixels = image[interior(region)]
        if len(pixels):
            _, counts = np.unique(pixels, axis=0, return_counts=True)
            off, total = off + len(pixels) - counts.max(), total + len(pixels)
    return off / total


def test_localization_masks_cover_the_shape_colour():
    data = scenes.make_localization(3, classes=CLASSES, size=32, seed=0)
    regions = [(image, [mask, ~mask]) for image, mask in zip(data.images, data.masks)]
    assert np.mean([off_colour_fraction(image, masks) for image, masks in regions]) < 0.01
    assert np.mean([off_colour_fraction(image, [mask.T, ~mask.T])
                    for image, (mask, _) in regions]) > 0.05  # the check can fail


def test_make_scenes_shapes_and_label_conventions(scene_data):
    data = scene_data
    assert len(data) == 40 and data.images.shape == (40, 48, 48, 3)
    assert data.images.dtype == np.uint8
    assert data.class_maps.shape == data.instance_maps.shape == (40, 48, 48)
    assert data.class_maps.dtype == data.instance_maps.dtype == np.int64
    assert data.class_names == ("background", *CLASSES) and data.num_classes == 6
    counts = [len(labels) for labels in data.labels]
    assert min(counts) >= 2 and max(counts) <= 5 and len(set(counts)) > 1
    for boxes, labels in zip(data.boxes, data.labels):
        assert boxes.shape == (len(labels), 4) and boxes.dtype == np.float64
        assert labels.dtype == np.int64 and np.all((labels >= 1) & (labels <= 5))


def test_scene_masks_boxes_and_class_maps_agree(scene_data):
    data = scene_data
    for index in range(len(data)):
        masks = data.masks(index)
        assert masks.shape == (len(data.labels[index]), 48, 48)
        assert np.all(masks.sum(axis=0) <= 1)  # the masks of one image never overlap
        for box, mask in zip(data.boxes[index], masks):
            assert mask.sum() >= scenes.MIN_OBJECT_PIXELS
            np.testing.assert_array_equal(box, mask_to_box(mask))
        rebuilt = np.zeros((48, 48), dtype=np.int64)
        for label, mask in zip(data.labels[index], masks):
            rebuilt[mask] = label
        np.testing.assert_array_equal(rebuilt, data.class_maps[index])
        target = data.target(index)
        assert set(target) == {"boxes", "labels", "masks"} and target["masks"].dtype == np.uint8


def test_scene_masks_follow_the_pixels(scene_data):
    """Inside each mask the image has one colour (plain background, flat-coloured shapes)."""
    data = scene_data
    regions = [[data.class_maps[i] == 0, *data.masks(i)] for i in range(len(data))]
    fractions = [off_colour_fraction(image, masks) for image, masks in zip(data.images, regions)]
    assert np.mean(fractions) < 0.01
    transposed = [off_colour_fraction(image, [mask.T for mask in masks])
                  for image, masks in zip(data.images, regions)]
    assert np.mean(transposed) > 0.05


def test_scenes_have_overlapping_objects(scene_data):
    overlapping = sum(np.any(np.triu(box_iou(boxes, boxes), k=1) > 0)
                      for boxes in scene_data.boxes)
    assert overlapping >= 10


def test_make_scenes_is_deterministic(scene_data):
    again = scenes.make_scenes(40, classes=CLASSES, size=48, objects=(2, 5), seed=3)
    np.testing.assert_array_equal(again.images, scene_data.images)
    np.testing.assert_array_equal(again.instance_maps, scene_data.instance_maps)
    for a, b in zip(again.boxes, scene_data.boxes):
        np.testing.assert_array_equal(a, b)
    other = scenes.make_scenes(40, classes=CLASSES, size=48, objects=(2, 5), seed=4)
    assert not np.array_equal(other.images, scene_data.images)


@pytest.mark.parametrize("background", ["noise", "checker"])
def test_make_scenes_on_textured_backgrounds(background):
    data = scenes.make_scenes(3, size=32, background=background, seed=0)
    assert data.images.shape == (3, 32, 32, 3)
    assert data.images[data.class_maps == 0].std(axis=0).max() > 0


def test_write_and_read_scenes_round_trip(tmp_path, scene_data):
    folder = scenes.write_scenes(tmp_path / "scenes", scene_data)
    assert (folder / "annotations.json").is_file()
    assert len(list((folder / "images").glob("*.png"))) == 40
    back = scenes.read_scenes(folder)
    assert back.class_names == scene_data.class_names
    for field in ("images", "class_maps", "instance_maps"):
        np.testing.assert_array_equal(getattr(back, field), getattr(scene_data, field))
    for name in ("boxes", "labels"):
        for a, b in zip(getattr(back, name), getattr(scene_data, name)):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype
    coco = json.loads((folder / "annotations.json").read_text())
    first = coco["annotations"][0]
    assert first["id"] == 1 and first["image_id"] == 1 and first["iscrowd"] == 0
    x0, y0, x1, y1 = scene_data.boxes[0][0]
    assert first["bbox"] == [x0, y0, x1 - x0, y1 - y0]
    assert first["area"] == int(scene_data.masks(0)[0].sum())
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3, 4, 5]


def test_pycocotools_reads_the_annotation_file(tmp_path, scene_data):
    coco_module = pytest.importorskip("pycocotools.coco")
    folder = scenes.write_scenes(tmp_path / "scenes", scene_data)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        coco = coco_module.COCO(str(folder / "annotations.json"))
    for index in (0, 7, 39):
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[index + 1]))
        masks = scene_data.masks(index)
        assert len(annotations) == len(masks)
        for annotation, mask, label in zip(annotations, masks, scene_data.labels[index]):
            np.testing.assert_array_equal(coco.annToMask(annotation), mask)
            assert annotation["category_id"] == label


def test_make_scenes_folder_gives_each_split_its_own_images(tmp_path):
    folders = scenes.make_scenes_folder(tmp_path, {"train": 3, "test": 2}, size=32, seed=0)
    train, test = (scenes.read_scenes(folders[split]) for split in ("train", "test"))
    assert len(train) == 3 and len(test) == 2
    np.testing.assert_array_equal(train.images, scenes.make_scenes(3, size=32, seed=0).images)
    assert not np.array_equal(train.images[:2], test.images)


def test_write_scenes_refuses_a_non_empty_folder(tmp_path, scene_data):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        scenes.write_scenes(tmp_path, scene_data)


def test_read_scenes_rejects_other_folders(tmp_path, scene_data):
    with pytest.raises(ValueError, match="annotations.json"):
        scenes.read_scenes(tmp_path)
    (tmp_path / "annotations.json").write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="not a"):
        scenes.read_scenes(tmp_path)
    folder = scenes.write_scenes(tmp_path / "s", scenes.make_scenes(2, size=32, seed=0))
    from PIL import Image

    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(folder / "class_maps/000001.png")
    with pytest.raises(ValueError, match="disagrees"):
        scenes.read_scenes(folder)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_images": 0}, ValueError, ">= 1"),
    ({"n_images": 2.0}, TypeError, "int"),
    ({"classes": ("circle", "blob")}, ValueError, "shapes.SHAPES"),
    ({"classes": ("circle", "circle")}, ValueError, "distinct"),
    ({"size": 8}, ValueError, "size"),
    ({"objects": (3, 1)}, ValueError, "fewest"),
    ({"objects": (0, 2)}, ValueError, "fewest"),
    ({"radius": (0.3, 0.6)}, ValueError, "radius"),
    ({"min_visible": 0}, ValueError, "min_visible"),
    ({"background": "sky"}, ValueError, "background"),
])
def test_make_scenes_rejects_bad_arguments(kwargs, error, match):
    args = {"n_images": 2, **kwargs}
    with pytest.raises(error, match=match):
        scenes.make_scenes(args.pop("n_images"), **args)


def test_make_localization_rejects_bad_arguments():
    with pytest.raises(ValueError, match=">= 1"):
        scenes.make_localization(0)
    with pytest.raises(ValueError, match="shapes.SHAPES"):
        scenes.make_localization(1, classes=("circle", "blob"))
