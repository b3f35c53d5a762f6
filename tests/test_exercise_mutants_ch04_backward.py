"""Chapter 4, Parts 10 and 11 (conv and max-pool backward): the tests reject plausible wrong
answers and accept correct ones written differently.

Same machinery as ``tests/test_exercise_mutants.py`` (``tests/exercise_mutants.py``): each
answer replaces the instructor's in ``solutions/04_cnn_blocks/04_exercises.ipynb`` and that
part's own test cells run against it. A mutant must fail a visible test of its part; a variant
must pass every test cell, hidden tests included. ``CH04_BACKWARD`` is run there, as part of
``CHAPTERS["04_cnn_blocks"]``.
"""

from __future__ import annotations

from exercise_mutants import mutant, variant

ASSIGNMENT = "04_cnn_blocks"

# lesson 4.7's route: dout dilated by the stride and padded by K - 1 ("full"), correlated
# with the kernels rotated by 180 degrees; dw as the input correlated with dout
AS_CONVOLUTIONS = '''
def _correlate(x, w):
    """Stride-1 correlation, no padding: x (N, C, H, W), w (F, C, KH, KW)."""
    _, _, kh, kw = w.shape
    oh, ow = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = np.einsum("ncuv,fcuv->nf",
                                        x[:, :, i:i + kh, j:j + kw], w)
    return out


def conv2d_backward(dout, x, w, *, stride=1, pad=0):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = dout.shape[2:]
    dil = np.zeros((n, f, (oh - 1) * stride + 1, (ow - 1) * stride + 1))
    dil[:, :, ::stride, ::stride] = dout
    r_h = h + 2 * pad - dil.shape[2] - kh + 1   # rows no window reads
    r_w = wd + 2 * pad - dil.shape[3] - kw + 1
    full = np.pad(dil, ((0, 0), (0, 0), (kh - 1, kh - 1 + r_h),
                        (kw - 1, kw - 1 + r_w)))
    w_rot = ROTATE(w).transpose(1, 0, 2, 3)   # (C, F, KH, KW)
    dx_pad = _correlate(full, w_rot)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dw = _correlate(x_pad.transpose(1, 0, 2, 3), dil.transpose(1, 0, 2, 3))
    dw = dw[:, :, :kh, :kw].transpose(1, 0, 2, 3)
    return dx_pad[:, :, pad:pad + h, pad:pad + wd], dw, dout.sum(axis=(0, 2, 3))
'''
ROTATED = "w[:, :, ::-1, ::-1]"

CONV_LOOPS = '''
def conv2d_backward(dout, x, w, *, stride=1, pad=0):
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad, dw = np.zeros(x_pad.shape), np.zeros(w.shape)
    kh, kw = w.shape[2:]
    for n in range(dout.shape[0]):
        for f in range(dout.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    rows = slice(i * stride, i * stride + kh)
                    cols = slice(j * stride, j * stride + kw)
                    dx_pad[n, :, rows, cols] += dout[n, f, i, j] * w[f]
                    dw[f] += dout[n, f, i, j] * x_pad[n, :, rows, cols]
    h, wd = x.shape[2:]
    return (dx_pad[:, :, pad:pad + h, pad:pad + wd], dw,
            dout.sum(axis=(0, 2, 3)))
'''

POOL_LOOPS = '''
def max_pool2d_backward(dout, x, *, size=2, stride=2):
    dx = np.zeros(x.shape)
    for n, c, i, j in np.ndindex(*dout.shape):
        window = x[n, c, i * stride:i * stride + size, j * stride:j * stride + size]
        u, v = np.unravel_index(np.argmax(window), window.shape)
        dx[n, c, i * stride + u, j * stride + v] += dout[n, c, i, j]
    return dx
'''

