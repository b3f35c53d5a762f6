"""Labelled images for localization, detection and segmentation, drawn by ``course_lib.shapes``.

Because the course draws its objects itself, it knows exactly where they are. Two data sets:

- ``make_localization``: one shape per image (the images of ``shapes.make_shapes``, pixel for
  pixel, for the same arguments) with its class, box and mask: a classifier with a box head.
- ``make_scenes``: several shapes per image on a background, later ones in front of earlier
  ones (partly hiding them), with every object's box, class and mask, and the image's class map:
  detection, semantic and instance segmentation.

Label conventions (the ones torchvision, COCO and Pascal VOC use):

- Boxes are xyxy in pixel-edge coordinates (``course_lib.boxes``), float64: the tightest box
  around the object's mask, ``masks.mask_to_box(mask)``, so box and mask always agree.
- A mask covers the pixels where the object is the largest part of the (anti-aliased) pixel,
  after occlusion: the visible part of the object, as COCO annotates it. The masks of one image
  never overlap.
- In scenes, class ``0`` is the background and objects have labels ``1..K`` naming
  ``class_names[label]`` (``class_names[0] == "background"``), as torchvision's detection
  models and VOC's class maps expect. In localization data, as in classification, labels are
  ``0..K-1`` into ``class_names``: there is always exactly one object.

On disk (``write_scenes`` / ``read_scenes``, COCO style)::

    root/annotations.json       COCO: "images", "annotations", "categories" (ids 1..K)
    root/images/000000.png      RGB image
    root/class_maps/000000.png  8-bit grey PNG, pixel value = class (0 = background), as VOC's
                                SegmentationClass

Each annotation has ``"bbox"`` ``[x, y, w, h]`` (COCO's xywh), ``"area"`` (mask pixels),
``"iscrowd": 0`` and ``"segmentation"``, an uncompressed RLE ``{"size": [H, W], "counts":
[...]}`` (``masks.rle_encode``). Annotations of an image are listed back to front, the
drawing order. ``pycocotools.coco.COCO`` reads the file as is.

Everything is seeded: the same arguments give the same data on every machine.

Taught in: ch09 (planned): tasks and their labels, localization, segmentation, detection.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_lib import shapes
from course_lib.boxes import box_convert
from course_lib.masks import mask_to_box, rle_decode, rle_encode

MAX_PLACEMENT_TRIES = 50  # random placements tried per object before the scene stops growing
MIN_OBJECT_PIXELS = 6  # an object must keep at least this many mask pixels in the image
SCENE_FORMAT = "course_lib.scenes/1"  # written to annotations.json "info"; read back checked


@dataclass(frozen=True)
class LocalizationData:
    """One object per image: ``images`` (N, H, W, 3) uint8, ``labels`` (N,) int64 in
    ``0..K-1``, ``boxes`` (N, 4) float64 xyxy, ``masks`` (N, H, W) bool, ``class_names``."""

    images: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    masks: np.ndarray
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class SceneData:
    """Multi-object scenes.

    Attributes:
        images: (N, H, W, 3) uint8.
        class_maps: (N, H, W) int64; 0 background, ``k`` the class ``class_names[k]``.
        instance_maps: (N, H, W) int64; 0 background, ``j + 1`` the j-th object of the image.
        boxes: per image, (n_i, 4) float64 xyxy boxes (a tuple of N arrays).
        labels: per image, (n_i,) int64 classes in ``1..K`` (a tuple of N arrays).
        class_names: ``("background", *classes)``.
    """

    images: np.ndarray
    class_maps: np.ndarray
    instance_maps: np.ndarray
    boxes: tuple[np.ndarray, ...]
    labels: tuple[np.ndarray, ...]
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        """Classes including the background (K + 1)."""
        return len(self.class_names)

    def masks(self, index: int) -> np.ndarray:
        """The (n_i, H, W) bool masks of image ``index``'s objects, in the order of its boxes."""
        count = len(self.labels[index])
        return self.instance_maps[index][None] == np.arange(1, count + 1)[:, None, None]

    def target(self, index: int) -> dict[str, np.ndarray]:
        """Image ``index``'s labels as torchvision detection models take them (as numpy):
        ``{"boxes": (n, 4) xyxy, "labels": (n,), "masks": (n, H, W) uint8}``."""
        return {"boxes": self.boxes[index], "labels": self.labels[index],
                "masks": self.masks(index).astype(np.uint8)}


