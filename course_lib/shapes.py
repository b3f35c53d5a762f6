"""Synthetic shape images: an offline image-classification task of any size.

Each image is one filled shape (its class) at a random position, size, rotation and colour on a
background. Two disjoint groups of classes make a *source* task (pretraining, Chapter 7) and a
*target* task (transfer learning, Chapter 8); the background style is a second knob that changes
the domain (``"plain"`` vs ``"noise"``, ``"stripes"``, ``"checker"``).

- ``render_shape``: one image as an (H, W, 3) uint8 array; ``render_shape_with_mask`` the same
  image with the shape's pixel coverage; ``draw_shape_mask`` / ``draw_background`` the drawing
  primitives the multi-object scenes of ``course_lib.scenes`` are built from.
- ``make_shapes``: a labelled data set as numpy arrays (NHWC uint8, int64 labels).
- ``write_image_folder`` / ``make_shapes_folder``: the same written to disk as PNG or JPEG files
  in ``root/<split>/<class>/`` folders, the layout that ``torchvision.datasets.ImageFolder`` and
  ``keras.utils.image_dataset_from_directory`` read.

Everything is seeded: the same arguments give the same pixels on every machine.

Taught in: ch05 (image folders, augmentation), ch07 (pretraining), ch08 (transfer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHAPES = (
    "circle", "square", "triangle", "pentagon", "hexagon", "star", "plus", "ring",
    "crescent", "heart", "arrow", "semicircle", "ellipse", "rectangle", "cross", "diamond_ring",
)
SOURCE_CLASSES = SHAPES[:10]  # the pretraining task of Chapter 7
TARGET_CLASSES = SHAPES[10:]  # the transfer task of Chapter 8: shapes the source never showed
BACKGROUNDS = ("plain", "noise", "stripes", "checker")
IMAGE_FORMATS = ("png", "jpeg")
_SUPERSAMPLE = 4  # draw at 4x and downsample: smooth (anti-aliased) edges
SUPERSAMPLE = _SUPERSAMPLE  # the same, for modules that draw with the public functions below


@dataclass(frozen=True)
class ShapesData:
    """A labelled set of shape images: ``images`` (N, H, W, 3) uint8, ``labels`` (N,) int64."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def render_shape(
    name: str, *, size: int = 32, background: str = "plain", rng: np.random.Generator
) -> np.ndarray:
    """Draw one shape at a random position, scale, rotation and colour.

    Args:
        name: one of ``SHAPES``.
        size: image height = width in pixels (>= 8).
        background: one of ``BACKGROUNDS``.
        rng: the random generator that decides position, colours and the background pattern.

    Returns:
        An (size, size, 3) uint8 RGB image.
    """
    return _render(name, size, background, rng)[0]


def render_shape_with_mask(
    name: str, *, size: int = 32, background: str = "plain", rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``render_shape`` that also says where the shape is.

    Draws exactly what ``render_shape`` draws from the same ``rng`` state (same pixels, same
    random numbers used), so data sets built with it match ``make_shapes`` image for image.

    Returns:
        ``(image, coverage)``: the (size, size, 3) uint8 image and a (size, size) float64
        array, the fraction of each pixel the shape covers (0 outside, 1 inside, in between on
        its anti-aliased edge).

    Taught in: ch09 (planned), single-object localization (``course_lib.scenes``).
    """
    image, mask = _render(name, size, background, rng)
    return image, downsample_mask(mask, _SUPERSAMPLE)


def _render(name: str, size: int, background: str, rng: np.random.Generator):
    """The image of ``render_shape`` and the shape's mask at ``_SUPERSAMPLE`` times its size."""
    from PIL import Image, ImageDraw

    _check_choice(name, SHAPES, "name")
    _check_choice(background, BACKGROUNDS, "background")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}")
    big = size * _SUPERSAMPLE
    back_colour, shape_colour = _colours(rng)
    canvas = Image.fromarray(_background(background, big, back_colour, rng))
    radius = big * rng.uniform(0.22, 0.36)
    centre = big / 2 + rng.uniform(-1, 1, size=2) * (big / 2 - radius * 1.05)
    angle = rng.uniform(0, 2 * np.pi)
    mask = Image.new("L", (big, big), 0)
    _draw(ImageDraw.Draw(mask), name, centre, radius, angle)
    canvas.paste(Image.new("RGB", (big, big), shape_colour), mask=mask)
    image = np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)
    return image, np.asarray(mask) > 0


