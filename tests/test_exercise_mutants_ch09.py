"""Mutants and variants of the Chapter 9 exercises (issue 18): boxes, masks, RLE, AP, decoder
sizes and the center-heatmap target encoder.

Same machinery as ``tests/test_exercise_mutants.py`` (``tests/exercise_mutants.py``): each
wrong answer replaces the instructor's answer and must fail a visible test cell of its part;
each correct answer written differently must pass every test cell, hidden tests included.
``CH09`` is run there, as part of ``CHAPTERS``.
"""

from __future__ import annotations

from exercise_mutants import mutant, variant

BOX_CONVERT = [
    mutant("ch09-box-convert", "xywh-second-pair-taken-as-corner",
           ("corner0, corner1 = first, first + second",
            "corner0, corner1 = first, second")),
    mutant("ch09-box-convert", "center-minus-the-full-size",
           ("first - second / 2, first + second / 2", "first - second, first + second")),
    mutant("ch09-box-convert", "keeps-integer-dtype",
           ("np.array(boxes, dtype=np.float64)", "np.array(boxes)")),
    mutant("ch09-box-convert", "no-error-for-unknown-formats",
           ("if in_fmt not in known or out_fmt not in known:", "if False:")),
    mutant("ch09-box-convert", "cxcywh-written-as-size-then-center",
           ("pairs = ((corner0 + corner1) / 2, corner1 - corner0)",
            "pairs = (corner1 - corner0, (corner0 + corner1) / 2)")),
    mutant("ch09-box-convert", "in-place-into-boxes", source='''
def box_convert(boxes, in_fmt, out_fmt):
    if {in_fmt, out_fmt} - {"xyxy", "xywh", "cxcywh"}:
        raise ValueError("unknown format")
    b = np.asarray(boxes, dtype=np.float64)  # no copy for float64 input
    if in_fmt == "xywh":
        b[:, 2:] += b[:, :2]
    elif in_fmt == "cxcywh":
        b[:, :2] -= b[:, 2:] / 2
        b[:, 2:] += b[:, :2]
    if out_fmt == "xywh":
        b[:, 2:] -= b[:, :2]
    elif out_fmt == "cxcywh":
        b[:, 2:] -= b[:, :2]
        b[:, :2] += b[:, 2:] / 2
    return b.copy()
'''),
    variant("ch09-box-convert", "column-by-column-with-stack", source='''
def box_convert(boxes, in_fmt, out_fmt):
    if in_fmt not in ("xyxy", "xywh", "cxcywh"):
        raise ValueError(in_fmt)
    if out_fmt not in ("xyxy", "xywh", "cxcywh"):
        raise ValueError(out_fmt)
    a, b, c, d = np.asarray(boxes, dtype=float).reshape(-1, 4).T
    if in_fmt == "xywh":
        x0, y0, x1, y1 = a, b, a + c, b + d
    elif in_fmt == "cxcywh":
        x0, y0, x1, y1 = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    else:
        x0, y0, x1, y1 = a, b, c, d
    if out_fmt == "xywh":
        columns = [x0, y0, x1 - x0, y1 - y0]
    elif out_fmt == "cxcywh":
        columns = [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]
    else:
        columns = [x0, y0, x1, y1]
    return np.stack(columns, axis=1).astype(np.float64)
'''),
]