def make_localization(
    n_per_class: int,
    *,
    classes: Sequence[str] = shapes.SOURCE_CLASSES,
    size: int = 32,
    background: str = "plain",
    seed: int = 0,
) -> LocalizationData:
    """A balanced, shuffled single-object set with boxes and masks.

    The images and labels equal ``shapes.make_shapes`` with the same arguments, so a model
    pretrained on those shapes (Chapter 7) sees familiar images.

    Returns:
        ``LocalizationData``; label ``i`` means ``classes[i]``.

    Taught in: ch09 (planned), localization as regression.
    """
    _check_count(n_per_class, "n_per_class")
    classes = _check_classes(classes)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(len(classes)), n_per_class))
    images, masks = [], []
    for label in labels:
        image, coverage = shapes.render_shape_with_mask(classes[label], size=size,
                                                        background=background, rng=rng)
        images.append(image)
        masks.append(coverage > 0.5)  # the object is more than half of the pixel
    boxes = np.stack([mask_to_box(mask) for mask in masks])
    return LocalizationData(np.stack(images), labels.astype(np.int64), boxes, np.stack(masks),
                            classes)


def make_scenes(
    n_images: int,
    *,
    classes: Sequence[str] = shapes.SOURCE_CLASSES,
    size: int = 64,
    objects: tuple[int, int] = (1, 4),
    radius: tuple[float, float] = (0.1, 0.2),
    background: str = "plain",
    min_visible: float = 0.6,
    seed: int = 0,
) -> SceneData:
    """Images of several shapes each, with boxes, labels, masks and class maps.

    Args:
        n_images: how many scenes.
        classes: the object classes (names from ``shapes.SHAPES``); labels are 1-based.
        size: image height = width in pixels (>= 16).
        objects: ``(fewest, most)`` objects per image, each count equally likely. A crowded
            scene may end with fewer when no free place is found.
        radius: the range of object radii as fractions of ``size``.
        background: one of ``shapes.BACKGROUNDS``.
        min_visible: every object keeps at least this fraction of its area visible when
            later objects overlap it (0 < min_visible <= 1; 1 means no overlaps).
        seed: the random seed.

    Returns:
        ``SceneData``.

    Taught in: ch09 (planned), detection and segmentation.
    """
    _check_count(n_images, "n_images")
    classes = _check_classes(classes)
    if background not in shapes.BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; choose one of "
                         f"{list(shapes.BACKGROUNDS)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an int >= 16, got {size!r}")
    if not (len(objects) == 2 and 1 <= min(objects) and objects[0] <= objects[1]):
        raise ValueError(f"objects must be (fewest, most) with 1 <= fewest <= most, got "
                         f"{objects}")
    if not (len(radius) == 2 and 0.02 <= radius[0] <= radius[1] <= 0.45):
        raise ValueError(f"radius must be (low, high) fractions of size, 0.02 <= low <= high "
                         f"<= 0.45; got {radius}")
    if not 0 < min_visible <= 1:
        raise ValueError(f"min_visible must be in (0, 1], got {min_visible}")
    rng = np.random.default_rng(seed)
    scenes = [_render_scene(rng, len(classes), size, objects, radius, background, min_visible,
                            classes) for _ in range(n_images)]
    images, instance_maps, labels = (list(parts) for parts in zip(*scenes))
    return _assemble(np.stack(images), np.stack(instance_maps), labels, classes)