def draw_shape_mask(name: str, *, size: int, centre: Sequence[float], radius: float,
                    angle: float) -> np.ndarray:
    """The binary (size, size) mask of one shape, drawn as ``render_shape`` draws it.

    Args:
        name: one of ``SHAPES``.
        size: canvas height = width in pixels (draw at ``SUPERSAMPLE`` times the image size
            and ``downsample_mask`` it for smooth edges).
        centre: ``(x, y)`` in pixels; radius: in pixels; angle: rotation in radians.

    Taught in: ch09 (planned), multi-object scenes (``course_lib.scenes``).
    """
    from PIL import Image, ImageDraw

    _check_choice(name, SHAPES, "name")
    mask = Image.new("L", (int(size), int(size)), 0)
    _draw(ImageDraw.Draw(mask), name, tuple(float(c) for c in centre), float(radius),
          float(angle))
    return np.asarray(mask) > 0


def draw_background(style: str, size: int, colour: Sequence[int],
                    rng: np.random.Generator) -> np.ndarray:
    """A (size, size, 3) uint8 background of one of ``BACKGROUNDS`` in ``colour`` (RGB).

    ``size`` is the drawing size, ``SUPERSAMPLE`` times the image size (the ``"noise"``
    texture comes in blocks of ``SUPERSAMPLE`` pixels, one per final pixel).

    Taught in: ch09 (planned), multi-object scenes (``course_lib.scenes``).
    """
    _check_choice(style, BACKGROUNDS, "background")
    return _background(style, int(size), tuple(int(c) for c in colour), rng)


def downsample_mask(mask: np.ndarray, factor: int) -> np.ndarray:
    """(H*factor, W*factor) bool -> (H, W) float64: the fraction of each block that is True.

    Taught in: ch09 (planned), masks of anti-aliased shapes (``course_lib.scenes``).
    """
    mask = np.asarray(mask, dtype=np.float64)
    height, width = mask.shape[0] // factor, mask.shape[1] // factor
    return mask.reshape(height, factor, width, factor).mean(axis=(1, 3))


def make_shapes(
    n_per_class: int,
    *,
    classes: Sequence[str] = SOURCE_CLASSES,
    size: int = 32,
    background: str = "plain",
    seed: int = 0,
) -> ShapesData:
    """A balanced, shuffled data set of ``n_per_class`` images of each class.

    Returns:
        ``ShapesData`` with images (N, size, size, 3) uint8 and labels (N,) int64, where label
        ``i`` means ``classes[i]``.
    """
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)):
        raise TypeError(f"n_per_class must be an int, got {type(n_per_class).__name__}")
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    classes = tuple(classes)
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct names from SHAPES, got {classes}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(len(classes)), n_per_class))
    images = np.stack([
        render_shape(classes[label], size=size, background=background, rng=rng)
        for label in labels
    ])
    return ShapesData(images, labels.astype(np.int64), classes)


def write_image_folder(
    root: str | Path, data: ShapesData, *, image_format: str = "png"
) -> Path:
    """Write ``data`` as ``root/<class name>/<index>.<ext>`` image files; return ``root``.

    ``root`` must not exist yet or be empty, so files from an earlier run never mix in.
    """
    from PIL import Image

    _check_choice(image_format, IMAGE_FORMATS, "image_format")
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; pass a new folder (or delete it first)")
    for name in data.class_names:
        (root / name).mkdir(parents=True, exist_ok=True)
    extension = "png" if image_format == "png" else "jpg"
    for index, (image, label) in enumerate(zip(data.images, data.labels)):
        path = root / data.class_names[label] / f"{index:05d}.{extension}"
        Image.fromarray(image).save(path, **({"quality": 95} if extension == "jpg" else {}))
    return root


def make_shapes_folder(
    root: str | Path,
    n_per_class: Mapping[str, int],
    *,
    classes: Sequence[str] = SOURCE_CLASSES,
    size: int = 32,
    background: str = "plain",
    image_format: str = "png",
    seed: int = 0,
) -> dict[str, Path]:
    """Write a split image-folder data set: ``root/<split>/<class>/<index>.<ext>``.

    Args:
        n_per_class: images per class for each split, e.g. ``{"train": 100, "val": 30,
            "test": 30}``. Each split gets its own seed (``seed + position``), so splits never
            share an image.

    Returns:
        ``{split: folder}``, ready for ``ImageFolder(folder)`` or
        ``image_dataset_from_directory(folder)``.
    """
    if not n_per_class:
        raise ValueError("n_per_class must name at least one split, e.g. {'train': 100}")
    folders = {}
    for offset, (split, count) in enumerate(n_per_class.items()):
        data = make_shapes(count, classes=classes, size=size, background=background,
                           seed=seed + offset)
        folders[split] = write_image_folder(Path(root) / split, data, image_format=image_format)
    return folders