BOX_IOU = [
    mutant("ch09-box-iou", "clips-the-product-not-the-sides",
           ("np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)",
            "np.clip((right - left) * (bottom - top), 0, None)")),
    mutant("ch09-box-iou", "union-counts-the-overlap-twice",
           ("area1[:, None] + area2[None, :] - inter", "area1[:, None] + area2[None, :]")),
    mutant("ch09-box-iou", "nan-for-an-empty-union",
           ("np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)",
            "inter / union")),
    mutant("ch09-box-iou", "float32",
           ("np.asarray(boxes1, dtype=np.float64)", "np.asarray(boxes1, dtype=np.float32)"),
           ("np.asarray(boxes2, dtype=np.float64)", "np.asarray(boxes2, dtype=np.float32)")),
    mutant("ch09-box-iou", "transposed-result-m-by-n",
           ("return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)",
            "return np.divide(inter, union, out=np.zeros_like(inter), "
            "where=union > 0).T")),
    variant("ch09-box-iou", "double-loop", source='''
def box_iou(boxes1, boxes2):
    boxes1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    boxes2 = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    out = np.zeros((len(boxes1), len(boxes2)))
    for n, (a0, b0, a1, b1) in enumerate(boxes1):
        for m, (c0, d0, c1, d1) in enumerate(boxes2):
            w = max(0.0, min(a1, c1) - max(a0, c0))
            h = max(0.0, min(b1, d1) - max(b0, d0))
            union = (a1 - a0) * (b1 - b0) + (c1 - c0) * (d1 - d0) - w * h
            out[n, m] = w * h / union if union > 0 else 0.0
    return out
'''),
    variant("ch09-box-iou", "split-corners-and-nan-to-num", source='''
def box_iou(boxes1, boxes2):
    a = np.asarray(boxes1, dtype=np.float64).reshape(-1, 1, 4)  # (N, 1, 4)
    b = np.asarray(boxes2, dtype=np.float64).reshape(1, -1, 4)  # (1, M, 4)
    lo = np.maximum(a[..., :2], b[..., :2])
    hi = np.minimum(a[..., 2:], b[..., 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area_a = np.prod(a[..., 2:] - a[..., :2], axis=-1)
    area_b = np.prod(b[..., 2:] - b[..., :2], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / (area_a + area_b - inter)
    return np.nan_to_num(iou, nan=0.0)
'''),
]

NMS = [
    mutant("ch09-nms", "reversed-ascending-sort-flips-ties",
           ('np.argsort(-scores, kind="stable")', "np.argsort(scores)[::-1]")),
    mutant("ch09-nms", "removes-at-equal-iou",
           ("alive &= overlaps[i] <= iou_threshold", "alive &= overlaps[i] < iou_threshold")),
    mutant("ch09-nms", "indices-in-input-order",
           ("return np.array(keep, dtype=np.int64)",
            "return np.array(sorted(keep), dtype=np.int64)")),
    mutant("ch09-nms", "float-indices",
           ("return np.array(keep, dtype=np.int64)",
            "return np.array(keep, dtype=np.float64)")),
    mutant("ch09-nms", "empty-result-is-float",
           ("return np.array(keep, dtype=np.int64)", "return np.array(keep)")),
    mutant("ch09-nms", "removed-boxes-still-suppress", source='''
def nms(boxes, scores, iou_threshold):
    scores = np.asarray(scores, dtype=np.float64)
    overlaps = np.asarray(box_iou(boxes, boxes))
    alive = np.ones(len(scores), dtype=bool)
    keep = []
    for i in np.argsort(-scores, kind="stable"):
        if alive[i]:
            keep.append(i)
        alive &= overlaps[i] <= iou_threshold  # also from a removed box
    return np.array(keep, dtype=np.int64)
'''),
    variant("ch09-nms", "shrinking-list-of-candidates", source='''
def nms(boxes, scores, iou_threshold):
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = list(np.argsort(-np.asarray(scores, dtype=float), kind="mergesort"))
    keep = []
    while order:
        best, order = order[0], order[1:]
        keep.append(int(best))
        if order:
            overlaps = box_iou(boxes[best:best + 1], boxes[order])[0]
            order = [i for i, o in zip(order, overlaps) if o <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)
'''),
    variant("ch09-nms", "list-of-python-ints", source='''
def nms(boxes, scores, iou_threshold):
    overlaps = box_iou(boxes, boxes)
    ranked = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    keep = []
    for i in ranked:
        if all(overlaps[i][j] <= iou_threshold for j in keep):
            keep.append(i)
    return np.array(keep, dtype=np.int64).reshape(-1)
'''),
]