def _render_scene(rng, num_classes, size, objects, radius, background, min_visible, classes):
    """One scene: (H, W, 3) image, (H, W) instance map, (n,) labels (1-based)."""
    from PIL import Image

    big = size * shapes.SUPERSAMPLE
    back_colour = rng.integers(0, 256, size=3)
    target = int(rng.integers(objects[0], objects[1] + 1))
    placed: list[tuple[int, np.ndarray, np.ndarray]] = []  # (label, full mask, colour)
    for _ in range(target):
        for _ in range(MAX_PLACEMENT_TRIES):
            candidate = _random_object(rng, num_classes, big, radius, classes)
            instance_map = _instance_map([m for _, m, _ in placed] + [candidate[1]], size,
                                         min_visible)
            if instance_map is not None:
                colour = _object_colour(rng, back_colour, [c for _, _, c in placed])
                placed.append((candidate[0], candidate[1], colour))
                break
        else:
            break  # no room for another object
    if not placed:
        raise RuntimeError(f"could not place any object in {MAX_PLACEMENT_TRIES} tries; use a "
                           "smaller radius or a larger size")
    canvas = Image.fromarray(shapes.draw_background(background, big, back_colour, rng))
    for _, full, colour in placed:
        canvas.paste(tuple(int(c) for c in colour), mask=Image.fromarray(full))
    image = np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)
    instance_map = _instance_map([m for _, m, _ in placed], size, min_visible)
    return image, instance_map, np.array([label for label, _, _ in placed], dtype=np.int64)


def _random_object(rng, num_classes, big, radius, classes):
    label = int(rng.integers(num_classes)) + 1
    r = big * rng.uniform(*radius)
    centre = r * 1.05 + rng.uniform(0, 1, size=2) * (big - 2.1 * r)  # fully inside the image
    angle = rng.uniform(0, 2 * np.pi)
    full = shapes.draw_shape_mask(classes[label - 1], size=big, centre=centre, radius=r,
                                  angle=angle)
    return label, full


def _instance_map(full_masks, size, min_visible):
    """(H, W) int64 map of the objects (drawn in order; later in front), or None when an
    object would keep less than ``min_visible`` of its area or fewer than
    ``MIN_OBJECT_PIXELS`` pixels."""
    coverages = [np.zeros((size, size))]  # slot 0: background, filled in below
    hidden = np.zeros_like(full_masks[0])
    for full in reversed(full_masks):  # front to back: each hides what lies behind it
        visible = full & ~hidden
        if visible.sum() < min_visible * full.sum():
            return None
        coverages.insert(1, shapes.downsample_mask(visible, shapes.SUPERSAMPLE))
        hidden |= full
    coverages[0] = 1.0 - np.sum(coverages[1:], axis=0)
    instance_map = np.argmax(np.stack(coverages), axis=0)  # (n + 1, H, W) -> (H, W)
    counts = np.bincount(instance_map.ravel(), minlength=len(coverages))
    if np.any(counts[1:] < MIN_OBJECT_PIXELS):
        return None
    return instance_map.astype(np.int64)


def _object_colour(rng, back_colour, others) -> np.ndarray:
    """A colour that stands out from the background (brightness) and from earlier objects."""
    for _ in range(100):
        colour = rng.integers(0, 256, size=3)
        far_from_back = abs(int(colour.mean()) - int(back_colour.mean())) >= 60
        if far_from_back and all(np.abs(colour - other).sum() >= 90 for other in others):
            return colour
    return colour


def _assemble(images, instance_maps, labels, classes) -> SceneData:
    """SceneData from images, instance maps and per-image labels (1-based)."""
    class_maps = np.stack([np.concatenate([[0], image_labels])[instance_map]
                           for instance_map, image_labels in zip(instance_maps, labels)])
    boxes = tuple(
        np.stack([mask_to_box(instance_map == j + 1) for j in range(len(image_labels))])
        if len(image_labels) else np.zeros((0, 4))
        for instance_map, image_labels in zip(instance_maps, labels))
    return SceneData(images, class_maps.astype(np.int64), instance_maps.astype(np.int64),
                     boxes, tuple(np.asarray(item, dtype=np.int64) for item in labels),
                     ("background", *classes))