CH04_BACKWARD = [
    mutant("ch04-conv-backward", "kernel-not-rotated",
           source=AS_CONVOLUTIONS.replace("ROTATE(w)", "w")),
    mutant("ch04-conv-backward", "stride-ignored",
           ("top, left = i * stride, j * stride", "top, left = i, j")),
    mutant("ch04-conv-backward", "dw-batch-mean",
           ("return dx, dw, db", "return dx, dw / num_images, db")),
    mutant("ch04-conv-backward", "dw-first-image-only",
           ('"nf,ncuv->fcuv", g, x_pad[:, :, rows, cols]',
            '"nf,ncuv->fcuv", g[:1], x_pad[:1, :, rows, cols]')),
    mutant("ch04-conv-backward", "overlaps-overwritten",
           ('dx_pad[:, :, rows, cols] += np.einsum', 'dx_pad[:, :, rows, cols] = np.einsum')),
    mutant("ch04-conv-backward", "cropped-from-the-wrong-side",
           ("dx_pad[:, :, pad : pad + height, pad : pad + width]",
            "dx_pad[:, :, :height, :width]")),
    mutant("ch04-conv-backward", "db-mean-over-positions",
           ("np.sum(dout, axis=(0, 2, 3), dtype=np.float64)",
            "np.sum(dout.mean(axis=(2, 3)), axis=0, dtype=np.float64)")),
    mutant("ch04-conv-backward", "padding-kept", (
        "dx = dx_pad[:, :, pad : pad + height, pad : pad + width]", "dx = dx_pad")),
    mutant("ch04-conv-backward", "torch-autograd", source='''
def conv2d_backward(dout, x, w, *, stride=1, pad=0):
    tensors = [torch.tensor(a, requires_grad=True)
               for a in (x, w, np.zeros(w.shape[0]))]
    F.conv2d(*tensors, stride=stride, padding=pad).backward(torch.from_numpy(dout))
    return tuple(t.grad.numpy() for t in tensors)
'''),
    mutant("ch04-conv-backward", "torch-nn-grad", source='''
def conv2d_backward(dout, x, w, *, stride=1, pad=0):
    g = torch.from_numpy(dout)
    dx = torch.nn.grad.conv2d_input(x.shape, torch.from_numpy(w), g, stride, pad)
    dw = torch.nn.grad.conv2d_weight(torch.from_numpy(x), w.shape, g, stride, pad)
    return dx.numpy(), dw.numpy(), dout.sum(axis=(0, 2, 3))
'''),
    variant("ch04-conv-backward", "as-convolutions",
            source=AS_CONVOLUTIONS.replace("ROTATE(w)", ROTATED)),
    variant("ch04-conv-backward", "four-loops", source=CONV_LOOPS),
    mutant("ch04-max-pool-backward", "gradient-to-the-whole-window", source='''
def max_pool2d_backward(dout, x, *, size=2, stride=2):
    dx = np.zeros(x.shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            dx[:, :, i * stride:i * stride + size, j * stride:j * stride + size] += (
                dout[:, :, i, j, None, None])
    return dx
'''),
    mutant("ch04-max-pool-backward", "spread-like-average", source='''
def max_pool2d_backward(dout, x, *, size=2, stride=2):
    dx = np.zeros(x.shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            dx[:, :, i * stride:i * stride + size, j * stride:j * stride + size] += (
                dout[:, :, i, j, None, None] / size**2)
    return dx
'''),
    mutant("ch04-max-pool-backward", "every-tied-maximum", source='''
def max_pool2d_backward(dout, x, *, size=2, stride=2):
    dx = np.zeros(x.shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows = slice(i * stride, i * stride + size)
            cols = slice(j * stride, j * stride + size)
            window = x[:, :, rows, cols]
            mask = window == window.max(axis=(2, 3), keepdims=True)
            dx[:, :, rows, cols] += mask * dout[:, :, i, j, None, None]
    return dx
'''),
    mutant("ch04-max-pool-backward", "last-tied-maximum", source=POOL_LOOPS.replace(
        "u, v = np.unravel_index(np.argmax(window), window.shape)",
        "u, v = np.unravel_index(window.size - 1 - np.argmax(window.ravel()[::-1]),"
        " window.shape)")),
    mutant("ch04-max-pool-backward", "overlaps-overwritten",
           ("dx[n_index, c_index, top + u, left + v] += dout[:, :, i, j]",
            "dx[n_index, c_index, top + u, left + v] = dout[:, :, i, j]")),
    mutant("ch04-max-pool-backward", "stride-ignored",
           ("top, left = i * stride, j * stride", "top, left = i * size, j * size")),
    mutant("ch04-max-pool-backward", "torch-autograd", source='''
def max_pool2d_backward(dout, x, *, size=2, stride=2):
    x_t = torch.tensor(x, requires_grad=True)
    F.max_pool2d(x_t, size, stride=stride).backward(torch.from_numpy(dout))
    return x_t.grad.numpy()
'''),
    variant("ch04-max-pool-backward", "loops-unravel-index", source=POOL_LOOPS),
    variant("ch04-max-pool-backward", "take-along-axis", source='''
def max_pool2d_backward(dout, x, *, size=2, stride=2):
    n, c = x.shape[:2]
    dx = np.zeros(x.shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows = slice(i * stride, i * stride + size)
            cols = slice(j * stride, j * stride + size)
            flat = x[:, :, rows, cols].reshape(n, c, -1)
            onehot = np.zeros_like(flat)
            np.put_along_axis(onehot, flat.argmax(axis=2)[..., None], 1.0, axis=2)
            dx[:, :, rows, cols] += (onehot * dout[:, :, i, j, None]).reshape(
                n, c, size, size)
    return dx
'''),
]


def test_every_backward_part_has_mutants_and_a_variant():
    parts = {answer.part for answer in CH04_BACKWARD}
    assert parts == {"ch04-conv-backward", "ch04-max-pool-backward"}
    for part in parts:
        kinds = {answer.wrong for answer in CH04_BACKWARD if answer.part == part}
        assert kinds == {True, False}, part
    assert sum(answer.wrong for answer in CH04_BACKWARD) >= 4