MASK_IOU_DICE = [
    mutant("ch09-mask-iou-dice", "sum-as-union-of-0-1-integers", source='''
def mask_iou_dice(pred, target):
    a, b = np.asarray(pred), np.asarray(target)
    inter = (a * b).sum(axis=(1, 2)).astype(np.float64)
    union = (a + b).sum(axis=(1, 2))  # a + b is "or" only for bools
    total = a.sum(axis=(1, 2)) + b.sum(axis=(1, 2))
    iou = np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
    dice = np.divide(2 * inter, total, out=np.ones_like(inter), where=total > 0)
    return iou, dice
'''),
    mutant("ch09-mask-iou-dice", "both-empty-gives-0",
           ("iou = np.divide(inter, union, out=np.ones_like(inter), where=union > 0)",
            "iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)"),
           ("2 * inter, total, out=np.ones_like(inter), where=total > 0",
            "2 * inter, total, out=np.zeros_like(inter), where=total > 0")),
    mutant("ch09-mask-iou-dice", "sums-over-the-whole-batch",
           ("np.logical_and(a, b).sum(axis=(1, 2))", "np.logical_and(a, b).sum()"),
           ("total = a.sum(axis=(1, 2)) + b.sum(axis=(1, 2))", "total = a.sum() + b.sum()")),
    mutant("ch09-mask-iou-dice", "dice-without-the-factor-2",
           ("2 * inter, total,", "inter, total,")),
    mutant("ch09-mask-iou-dice", "float32",
           (".sum(axis=(1, 2)).astype(np.float64)", ".sum(axis=(1, 2)).astype(np.float32)")),
    variant("ch09-mask-iou-dice", "loop-and-dice-from-iou", source='''
def mask_iou_dice(pred, target):
    ious = []
    for p, t in zip(np.asarray(pred) != 0, np.asarray(target) != 0):
        union = np.count_nonzero(p | t)
        ious.append(np.count_nonzero(p & t) / union if union else 1.0)
    iou = np.array(ious, dtype=np.float64).reshape(-1)
    return iou, 2 * iou / (1 + iou)
'''),
]

RLE_ENCODE = [
    mutant("ch09-rle-encode", "row-major-order",
           ('mask.astype(bool).ravel(order="F")', "mask.astype(bool).ravel()")),
    mutant("ch09-rle-encode", "no-leading-zero-run",
           ("        runs.insert(0, 0)  # the first run is always a run of 0s\n",
            "        pass\n")),
    mutant("ch09-rle-encode", "numpy-integers-in-counts",
           ('"counts": [int(r) for r in runs]', '"counts": [np.int64(r) for r in runs]')),
    mutant("ch09-rle-encode", "size-as-width-height",
           ('"size": [int(height), int(width)]', '"size": [int(width), int(height)]')),
    mutant("ch09-rle-encode", "trailing-run-of-zeros", source='''
def rle_encode(mask):
    mask = np.asarray(mask)
    flat = mask.astype(bool).ravel(order="F")
    starts = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], starts, [flat.size]])).tolist()
    if flat.size and flat[0]:
        runs.insert(0, 0)
    if len(runs) % 2 == 0:
        runs.append(0)  # "end on a run of 0s" is not COCO's rule
    return {"size": [int(s) for s in mask.shape], "counts": [int(r) for r in runs]}
'''),
    variant("ch09-rle-encode", "walk-the-pixels", source='''
def rle_encode(mask):
    mask = np.asarray(mask)
    counts, current, run = [], 0, 0
    for column in range(mask.shape[1]):
        for row in range(mask.shape[0]):
            pixel = 1 if mask[row, column] else 0
            if pixel != current:
                counts.append(run)
                current, run = pixel, 0
            run += 1
    counts.append(run)
    return {"size": list(map(int, mask.shape)), "counts": counts}
'''),
    variant("ch09-rle-encode", "transpose-then-diff", source='''
def rle_encode(mask):
    m = np.asarray(mask, dtype=bool)
    flat = np.concatenate([[False], m.T.reshape(-1), [not m.T.reshape(-1)[-1]]])
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges[-1] = m.size + 1
    counts = np.diff(np.concatenate([[1], edges])).tolist()
    return {"size": [m.shape[0], m.shape[1]], "counts": counts}
'''),
]

RLE_DECODE = [
    mutant("ch09-rle-decode", "row-major-reshape",
           ("return flat.reshape((width, height)).T", "return flat.reshape((height, width))")),
    mutant("ch09-rle-decode", "starts-with-ones",
           ("zip(position[1::2], position[2::2])", "zip(position[0::2], position[1::2])")),
    mutant("ch09-rle-decode", "uint8-mask",
           ("return flat.reshape((width, height)).T",
            "return flat.reshape((width, height)).T.astype(np.uint8)")),
    mutant("ch09-rle-decode", "width-by-height",
           ("return flat.reshape((width, height)).T", "return flat.reshape((width, height))")),
    variant("ch09-rle-decode", "repeat-fortran-order", source='''
def rle_decode(rle):
    height, width = rle["size"]
    counts = list(rle["counts"])
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape((height, width), order="F")
'''),
]