def write_scenes(root: str | Path, data: SceneData) -> Path:
    """Write ``data`` as a COCO-style folder (see the module docstring); return ``root``.

    ``root`` must not exist yet or be empty, so files from an earlier run never mix in.

    Taught in: ch09 (planned)
    """
    from PIL import Image

    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; pass a new folder (or delete it first)")
    if data.num_classes > 256:
        raise ValueError("class maps are 8-bit PNGs: at most 255 classes")
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "class_maps").mkdir(exist_ok=True)
    images, annotations = [], []
    for index in range(len(data)):
        name = f"{index:06d}.png"
        Image.fromarray(data.images[index]).save(root / "images" / name)
        Image.fromarray(data.class_maps[index].astype(np.uint8)).save(  # 8-bit grey
            root / "class_maps" / name)
        height, width = data.images.shape[1:3]
        images.append({"id": index + 1, "file_name": f"images/{name}", "height": int(height),
                       "width": int(width), "class_map": f"class_maps/{name}"})
        for box, label, mask in zip(data.boxes[index], data.labels[index], data.masks(index)):
            annotations.append({
                "id": len(annotations) + 1, "image_id": index + 1, "category_id": int(label),
                "bbox": [float(v) for v in box_convert(box, "xyxy", "xywh")[0]],
                "area": int(mask.sum()), "iscrowd": 0, "segmentation": rle_encode(mask)})
    categories = [{"id": k, "name": name, "supercategory": "shape"}
                  for k, name in enumerate(data.class_names) if k > 0]
    coco = {"info": {"description": "course_lib.scenes shapes", "format": SCENE_FORMAT},
            "images": images, "annotations": annotations, "categories": categories}
    (root / "annotations.json").write_text(json.dumps(coco))
    return root


def read_scenes(root: str | Path) -> SceneData:
    """Read a folder written by ``write_scenes`` back into ``SceneData`` (exactly).

    Raises:
        ValueError: if the folder is not in that format or its class-map PNGs disagree with
            the annotations.

    Taught in: ch09 (planned)
    """
    from PIL import Image

    root = Path(root)
    path = root / "annotations.json"
    if not path.is_file():
        raise ValueError(f"{root} has no annotations.json; write it with write_scenes")
    coco = json.loads(path.read_text())
    if coco.get("info", {}).get("format") != SCENE_FORMAT:
        raise ValueError(f"{path} is not a {SCENE_FORMAT} annotation file")
    names = {c["id"]: c["name"] for c in coco["categories"]}
    if sorted(names) != list(range(1, len(names) + 1)):
        raise ValueError("categories must have ids 1..K")
    by_image: dict[int, list[dict]] = {info["id"]: [] for info in coco["images"]}
    for annotation in coco["annotations"]:
        by_image[annotation["image_id"]].append(annotation)
    images, instance_maps, labels = [], [], []
    for info in coco["images"]:
        with Image.open(root / info["file_name"]) as image:
            images.append(np.asarray(image.convert("RGB")))
        instance_map = np.zeros((info["height"], info["width"]), dtype=np.int64)
        for j, annotation in enumerate(by_image[info["id"]]):
            instance_map[rle_decode(annotation["segmentation"])] = j + 1
        instance_maps.append(instance_map)
        labels.append([a["category_id"] for a in by_image[info["id"]]])
    data = _assemble(np.stack(images), np.stack(instance_maps), labels,
                     tuple(names[k] for k in range(1, len(names) + 1)))
    for index, info in enumerate(coco["images"]):
        with Image.open(root / info["class_map"]) as class_map:
            if not np.array_equal(np.asarray(class_map), data.class_maps[index]):
                raise ValueError(f"{info['class_map']} disagrees with the annotations")
    return data


def make_scenes_folder(root: str | Path, n_images: Mapping[str, int], *,
                       seed: int = 0, **scene_args) -> dict[str, Path]:
    """Write split scene folders ``root/<split>/`` (e.g. ``{"train": 500, "test": 100}``).

    Each split gets its own seed (``seed + position``), so splits never share an image;
    ``scene_args`` go to ``make_scenes``. Returns ``{split: folder}``.

    Taught in: ch09 (planned)
    """
    if not n_images:
        raise ValueError("n_images must name at least one split, e.g. {'train': 100}")
    return {split: write_scenes(Path(root) / split,
                                make_scenes(count, seed=seed + offset, **scene_args))
            for offset, (split, count) in enumerate(n_images.items())}


def _check_count(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


def _check_classes(classes) -> tuple[str, ...]:
    classes = tuple(classes)
    if not classes or len(set(classes)) != len(classes) or not set(classes) <= set(
            shapes.SHAPES):
        raise ValueError(f"classes must be distinct names from shapes.SHAPES, got {classes}")
    return classes