def _colours(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A background and a shape colour that differ clearly in brightness."""
    back = rng.integers(0, 256, size=3)
    shape = rng.integers(0, 256, size=3)
    while abs(int(shape.mean()) - int(back.mean())) < 60:
        shape = rng.integers(0, 256, size=3)
    return tuple(int(c) for c in back), tuple(int(c) for c in shape)


def _background(style: str, size: int, colour: tuple[int, ...], rng) -> np.ndarray:
    base = np.broadcast_to(np.array(colour, dtype=np.float64), (size, size, 3))
    if style == "plain":
        return base.astype(np.uint8)
    if style == "noise":
        pattern = rng.normal(0, 40, size=(size // _SUPERSAMPLE,) * 2)
        pattern = np.kron(pattern, np.ones((_SUPERSAMPLE, _SUPERSAMPLE)))
    else:
        period = size / rng.uniform(4, 8)
        rows, cols = np.mgrid[0:size, 0:size]
        stripes = np.floor(rows / period) % 2
        pattern = 45 * (stripes if style == "stripes" else (stripes + np.floor(cols / period)) % 2)
    return np.clip(base + pattern[..., None], 0, 255).astype(np.uint8)


def _polygon(centre, radius, angle, n, inner=None) -> list[tuple[float, float]]:
    """Vertices of a regular n-gon (a star when ``inner`` radius is given)."""
    count = 2 * n if inner else n
    thetas = angle + np.arange(count) * 2 * np.pi / count
    radii = np.where(np.arange(count) % 2, inner, radius) if inner else np.full(count, radius)
    return [(centre[0] + r * np.cos(t), centre[1] + r * np.sin(t)) for r, t in zip(radii, thetas)]


def _rotated(points, centre, angle) -> list[tuple[float, float]]:
    """Points given relative to ``centre`` in units of pixels, rotated by ``angle``."""
    cos, sin = np.cos(angle), np.sin(angle)
    return [(centre[0] + x * cos - y * sin, centre[1] + x * sin + y * cos) for x, y in points]


def _draw(draw, name: str, centre, r: float, angle: float) -> None:
    cx, cy = centre
    box = [cx - r, cy - r, cx + r, cy + r]
    inner_box = [cx - 0.55 * r, cy - 0.55 * r, cx + 0.55 * r, cy + 0.55 * r]
    sides = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6}
    degrees = np.degrees(angle)
    if name == "circle":
        draw.ellipse(box, fill=255)
    elif name in sides:
        draw.polygon(_polygon(centre, r, angle, sides[name]), fill=255)
    elif name == "star":
        draw.polygon(_polygon(centre, r, angle, 5, inner=0.42 * r), fill=255)
    elif name == "ring":
        draw.ellipse(box, fill=255)
        draw.ellipse(inner_box, fill=0)
    elif name == "diamond_ring":
        draw.polygon(_polygon(centre, r, angle, 4), fill=255)
        draw.polygon(_polygon(centre, 0.5 * r, angle, 4), fill=0)
    elif name == "crescent":
        draw.ellipse(box, fill=255)
        shift = _rotated([(0.45 * r, 0)], (0, 0), angle)[0]
        draw.ellipse([box[0] + shift[0], box[1] + shift[1], box[2] + shift[0],
                      box[3] + shift[1]], fill=0)
    elif name == "semicircle":
        draw.pieslice(box, start=degrees, end=degrees + 180, fill=255)
    else:
        draw.polygon(_rotated(_OUTLINES[name](r), centre, angle), fill=255)


_OUTLINES = {
    "plus": lambda r: [(x * r, y * r) for x, y in (
        (-0.3, -1), (0.3, -1), (0.3, -0.3), (1, -0.3), (1, 0.3), (0.3, 0.3), (0.3, 1),
        (-0.3, 1), (-0.3, 0.3), (-1, 0.3), (-1, -0.3), (-0.3, -0.3))],
    "cross": lambda r: [(x * r, y * r) for x, y in (
        (-0.15, -1), (0.15, -1), (0.15, -0.55), (0.7, -0.55), (0.7, -0.3), (0.15, -0.3),
        (0.15, 1), (-0.15, 1), (-0.15, -0.3), (-0.7, -0.3), (-0.7, -0.55), (-0.15, -0.55))],
    "arrow": lambda r: [(x * r, y * r) for x, y in (
        (-1, -0.25), (0.2, -0.25), (0.2, -0.7), (1, 0), (0.2, 0.7), (0.2, 0.25), (-1, 0.25))],
    "heart": lambda r: [
        (r * 0.06 * 16 * np.sin(t) ** 3,
         -r * 0.06 * (13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)))
        for t in np.linspace(0, 2 * np.pi, 40, endpoint=False)],
    "ellipse": lambda r: [(r * np.cos(t), 0.5 * r * np.sin(t))
                          for t in np.linspace(0, 2 * np.pi, 40, endpoint=False)],
    "rectangle": lambda r: [(-r, -0.45 * r), (r, -0.45 * r), (r, 0.45 * r), (-r, 0.45 * r)],
}


def _check_choice(value, choices: Sequence[str], arg: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{arg} must be a string, one of {list(choices)}; got {value!r}")
    if value not in choices:
        raise ValueError(f"unknown {arg} {value!r}; choose one of {list(choices)}")
    return value