AVERAGE_PRECISION = [
    mutant("ch09-average-precision", "ascending-sort-reversed-flips-ties",
           ('np.argsort(-scores, kind="stable")', "np.argsort(scores)[::-1]")),
    mutant("ch09-average-precision", "no-envelope",
           ("best_after = np.maximum.accumulate(precision[::-1])[::-1]",
            "best_after = precision")),
    mutant("ch09-average-precision", "unreached-recall-keeps-last-precision",
           ("reached, best_after[np.minimum(first, hits.size - 1)], 0",
            "True, best_after[np.minimum(first, hits.size - 1)], 0")),
    mutant("ch09-average-precision", "precision-over-all-detections",
           ("precision = tp / np.arange(1, hits.size + 1)", "precision = tp / hits.size")),
    mutant("ch09-average-precision", "crashes-without-detections",
           ("    if hits.size == 0:\n        return 0.0\n", "")),
    mutant("ch09-average-precision", "voc-all-points-area", source='''
def average_precision(scores, is_tp, num_gt):
    scores = np.asarray(scores, dtype=np.float64)
    hits = np.asarray(is_tp).astype(bool)[np.argsort(-scores, kind="stable")]
    if hits.size == 0:
        return 0.0
    tp = np.cumsum(hits)
    precision, recall = tp / np.arange(1, hits.size + 1), tp / num_gt
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum(np.diff(np.concatenate([[0.0], recall])) * envelope))
'''),
    variant("ch09-average-precision", "loop-over-levels", source='''
def average_precision(scores, is_tp, num_gt):
    ranked = sorted(zip(scores, is_tp), key=lambda pair: -pair[0])  # stable
    total, tp, curve = 0.0, 0, []
    for rank, (_, hit) in enumerate(ranked, start=1):
        tp += bool(hit)
        curve.append((tp / num_gt, tp / rank))
    for level in np.linspace(0, 1, 101):
        total += max([p for r, p in curve if r >= level], default=0.0)
    return total / 101
'''),
]

CONV_TRANSPOSE_SIZE = [
    mutant("ch09-conv-transpose-size", "forgets-dilation",
           ("dilation * (kernel_size - 1)", "(kernel_size - 1)")),
    mutant("ch09-conv-transpose-size", "padding-counted-once",
           ("grown - 2 * padding", "grown - padding")),
    mutant("ch09-conv-transpose-size", "forgets-output-padding",
           ("grown - 2 * padding + output_padding", "grown - 2 * padding")),
    mutant("ch09-conv-transpose-size", "the-forward-conv-formula", source='''
def conv_transpose_output_size(size, kernel_size, stride=1, padding=0,
                               output_padding=0, dilation=1):
    out = (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError("too small")
    return int(out)
'''),
    mutant("ch09-conv-transpose-size", "float-result",
           ("return int(out)", "return float(out)")),
    mutant("ch09-conv-transpose-size", "no-error-below-one-pixel",
           ("if out < 1:", "if False:")),
    variant("ch09-conv-transpose-size", "one-expression-numpy-int", source='''
def conv_transpose_output_size(size, kernel_size, stride=1, padding=0,
                               output_padding=0, dilation=1):
    out = np.int64(stride) * (size - 1) + dilation * kernel_size - dilation \\
        + output_padding + 1 - padding - padding
    if not out >= 1:
        raise ValueError(f"{out} pixels")
    return out
'''),
]

DECODER_SIZE = [
    mutant("ch09-decoder-size", "conv-rounds-up",
           ("n = (n + 2 * p - k) // s + 1", "n = -(-(n + 2 * p - k) // s) + 1")),
    mutant("ch09-decoder-size", "pool-ignores-its-stride",
           ("n = (n - k) // s + 1", "n = (n - k) + 1")),
    mutant("ch09-decoder-size", "upsampling-ignored",
           ("n = n * args[0]", "n = n")),
    mutant("ch09-decoder-size", "no-error-below-one-pixel",
           ("        if n < 1:\n", "        if False:\n")),
    mutant("ch09-decoder-size", "conv-transpose-padding-and-output-padding-swapped",
           ("n = conv_transpose_output_size(n, *args)",
            "n = conv_transpose_output_size(n, args[0], args[1], args[3], args[2])")),
    variant("ch09-decoder-size", "table-of-rules", source='''
def decoder_output_size(size, layers):
    rules = {
        "conv": lambda n, k, s, p: (n + 2 * p - k) // s + 1,
        "pool": lambda n, k, s: (n - k) // s + 1,
        "convT": lambda n, k, s, p, a: (n - 1) * s - 2 * p + k + a,
        "up": lambda n, f: n * f,
    }
    for layer in layers:
        if layer[0] not in rules:
            raise ValueError(layer)
        size = rules[layer[0]](size, *layer[1:])
        if size <= 0:
            raise ValueError(layer)
    return size
'''),
]

CENTER_TARGETS = [
    mutant("ch09-center-targets", "sums-overlapping-bumps",
           ("np.maximum(heatmap[label - 1], bump * inside)",
            "heatmap[label - 1] + bump * inside")),
    mutant("ch09-center-targets", "row-from-x-column-from-y",
           ("i = int(np.clip(np.floor(cy), 0, g - 1))", "i = int(np.clip(np.floor(cx), 0, g - 1))"),
           ("j = int(np.clip(np.floor(cx), 0, g - 1))", "j = int(np.clip(np.floor(cy), 0, g - 1))")),
    mutant("ch09-center-targets", "sigma-equals-the-radius",
           ("two_sigma_sq = 2 * ((2 * radius + 1) / 6) ** 2", "two_sigma_sq = 2 * radius**2")),
    mutant("ch09-center-targets", "rounds-the-center",
           ("np.floor(cy)", "np.round(cy)"), ("np.floor(cx)", "np.round(cx)")),
    mutant("ch09-center-targets", "float64-arrays",
           ("heatmap = np.zeros((num_classes, g, g), dtype=np.float32)",
            "heatmap = np.zeros((num_classes, g, g))")),
    mutant("ch09-center-targets", "first-object-keeps-its-cell",
           ("        size[:, i, j] = (x1 - x0) / stride, (y1 - y0) / stride\n",
            "        if mask[i, j] == 0:\n"
            "            size[:, i, j] = (x1 - x0) / stride, (y1 - y0) / stride\n"),
           ("        offset[:, i, j] = cx - j, cy - i\n",
            "        if mask[i, j] == 0:\n            offset[:, i, j] = cx - j, cy - i\n")),
    mutant("ch09-center-targets", "no-window",
           ("bump * inside)", "bump)")),
    mutant("ch09-center-targets", "accepts-label-0",
           ("if np.any((labels < 1) | (labels > num_classes)):",
            "if np.any(labels > num_classes):")),
    variant("ch09-center-targets", "slices-and-loops", source='''
def encode_center_targets(boxes, labels, num_classes, image_size, stride, radius):
    if image_size % stride != 0:
        raise ValueError("stride must divide image_size")
    labels = [int(k) for k in np.asarray(labels).reshape(-1)]
    if any(k < 1 or k > num_classes for k in labels):
        raise ValueError("labels must be in 1..K")
    g = image_size // stride
    out = {"heatmap": np.zeros((num_classes, g, g), np.float32),
           "size": np.zeros((2, g, g), np.float32),
           "offset": np.zeros((2, g, g), np.float32),
           "mask": np.zeros((g, g), np.float32)}
    sigma = (2 * radius + 1) / 6
    for box, k in zip(np.asarray(boxes, dtype=float).reshape(-1, 4), labels):
        cx = (box[0] + box[2]) / (2 * stride)
        cy = (box[1] + box[3]) / (2 * stride)
        i, j = min(max(int(cy // 1), 0), g - 1), min(max(int(cx // 1), 0), g - 1)
        for y in range(max(0, i - radius), min(g, i + radius + 1)):
            for x in range(max(0, j - radius), min(g, j + radius + 1)):
                value = np.exp(-((x - j) ** 2 + (y - i) ** 2) / (2 * sigma**2))
                out["heatmap"][k - 1, y, x] = max(out["heatmap"][k - 1, y, x], value)
        out["size"][:, i, j] = [(box[2] - box[0]) / stride, (box[3] - box[1]) / stride]
        out["offset"][:, i, j] = [cx - j, cy - i]
        out["mask"][i, j] = 1
    return out
'''),
]

CH09 = (BOX_CONVERT + BOX_IOU + NMS + MASK_IOU_DICE + RLE_ENCODE + RLE_DECODE
        + AVERAGE_PRECISION + CONV_TRANSPOSE_SIZE + DECODER_SIZE + CENTER_TARGETS)


def test_chapter_9_parts_have_at_least_four_mutants_and_a_variant():
    for part in {a.part for a in CH09}:
        mine = [a for a in CH09 if a.part == part]
        assert sum(a.wrong for a in mine) >= 4, part
        assert any(not a.wrong for a in mine), part
    ids = [a.id for a in CH09]
    assert len(ids) == len(set(ids))
