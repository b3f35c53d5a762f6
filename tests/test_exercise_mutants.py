"""The exercise tests reject plausible wrong answers and accept correct ones.

For each chapter a list of wrong answers (mutants: wrong dtype, ignored ``rng``, wrong axis,
off-by-one padding, forgotten bias, unstable formulas, in-place mutation of inputs, ...) and of
correct answers written differently (loops, einsum, vectorized, numpy scalars). Each one replaces
the instructor's answer in ``solutions/<assignment>/*.ipynb`` and that part's own test cells run
against it (``tests/exercise_mutants.py``; no nbgrader, no kernel). A mutant must fail a test
cell of its part, and, unless marked ``hidden_only``, already a visible one, so the student is
warned before submitting. A variant must pass every test cell, hidden tests included.
"""

from __future__ import annotations

import pytest

from exercise_mutants import mutant, notebook, variant
from test_exercise_mutants_ch02_ch06_new import CH02_NEW, CH06_NEW
from test_exercise_mutants_ch04_backward import CH04_BACKWARD
from test_exercise_mutants_ch09 import CH09

F64 = "dtype=np.float64"
F32 = "dtype=np.float32"

# ---------------------------------------------------------------- Chapter 1
CH01 = [
    mutant("ch01-sigmoid", "float32", (F64, F32)),
    mutant("ch01-sigmoid", "naive-overflows", source='''
def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-z))
'''),
    mutant("ch01-sigmoid", "same-branch-twice",
           ("e / (1.0 + e))", "1.0 / (1.0 + e))")),
    mutant("ch01-sigmoid", "in-place-into-input", source='''
def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    z[...] = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return z
'''),
    mutant("ch01-sigmoid", "float32-in-float32-out-for-ints", source='''
def sigmoid(z):
    z = np.asarray(z)
    z = z.astype(np.float32) if z.dtype.kind in "iu" else z
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
'''),
    variant("ch01-sigmoid", "tanh", source='''
def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * z))
'''),
    variant("ch01-sigmoid", "logaddexp", source='''
def sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))
'''),
    variant("ch01-sigmoid", "python-loop", source='''
import math
def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    for index, value in np.ndenumerate(z):
        if value >= 0:
            out[index] = 1.0 / (1.0 + math.exp(-value))
        else:
            out[index] = math.exp(value) / (1.0 + math.exp(value))
    return out
'''),
    mutant("ch01-relu", "float32", (F64, F32)),
    mutant("ch01-relu", "keeps-int-dtype",
           ("np.asarray(z, dtype=np.float64), 0.0)", "np.asarray(z), 0)")),
    mutant("ch01-relu", "in-place", source='''
def relu(z):
    z = np.asarray(z, dtype=np.float64)
    z[z < 0] = 0.0
    return z
'''),
    mutant("ch01-relu", "leaky", source='''
def relu(z):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, z, 0.01 * z)
'''),
    variant("ch01-relu", "where", source='''
def relu(z):
    z = np.asarray(z)
    return np.where(z > 0, z, 0.0).astype(np.float64)
'''),
    variant("ch01-relu", "clip", source='''
def relu(z):
    return np.clip(np.asarray(z, dtype=np.float64), 0.0, None)
'''),
    mutant("ch01-softmax", "float32", (F64, F32)),
    mutant("ch01-softmax", "no-shift-overflows",
           ("z - np.max(z, axis=axis, keepdims=True)", "z")),
    mutant("ch01-softmax", "global-max-shift",
           ("np.max(z, axis=axis, keepdims=True)", "np.max(z)")),
    mutant("ch01-softmax", "axis-ignored", ("axis=axis", "axis=-1")),
    mutant("ch01-softmax", "sum-over-wrong-axis", source='''
def softmax(z, axis=-1):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=0, keepdims=True)
'''),
    mutant("ch01-softmax", "in-place-shift", source='''
def softmax(z, axis=-1):
    z = np.asarray(z, dtype=np.float64)
    z -= np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)
'''),
    mutant("ch01-softmax", "no-keepdims", source='''
def softmax(z, axis=-1):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis)
'''),
    variant("ch01-softmax", "log-sum-exp", source='''
def softmax(z, axis=-1):
    z = np.asarray(z, dtype=np.float64)
    top = np.max(z, axis=axis, keepdims=True)
    log_norm = top + np.log(np.sum(np.exp(z - top), axis=axis, keepdims=True))
    return np.exp(z - log_norm)
'''),
    variant("ch01-softmax", "moveaxis-loop", source='''
def softmax(z, axis=-1):
    z = np.moveaxis(np.asarray(z, dtype=np.float64), axis, -1)
    out = np.empty_like(z)
    for index in np.ndindex(z.shape[:-1]):
        e = np.exp(z[index] - z[index].max())
        out[index] = e / e.sum()
    return np.moveaxis(out, -1, axis)
'''),
    mutant("ch01-perceptron-predict", "strict-inequality", ("z >= 0", "z > 0")),
    mutant("ch01-perceptron-predict", "bool-result",
           (".astype(np.int64)", "")),
    mutant("ch01-perceptron-predict", "float-result",
           (".astype(np.int64)", ".astype(np.float64)")),
    mutant("ch01-perceptron-predict", "forgot-bias", ("x @ w + b", "x @ w")),
    variant("ch01-perceptron-predict", "where-int32", source='''
def perceptron_predict(x, w, b):
    return np.where(np.asarray(x) @ np.asarray(w) + b >= 0, 1, 0).astype(
        np.int32
    )
'''),
    variant("ch01-perceptron-predict", "loop", source='''
def perceptron_predict(x, w, b):
    out = []
    for row in np.asarray(x, dtype=np.float64):
        out.append(1 if float(np.dot(row, w)) + b >= 0 else 0)
    return np.array(out, dtype=np.int64)
'''),
    mutant("ch01-perceptron-update", "strict-inequality",
           ("x_i @ w + b >= 0", "x_i @ w + b > 0")),
    mutant("ch01-perceptron-update", "bias-not-updated",
           ("b + lr * error", "b")),
    mutant("ch01-perceptron-update", "sign-flipped",
           ("error = y_i - y_hat", "error = y_hat - y_i")),
    mutant("ch01-perceptron-update", "in-place", source='''
def perceptron_update(x_i, y_i, w, b, lr):
    error = y_i - (1 if x_i @ w + b >= 0 else 0)
    w += lr * error * x_i
    return w, b + lr * error
'''),
    mutant("ch01-perceptron-update", "always-updates", source='''
def perceptron_update(x_i, y_i, w, b, lr):
    sign = 1 if y_i == 1 else -1
    return w + lr * sign * x_i, b + lr * sign
'''),
    variant("ch01-perceptron-update", "branches", source='''
def perceptron_update(x_i, y_i, w, b, lr):
    y_hat = int(np.dot(w, x_i) + b >= 0)
    if y_hat == y_i:
        return np.array(w, dtype=float), b
    if y_i == 1:
        return w + lr * x_i, b + lr
    return w - lr * x_i, b - lr
'''),
    mutant("ch01-train-perceptron", "numpy-bool-flag",
           ("return w, b, True, epoch", "return w, b, np.bool_(True), epoch")),
    mutant("ch01-train-perceptron", "clean-epoch-not-counted",
           ("return w, b, True, epoch", "return w, b, True, epoch - 1")),
    mutant("ch01-train-perceptron", "random-start",
           ("w, b = np.zeros(x.shape[1]), 0.0",
            "w, b = np.random.default_rng(0).normal(size=x.shape[1]), 0.0")),
    mutant("ch01-train-perceptron", "reversed-order",
           ("zip(x, y)", "zip(x[::-1], y[::-1])")),
    mutant("ch01-train-perceptron", "strict-inequality",
           ("x_i @ w + b >= 0", "x_i @ w + b > 0")),
    mutant("ch01-train-perceptron", "not-converged-count",
           ("return w, b, False, max_epochs",
            "return w, b, False, max_epochs + 1")),
    variant("ch01-train-perceptron", "while-loop", source='''
def train_perceptron(x, y, *, lr=1.0, max_epochs=20):
    x = np.asarray(x, dtype=np.float64)
    w, b, epochs = np.zeros(x.shape[1]), 0.0, 0
    while epochs < max_epochs:
        epochs += 1
        clean = True
        for i in range(len(x)):
            y_hat = perceptron_predict(x[i:i + 1], w, b)[0]
            if y_hat != y[i]:
                clean = False
                w, b = perceptron_update(x[i], y[i], w, b, lr)
        if clean:
            return w, b, True, epochs
    return w, b, False, epochs
'''),
    mutant("ch01-xor-network", "no-margin",
           ("b1 = np.array([-0.5, -1.5])", "b1 = np.array([-1.0, -2.0])")),
    mutant("ch01-xor-network", "int-weights",
           ("W1 = np.array([[1.0, 1.0], [1.0, 1.0]])",
            "W1 = np.array([[1, 1], [1, 1]])")),
    mutant("ch01-xor-network", "column-output-weights",
           ("W2 = np.array([1.0, -1.0])", "W2 = np.array([[1.0], [-1.0]])")),
    variant("ch01-xor-network", "two-and-nots", source='''
W1 = np.array([[1.0, -1.0], [-1.0, 1.0]])
b1 = np.array([-0.5, -0.5])
W2 = np.array([1.0, 1.0])
b2 = -0.5
'''),
    mutant("ch01-logistic-neuron", "forgot-bias", ("@ w + b)", "@ w)")),
    mutant("ch01-logistic-neuron", "float32", (F64, F32)),
    mutant("ch01-logistic-neuron", "step-not-sigmoid", source='''
def logistic_neuron(x, w, b):
    return (np.asarray(x, dtype=np.float64) @ w + b >= 0).astype(np.float64)
'''),
    mutant("ch01-logistic-neuron", "column-output", source='''
def logistic_neuron(x, w, b):
    return sigmoid(np.asarray(x, dtype=np.float64) @ w.reshape(-1, 1) + b)
'''),
    variant("ch01-logistic-neuron", "einsum", source='''
def logistic_neuron(x, w, b):
    return sigmoid(np.einsum("nd,d->n", np.asarray(x, dtype=float), w) + b)
'''),
    mutant("ch01-grayscale", "reversed-channels",
           ("[0.299, 0.587, 0.114]", "[0.114, 0.587, 0.299]")),
    mutant("ch01-grayscale", "float32",
           ("astype(np.float64) @ luma_weights",
            "astype(np.float32) @ luma_weights.astype(np.float32)")),
    mutant("ch01-grayscale", "channel-mean", source='''
def rgb_to_grayscale(image):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError("expected (H, W, 3)")
    return image.astype(np.float64).mean(axis=-1)
'''),
    mutant("ch01-grayscale", "no-shape-check", source='''
def rgb_to_grayscale(image):
    image = np.asarray(image, dtype=np.float64)
    return image @ np.array([0.299, 0.587, 0.114])
'''),
    mutant("ch01-grayscale", "only-last-axis-checked", source='''
def rgb_to_grayscale(image):
    image = np.asarray(image)
    if image.shape[-1] != 3:
        raise ValueError("expected (H, W, 3)")
    return image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
'''),
    variant("ch01-grayscale", "channel-sum", source='''
def rgb_to_grayscale(image):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3), got {image.shape}")
    red, green, blue = (image[:, :, c].astype(float) for c in range(3))
    return 0.299 * red + 0.587 * green + 0.114 * blue
'''),
]

# ---------------------------------------------------------------- Chapter 2
CH02_TRAIN_ONCE = '''    fixed_batches = list(
        iterate_minibatches(x_train, y_train, batch_size, rng=rng)
    )
    epoch_losses = []'''
CH02 = [
    mutant("ch02-mse", "sum-not-mean", ("np.mean(diff**2)", "np.sum(diff**2)")),
    mutant("ch02-mse", "gradient-without-2", ("2.0 * diff / diff.size",
                                              "diff / diff.size")),
    mutant("ch02-mse", "gradient-sign", ("2.0 * diff / diff.size",
                                         "-2.0 * diff / diff.size")),
    mutant("ch02-mse", "gradient-over-rows", ("2.0 * diff / diff.size",
                                              "2.0 * diff / len(diff)")),
    mutant("ch02-mse", "float32", source='''
def mse(y_hat, y):
    diff = np.asarray(y_hat, dtype=np.float32) - np.asarray(y, np.float32)
    return float(np.mean(diff**2)), 2.0 * diff / diff.size
'''),
    variant("ch02-mse", "numpy-scalar-loss", source='''
def mse(y_hat, y):
    diff = np.subtract(y_hat, y, dtype=np.float64)
    return np.mean(np.square(diff)), (2.0 / diff.size) * diff
'''),
    mutant("ch02-one-hot", "float32", ("np.zeros((y.shape[0], num_classes))",
                                       "np.zeros((y.shape[0], num_classes), "
                                       "dtype=np.float32)")),
    mutant("ch02-one-hot", "int-matrix", ("np.zeros((y.shape[0], num_classes))",
                                          "np.zeros((y.shape[0], num_classes),"
                                          " dtype=int)")),
    mutant("ch02-one-hot", "negative-labels-accepted",
           ("np.any(y < 0) or ", "")),
    mutant("ch02-one-hot", "width-from-labels",
           ("(y.shape[0], num_classes))", "(y.shape[0], y.max() + 1))")),
    variant("ch02-one-hot", "eye-rows", source='''
def one_hot(y, num_classes):
    y = np.asarray(y)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError("labels out of range")
    return np.eye(num_classes)[y]
'''),
    variant("ch02-one-hot", "comparison", source='''
def one_hot(y, num_classes):
    y = np.asarray(y)
    if ((y < 0) | (y >= num_classes)).any():
        raise ValueError("labels out of range")
    return (y[:, None] == np.arange(num_classes)).astype(np.float64)
'''),
    mutant("ch02-softmax-ce", "no-shift", (
        "shifted = logits - logits.max(axis=1, keepdims=True)",
        "shifted = logits")),
    mutant("ch02-softmax-ce", "log-of-softmax", source='''
def softmax_cross_entropy(logits, y):
    logits = np.asarray(logits, dtype=np.float64)
    n = len(logits)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(n), y]))
    return float(loss), (p - one_hot(y, logits.shape[1])) / n
'''),
    mutant("ch02-softmax-ce", "gradient-without-1-over-n",
           (") / num_samples", ")")),
    mutant("ch02-softmax-ce", "summed-loss",
           ("log_probs[np.arange(num_samples), y].mean()",
            "log_probs[np.arange(num_samples), y].sum()")),
    mutant("ch02-softmax-ce", "float32", (F64, F32)),
    mutant("ch02-softmax-ce", "in-place-shift", source='''
def softmax_cross_entropy(logits, y):
    logits = np.asarray(logits, dtype=np.float64)
    n, k = logits.shape
    logits -= logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(n), y].mean()
    return float(loss), (np.exp(log_probs) - one_hot(y, k)) / n
'''),
    variant("ch02-softmax-ce", "logaddexp-reduce", source='''
def softmax_cross_entropy(logits, y):
    s = np.array(logits, dtype=np.float64)
    n = s.shape[0]
    log_z = np.logaddexp.reduce(s, axis=1)
    loss = np.mean(log_z - s[np.arange(n), y])
    grad = np.exp(s - log_z[:, None])
    grad[np.arange(n), y] -= 1.0
    return loss, grad / n
'''),
    mutant("ch02-iterations-per-epoch", "always-floor",
           ("return -(-num_samples // batch_size)",
            "return num_samples // batch_size")),
    mutant("ch02-iterations-per-epoch", "floor-plus-one",
           ("return -(-num_samples // batch_size)",
            "return num_samples // batch_size + 1")),
    mutant("ch02-iterations-per-epoch", "float-result",
           ("return -(-num_samples // batch_size)",
            "return np.ceil(num_samples / batch_size)")),
    mutant("ch02-iterations-per-epoch", "no-validation",
           ("if num_samples < 1 or batch_size < 1:", "if False:")),
    variant("ch02-iterations-per-epoch", "math-ceil", source='''
import math
def iterations_per_epoch(num_samples, batch_size, drop_last=False):
    if num_samples <= 0 or batch_size <= 0:
        raise ValueError("need positive sizes")
    if drop_last:
        return math.floor(num_samples / batch_size)
    return (num_samples + batch_size - 1) // batch_size
'''),
    mutant("ch02-minibatches", "drops-last-batch",
           ("range(0, num_samples, batch_size)",
            "range(0, num_samples - batch_size + 1, batch_size)")),
    mutant("ch02-minibatches", "x-y-shuffled-separately", source='''
def iterate_minibatches(x, y, batch_size, *, shuffle=True, rng=None):
    if batch_size < 1 or len(x) != len(y):
        raise ValueError("bad arguments")
    x, y = np.asarray(x), np.asarray(y)
    rng = np.random.default_rng() if rng is None else rng
    order_x = rng.permutation(len(x)) if shuffle else np.arange(len(x))
    order_y = rng.permutation(len(x)) if shuffle else np.arange(len(x))
    for start in range(0, len(x), batch_size):
        yield (x[order_x[start:start + batch_size]],
               y[order_y[start:start + batch_size]])
'''),
    mutant("ch02-minibatches", "ignores-rng",
           ("order = rng.permutation(num_samples)",
            "order = np.random.permutation(num_samples)")),
    mutant("ch02-minibatches", "reseeds-a-fixed-seed",
           ("order = rng.permutation(num_samples)",
            "order = np.random.default_rng(0).permutation(num_samples)")),
    mutant("ch02-minibatches", "fixed-seed-when-rng-is-none",
           ("np.random.default_rng() if rng is None",
            "np.random.default_rng(0) if rng is None")),
    mutant("ch02-minibatches", "always-shuffles", ("if shuffle:", "if True:")),
    mutant("ch02-minibatches", "shuffles-x-in-place", source='''
def iterate_minibatches(x, y, batch_size, *, shuffle=True, rng=None):
    if batch_size < 1 or len(x) != len(y):
        raise ValueError("bad arguments")
    rng = np.random.default_rng() if rng is None else rng
    if shuffle:
        state = rng.bit_generator.state
        rng.shuffle(x)
        rng.bit_generator.state = state
        rng.shuffle(y)
    for start in range(0, len(x), batch_size):
        yield x[start:start + batch_size], y[start:start + batch_size]
'''),
    mutant("ch02-minibatches", "no-length-check",
           ("if len(x) != len(y):", "if False:")),
    mutant("ch02-minibatches", "returns-a-list", source='''
def iterate_minibatches(x, y, batch_size, *, shuffle=True, rng=None):
    if batch_size < 1 or len(x) != len(y):
        raise ValueError("bad arguments")
    x, y = np.asarray(x), np.asarray(y)
    rng = np.random.default_rng() if rng is None else rng
    order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
    return [(x[order[s:s + batch_size]], y[order[s:s + batch_size]])
            for s in range(0, len(x), batch_size)]
'''),
    variant("ch02-minibatches", "array-split", source='''
def iterate_minibatches(x, y, batch_size, *, shuffle=True, rng=None):
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    x, y = np.asarray(x), np.asarray(y)
    if x.shape[0] != y.shape[0]:
        raise ValueError("x and y differ in length")
    n = x.shape[0]
    if shuffle:
        if rng is None:
            rng = np.random.default_rng()
        order = np.arange(n)
        rng.shuffle(order)
    else:
        order = np.arange(n)
    num_batches = -(-n // batch_size)
    for i in range(num_batches):
        chunk = order[i * batch_size:(i + 1) * batch_size]
        yield x[chunk], y[chunk]
'''),
    mutant("ch02-affine-forward", "forgot-bias", ("out = x @ w + b", "out = x @ w")),
    mutant("ch02-affine-forward", "bias-on-wrong-axis",
           ("out = x @ w + b", "out = x @ w + b[:, None]")),
    mutant("ch02-affine-forward", "float32-out",
           ("out = x @ w + b", "out = (x @ w + b).astype(np.float32)")),
    variant("ch02-affine-forward", "einsum", ("out = x @ w + b",
                                              "out = np.einsum('nd,dm->nm', x, w) + b")),
    mutant("ch02-affine-backward", "db-mean", ("dout.sum(axis=0)",
                                               "dout.mean(axis=0)")),
    mutant("ch02-affine-backward", "db-wrong-axis", ("dout.sum(axis=0)",
                                                     "dout.sum(axis=1)")),
    mutant("ch02-affine-backward", "dw-over-n", ("dw = x.T @ dout",
                                                 "dw = x.T @ dout / len(x)")),
    mutant("ch02-affine-backward", "dw-transposed", ("dw = x.T @ dout",
                                                     "dw = (dout.T @ x).T.T")),
    variant("ch02-affine-backward", "einsum", source='''
def affine_backward(dout, cache):
    x, w = cache
    return (np.einsum("nm,dm->nd", dout, w), np.einsum("nd,nm->dm", x, dout),
            np.einsum("nm->m", dout))
'''),
    mutant("ch02-numerical-gradient", "forward-difference", source='''
def numerical_gradient(f, x, h=1e-5):
    point = np.array(x, dtype=np.float64)
    grad = np.zeros_like(point)
    base = float(f(point))
    for index in np.ndindex(point.shape):
        saved = point[index]
        point[index] = saved + h
        grad[index] = (float(f(point)) - base) / h
        point[index] = saved
    return grad
'''),
    mutant("ch02-numerical-gradient", "divides-by-h", ("/ (2.0 * h)", "/ h")),
    mutant("ch02-numerical-gradient", "not-restored",
           ("point[index] = saved  # exactly the old value again", "pass")),
    mutant("ch02-numerical-gradient", "nudges-callers-array", source='''
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(np.shape(x))
    for index in np.ndindex(grad.shape):
        x[index] += h
        f_plus = f(x)
        x[index] -= 2 * h
        f_minus = f(x)
        x[index] += h
        grad[index] = (f_plus - f_minus) / (2 * h)
    return grad
'''),
    mutant("ch02-numerical-gradient", "float32", (F64, F32)),
    mutant("ch02-numerical-gradient", "keeps-float32-dtype",
           ("np.array(x, dtype=np.float64)", "np.array(x)")),
    variant("ch02-numerical-gradient", "flat-loop", source='''
def numerical_gradient(f, x, h=1e-5):
    base = np.asarray(x, dtype=np.float64)
    grad = np.empty(base.size)
    for j in range(base.size):
        step = np.zeros(base.size)
        step[j] = h
        step = step.reshape(base.shape)
        grad[j] = (f(base + step) - f(base - step)) / (2 * h)
    return grad.reshape(base.shape)
'''),
    mutant("ch02-mlp", "no-relu-mask", ("dz = da * (z > 0)", "dz = da")),
    mutant("ch02-mlp", "divides-by-n-twice", ("loss, ds = softmax_cross_entropy(s, y)",
                                              "loss, ds = softmax_cross_entropy(s, y)\n"
                                              "    ds = ds / len(x)")),
    mutant("ch02-mlp", "mask-on-gradient", ("dz = da * (z > 0)",
                                           "dz = np.maximum(da, 0.0)")),
    mutant("ch02-mlp", "b1-gradient-zero",
           ('"b1": db1', '"b1": np.zeros_like(db1)')),
    variant("ch02-mlp", "mask-from-activations", ("dz = da * (z > 0)",
                                                  "dz = np.where(a > 0, da, 0.0)")),
    mutant("ch02-train-digits", "no-shuffling",
           ("batch_size, rng=rng)", "batch_size, shuffle=False)")),
    mutant("ch02-train-digits", "same-order-every-epoch",
           ("    epoch_losses = []", CH02_TRAIN_ONCE),
           ("batches = iterate_minibatches(x_train, y_train, batch_size, "
            "rng=rng)", "batches = fixed_batches")),
    mutant("ch02-train-digits", "reseeds-every-epoch",
           ("batch_size, rng=rng)",
            "batch_size, rng=np.random.default_rng(seed))")),
    mutant("ch02-train-digits", "bias-never-updated",
           ("params[key] - lr * grads[key] for key in params",
            "params[key] - lr * grads[key] * key.startswith('W') "
            "for key in params")),
    mutant("ch02-train-digits", "init-scale-1-over-d",
           ("np.sqrt(2.0 / num_features)", "np.sqrt(1.0 / num_features)")),
    mutant("ch02-train-digits", "init-scale-0.01",
           ("np.sqrt(2.0 / num_features)", "0.01"),
           ("np.sqrt(2.0 / hidden_size)", "0.01")),
    mutant("ch02-train-digits", "last-batch-loss",
           ("epoch_losses.append(float(np.mean(batch_losses)))",
            "epoch_losses.append(float(loss))")),
    mutant("ch02-train-digits", "unseeded",
           ("rng = np.random.default_rng(seed)", "rng = np.random.default_rng()")),
    variant("ch02-train-digits", "in-place-updates-numpy-losses",
            ("params = {key: params[key] - lr * grads[key] for key in params}",
             "for key in params:\n"
             "                params[key] -= lr * grads[key]"),
            ("epoch_losses.append(float(np.mean(batch_losses)))",
             "epoch_losses.append(np.sum(batch_losses) / len(batch_losses))")),
]

# ---------------------------------------------------------------- Chapter 3
CH03 = [
    mutant("ch03-sgd", "in-place", ("w_next = w - self.lr * dw",
                                    "w -= self.lr * dw\n        w_next = w")),
    mutant("ch03-sgd", "gradient-ascent", ("w - self.lr * dw", "w + self.lr * dw")),
    mutant("ch03-sgd", "fixed-lr", ("w - self.lr * dw", "w - 0.01 * dw")),
    mutant("ch03-sgd", "float32", ("w_next = w - self.lr * dw",
                                   "w_next = (w - self.lr * dw).astype(np.float32)")),
    variant("ch03-sgd", "subtract", ("w_next = w - self.lr * dw",
                                     "w_next = np.subtract(w, np.multiply(self.lr, dw))")),
    mutant("ch03-momentum", "dampened-ema",
           ("self.beta * self.velocity + dw",
            "self.beta * self.velocity + (1 - self.beta) * dw")),
    mutant("ch03-momentum", "velocity-after-step", source='''
class Momentum:
    def __init__(self, lr=0.01, beta=0.9):
        self.lr, self.beta, self.velocity = lr, beta, 0.0

    def step(self, w, dw):
        w_next = w - self.lr * self.velocity
        self.velocity = self.beta * self.velocity + dw
        return w_next
'''),
    mutant("ch03-momentum", "aliases-dw", source='''
class Momentum:
    def __init__(self, lr=0.01, beta=0.9):
        self.lr, self.beta, self.velocity = lr, beta, None

    def step(self, w, dw):
        if self.velocity is None:
            self.velocity = dw
        else:
            self.velocity *= self.beta
            self.velocity += dw
        return w - self.lr * self.velocity
'''),
    mutant("ch03-momentum", "shared-class-state", source='''
class Momentum:
    velocity = [0.0]

    def __init__(self, lr=0.01, beta=0.9):
        self.lr, self.beta = lr, beta

    def step(self, w, dw):
        self.velocity[0] = self.beta * self.velocity[0] + dw
        return w - self.lr * self.velocity[0]
'''),
    variant("ch03-momentum", "keras-convention", source='''
class Momentum:
    def __init__(self, lr=0.01, beta=0.9):
        self.lr, self.beta, self.v = lr, beta, 0.0

    def step(self, w, dw):
        self.v = self.beta * self.v - self.lr * dw
        return w + self.v
'''),
    mutant("ch03-nesterov", "plain-momentum",
           ("dw + self.beta * self.velocity", "self.velocity")),
    mutant("ch03-nesterov", "forgot-gradient",
           ("dw + self.beta * self.velocity", "self.beta * self.velocity")),
    mutant("ch03-nesterov", "old-velocity-look-ahead", source='''
class Nesterov:
    def __init__(self, lr=0.01, beta=0.9):
        self.lr, self.beta, self.velocity = lr, beta, 0.0

    def step(self, w, dw):
        direction = dw + self.beta * self.velocity
        self.velocity = self.beta * self.velocity + dw
        return w - self.lr * direction
'''),
    mutant("ch03-adagrad", "eps-inside-sqrt",
           ("np.sqrt(self.sum_of_squares) + self.eps",
            "np.sqrt(self.sum_of_squares + self.eps)")),
    mutant("ch03-adagrad", "no-accumulation",
           ("self.sum_of_squares + dw**2", "dw**2")),
    mutant("ch03-adagrad", "float32", ("np.zeros_like(w, dtype=np.float64)",
                                       "np.zeros_like(w, dtype=np.float32)"),
           ("return w - self.lr", "return (w - self.lr"),
           ("+ self.eps)\n", "+ self.eps)).astype(np.float32)\n")),
    variant("ch03-adagrad", "lazy-zero-state", source='''
class AdaGrad:
    def __init__(self, lr=0.01, eps=1e-10):
        self.lr, self.eps, self.g = lr, eps, 0.0

    def step(self, w, dw):
        self.g = self.g + np.square(dw)
        return w - self.lr * dw / (np.sqrt(self.g) + self.eps)
'''),
    mutant("ch03-rmsprop", "eps-inside-sqrt",
           ("np.sqrt(self.mean_square) + self.eps",
            "np.sqrt(self.mean_square + self.eps)")),
    mutant("ch03-rmsprop", "alpha-swapped",
           ("self.alpha * self.mean_square + (1 - self.alpha) * dw**2",
            "(1 - self.alpha) * self.mean_square + self.alpha * dw**2")),
    mutant("ch03-rmsprop", "bias-corrected", source='''
class RMSProp:
    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8):
        self.lr, self.alpha, self.eps, self.s, self.t = lr, alpha, eps, 0.0, 0

    def step(self, w, dw):
        self.t += 1
        self.s = self.alpha * self.s + (1 - self.alpha) * dw**2
        s_hat = self.s / (1 - self.alpha**self.t)
        return w - self.lr * dw / (np.sqrt(s_hat) + self.eps)
'''),
    mutant("ch03-adam", "eps-inside-sqrt", ("np.sqrt(v_hat) + self.eps",
                                            "np.sqrt(v_hat + self.eps)")),
    mutant("ch03-adam", "eps-on-uncorrected-root", (
        "m_hat / (np.sqrt(v_hat) + self.eps)",
        "m_hat / (np.sqrt(self.second_moment) + self.eps)"
        " * np.sqrt(1 - self.beta2**t)")),
    mutant("ch03-adam", "no-bias-correction",
           ("self.first_moment / (1 - self.beta1**t)", "self.first_moment"),
           ("self.second_moment / (1 - self.beta2**t)", "self.second_moment")),
    mutant("ch03-adam", "correction-off-by-one",
           ("t = self.num_steps_taken  #", "t = self.num_steps_taken + 1  #")),
    mutant("ch03-adam", "betas-swapped-in-second-moment",
           ("self.beta2 * self.second_moment + (1 - self.beta2) * dw**2",
            "self.beta1 * self.second_moment + (1 - self.beta1) * dw**2")),
    mutant("ch03-adam", "shared-class-state", source='''
class Adam:
    state = {"m": 0.0, "v": 0.0, "t": 0}

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps

    def step(self, w, dw):
        s = self.state
        s["t"] += 1
        s["m"] = self.beta1 * s["m"] + (1 - self.beta1) * dw
        s["v"] = self.beta2 * s["v"] + (1 - self.beta2) * dw**2
        m_hat = s["m"] / (1 - self.beta1 ** s["t"])
        v_hat = s["v"] / (1 - self.beta2 ** s["t"])
        return w - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
'''),
    variant("ch03-adam", "step-size-form", source='''
class Adam:
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = self.v = None
        self.t = 0

    def step(self, w, dw):
        if self.m is None:
            self.m, self.v = np.zeros_like(w), np.zeros_like(w)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * dw
        self.v = self.beta2 * self.v + (1 - self.beta2) * dw * dw
        c1, c2 = 1 - self.beta1**self.t, 1 - self.beta2**self.t
        return w - (self.lr / c1) * self.m / (np.sqrt(self.v / c2) + self.eps)
'''),
    mutant("ch03-minimize", "no-start-row", ("visited = [w_current]",
                                             "visited = []")),
    mutant("ch03-minimize", "rows-alias-one-array", source='''
def minimize(optimizer, grad_fn, w0, num_steps):
    w = np.array(w0, dtype=np.float64)
    rows = [w]
    for _ in range(num_steps):
        w[...] = optimizer.step(w, grad_fn(w))
        rows.append(w)
    return np.array(rows)
'''),
    mutant("ch03-minimize", "gradient-at-start-only", source='''
def minimize(optimizer, grad_fn, w0, num_steps):
    w = np.array(w0, dtype=np.float64)
    dw = grad_fn(w)
    rows = [w]
    for _ in range(num_steps):
        w = optimizer.step(w, dw)
        rows.append(w)
    return np.stack(rows)
'''),
    mutant("ch03-minimize", "float32-trajectory", (
        "return np.stack(visited)", "return np.stack(visited).astype(np.float32)")),
    mutant("ch03-minimize", "moves-w0", source='''
def minimize(optimizer, grad_fn, w0, num_steps):
    rows = [np.array(w0, dtype=np.float64)]
    for _ in range(num_steps):
        w0[...] = optimizer.step(w0, grad_fn(w0))
        rows.append(np.array(w0, dtype=np.float64))
    return np.stack(rows)
'''),
    variant("ch03-minimize", "preallocated", source='''
def minimize(optimizer, grad_fn, w0, num_steps):
    w = np.asarray(w0, dtype=np.float64)
    out = np.empty((num_steps + 1,) + w.shape)
    out[0] = w
    for t in range(num_steps):
        out[t + 1] = optimizer.step(out[t].copy(), grad_fn(out[t].copy()))
    return out
'''),
    mutant("ch03-plateau", "absolute-threshold", (
        "loss < self.best_loss * (1.0 - self.threshold)",
        "loss < self.best_loss - self.threshold")),
    mutant("ch03-plateau", "patience-off-by-one", (
        "self.bad_epochs_in_a_row > self.patience",
        "self.bad_epochs_in_a_row >= self.patience")),
    mutant("ch03-plateau", "no-reset-after-cut", (
        "            self.bad_epochs_in_a_row = 0  # (after a reduction)",
        "            pass")),
    mutant("ch03-plateau", "min-lr-ignored", (
        "max(self.lr * self.factor, self.min_lr)", "self.lr * self.factor")),
    mutant("ch03-plateau", "no-threshold", (
        "loss < self.best_loss * (1.0 - self.threshold)",
        "loss < self.best_loss")),
    variant("ch03-plateau", "counter-of-epochs", source='''
class PlateauScheduler:
    def __init__(self, lr, factor=0.1, patience=10, threshold=1e-4,
                 min_lr=0.0):
        self.lr, self.factor, self.patience = lr, factor, patience
        self.threshold, self.min_lr = threshold, min_lr
        self.best, self.since = None, 0

    def step(self, loss):
        if self.best is None or loss < self.best - abs(self.best) * self.threshold:
            self.best, self.since = loss, 0
        else:
            self.since += 1
            if self.since > self.patience:
                self.lr, self.since = max(self.min_lr, self.lr * self.factor), 0
        return self.lr
'''),
]

# ---------------------------------------------------------------- Chapter 4
CONV_LOOP = '''
def conv2d_forward(x, w, b, *, stride=1, pad=0):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, f, ho, wo), dtype=np.result_type(x, w, b, np.float32))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            for k in range(f):
                out[:, k, i, j] = np.sum(patch * w[k], axis=(1, 2, 3)) + b[k]
    return out
'''
CH04 = [
    mutant("ch04-output-size", "no-plus-one", ("// stride + 1)", "// stride)")),
    mutant("ch04-output-size", "pad-one-side", ("size + 2 * pad - kernel_span",
                                                "size + pad - kernel_span")),
    mutant("ch04-output-size", "dilation-ignored", (
        "kernel_span = dilation * (kernel - 1) + 1", "kernel_span = kernel")),
    mutant("ch04-output-size", "true-division", (
        "int((size + 2 * pad - kernel_span) // stride + 1)",
        "(size + 2 * pad - kernel_span) / stride + 1")),
    mutant("ch04-output-size", "kernel-too-big-accepted", (
        "if kernel_span > size + 2 * pad:", "if False:")),
    mutant("ch04-output-size", "float-result", (
        "return int((size + 2 * pad - kernel_span) // stride + 1)",
        "return float((size + 2 * pad - kernel_span) // stride + 1)")),
    variant("ch04-output-size", "floor", source='''
import math
def conv_output_size(size, kernel, *, stride=1, pad=0, dilation=1):
    for value in (size, kernel, stride, pad, dilation):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError("integers only")
    if size < 1 or kernel < 1 or stride < 1 or dilation < 1 or pad < 0:
        raise ValueError("out of range")
    span = (kernel - 1) * dilation + 1
    if size + 2 * pad < span:
        raise ValueError("kernel does not fit")
    return math.floor((size + 2 * pad - span) / stride) + 1
'''),
    mutant("ch04-same-padding", "dilation-ignored", (
        "total = dilation * (kernel - 1)", "total = kernel - 1")),
    mutant("ch04-same-padding", "even-kernel-accepted", ("if total % 2 == 1:",
                                                         "if False:")),
    mutant("ch04-same-padding", "kernel-over-two", ("return int(total // 2)",
                                                    "return int(kernel // 2)")),
    mutant("ch04-conv2d", "pad-ignored", ("(pad, pad), (pad, pad)",
                                          "(0, 0), (0, 0)"),
           ("height + 2 * pad", "height"), ("width + 2 * pad", "width")),
    mutant("ch04-conv2d", "pad-one-side", ("(pad, pad), (pad, pad)",
                                           "(0, 2 * pad), (0, 2 * pad)")),
    mutant("ch04-conv2d", "flipped-kernel", ('patch, w)', 'patch, w[:, :, ::-1, ::-1])')),
    mutant("ch04-conv2d", "forgot-bias", ('patch, w) + b', 'patch, w)')),
    mutant("ch04-conv2d", "float64-for-float32", (
        "dtype=np.result_type(x, w, b, np.float32)", "dtype=np.float64")),
    mutant("ch04-conv2d", "stride-in-size-only", ("top, left = i * stride, j * stride",
                                                  "top, left = i, j")),
    mutant("ch04-conv2d", "wrong-channel-axis", ('"ncuv,fcuv->nf"',
                                                 '"ncuv,fcuv->nc"')),
    variant("ch04-conv2d", "loops", source=CONV_LOOP),
    variant("ch04-conv2d", "im2col", source='''
def conv2d_forward(x, w, b, *, stride=1, pad=0):
    from numpy.lib.stride_tricks import sliding_window_view
    f, c, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    n, _, ho, wo = win.shape[:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    out = cols @ w.reshape(f, -1).T + b
    return out.reshape(n, ho, wo, f).transpose(0, 3, 1, 2)
'''),
    mutant("ch04-max-pool", "mean-not-max", ("np.max(window, axis=(2, 3))",
                                             "np.mean(window, axis=(2, 3))")),
    mutant("ch04-max-pool", "stride-is-size", ("top, left = i * stride, j * stride",
                                               "top, left = i * size, j * size")),
    mutant("ch04-max-pool", "zero-start", source='''
def max_pool2d(x, *, size=2, stride=2):
    n, c, h, w = x.shape
    ho, wo = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.zeros((n, c, ho, wo), dtype=x.dtype)
    for i in range(ho):
        for j in range(wo):
            for u in range(size):
                for v in range(size):
                    out[:, :, i, j] = np.maximum(
                        out[:, :, i, j], x[:, :, i * stride + u, j * stride + v])
    return out
'''),
    mutant("ch04-max-pool", "float64-for-float32", ("dtype=x.dtype",
                                                    "dtype=np.float64")),
    mutant("ch04-max-pool", "ceil-mode", (
        "height_out = (height - size) // stride + 1",
        "height_out = -(-(height - size) // stride) + 1"),
        ("width_out = (width - size) // stride + 1",
         "width_out = -(-(width - size) // stride) + 1")),
    variant("ch04-max-pool", "sliding-window", source='''
def max_pool2d(x, *, size=2, stride=2):
    from numpy.lib.stride_tricks import sliding_window_view
    windows = sliding_window_view(x, (size, size), axis=(2, 3))
    return windows[:, :, ::stride, ::stride].max(axis=(-2, -1))
'''),
    mutant("ch04-avg-pool", "sum-not-mean", ("np.mean(window, axis=(2, 3))",
                                             "np.sum(window, axis=(2, 3))")),
    mutant("ch04-avg-pool", "float64-for-float32", (
        "dtype=np.result_type(x, np.float32)", "dtype=np.float64")),
    mutant("ch04-avg-pool", "stride-is-size", ("top, left = i * stride, j * stride",
                                               "top, left = i * size, j * size")),
    variant("ch04-avg-pool", "sliding-window", source='''
def avg_pool2d(x, *, size=2, stride=2):
    from numpy.lib.stride_tricks import sliding_window_view
    windows = sliding_window_view(x, (size, size), axis=(2, 3))
    out = windows[:, :, ::stride, ::stride].mean(axis=(-2, -1))
    return out.astype(np.result_type(x, np.float32))
'''),
    mutant("ch04-param-count", "forgot-bias", (
        "weights + (out_channels if bias else 0)", "weights")),
    mutant("ch04-param-count", "bias-flag-ignored", (
        "(out_channels if bias else 0)", "out_channels")),
    mutant("ch04-param-count", "no-input-channels", (
        "out_channels * in_channels * kernel_height", "out_channels * kernel_height")),
    mutant("ch04-param-count", "kernel-not-squared", (
        "kernel_height = kernel_width = int(kernel_size)",
        "kernel_height, kernel_width = int(kernel_size), 1")),
    variant("ch04-param-count", "numpy-int", source='''
def conv_param_count(in_channels, out_channels, kernel_size, bias=True):
    kernel = np.broadcast_to(np.asarray(kernel_size), (2,))
    return int(np.prod(kernel)) * in_channels * out_channels + bias * out_channels
'''),
    mutant("ch04-network-params", "pool-padding-ignored-in-conv", (
        "height = (height + 2 * pad - kernel) // stride + 1",
        "height = (height - kernel) // stride + 1"),
        ("width = (width + 2 * pad - kernel) // stride + 1",
         "width = (width - kernel) // stride + 1")),
    mutant("ch04-network-params", "dense-without-bias", (
        "total += features * outputs + outputs", "total += features * outputs")),
    mutant("ch04-network-params", "flatten-channels-only", (
        "features = channels * height * width", "features = channels")),
    mutant("ch04-network-params", "conv-without-bias", (
        "total += filters * channels * kernel * kernel + filters",
        "total += filters * channels * kernel * kernel")),
    mutant("ch04-network-params", "gap-ignored", ("height = width = 1", "pass")),
    mutant("ch04-receptive-field", "jump-ignored", (
        "field += (kernel_size - 1) * jump", "field += kernel_size - 1")),
    mutant("ch04-receptive-field", "jump-updated-first", source='''
def receptive_field(layers):
    field, jump = 1, 1
    for kernel_size, stride in layers:
        jump *= stride
        field += (kernel_size - 1) * jump
    return int(field)
'''),
    mutant("ch04-receptive-field", "product-of-kernels", source='''
def receptive_field(layers):
    field = 1
    for kernel_size, _ in layers:
        field *= kernel_size
    return int(field)
'''),
    variant("ch04-receptive-field", "backwards", source='''
def receptive_field(layers):
    field = 1
    for kernel_size, stride in reversed(list(layers)):
        field = (field - 1) * stride + kernel_size
    return field
'''),
    mutant("ch04-simple-cnn", "no-padding", ("kernel_size=3, padding=1)",
                                             "kernel_size=3)")),
    mutant("ch04-simple-cnn", "no-relu", ("self.pool(torch.relu(self.conv1(x)))",
                                          "self.pool(self.conv1(x))")),
    mutant("ch04-simple-cnn", "softmax-output", (
        "return self.fc(torch.flatten(x, 1))",
        "return torch.softmax(self.fc(torch.flatten(x, 1)), dim=1)")),
    mutant("ch04-simple-cnn", "avg-pool", ("nn.MaxPool2d(2)", "nn.AvgPool2d(2)")),
    variant("ch04-simple-cnn", "functional", (
        "x = self.pool(torch.relu(self.conv1(x)))",
        "x = nn.functional.max_pool2d(nn.functional.relu(self.conv1(x)), 2)"),
        ("return self.fc(torch.flatten(x, 1))",
         "return self.fc(x.reshape(x.shape[0], -1))")),
]

# ---------------------------------------------------------------- Chapter 6
CH06 = [
    mutant("ch06-dropout-forward", "not-inverted", (
        "(rng.random(x.shape) >= p) / (1.0 - p)",
        "(rng.random(x.shape) >= p) * (1.0 - p)")),
    mutant("ch06-dropout-forward", "keeps-with-probability-p", (
        "rng.random(x.shape) >= p", "rng.random(x.shape) < p")),
    mutant("ch06-dropout-forward", "ignores-rng", (
        "rng.random(x.shape)", "np.random.random(x.shape)")),
    mutant("ch06-dropout-forward", "reseeds-a-fixed-seed", (
        "rng.random(x.shape)", "np.random.default_rng(0).random(x.shape)")),
    mutant("ch06-dropout-forward", "float32", (F64, F32), (
        "(rng.random(x.shape) >= p) / (1.0 - p)",
        "((rng.random(x.shape) >= p) / (1.0 - p)).astype(np.float32)")),
    mutant("ch06-dropout-forward", "scales-at-inference", (
        "mask = np.ones_like(x)", "mask = np.full_like(x, 1.0 - p)")),
    mutant("ch06-dropout-forward", "in-place", source='''
def dropout_forward(x, p, training, rng):
    if not training:
        return x, np.ones_like(x)
    mask = (rng.random(np.shape(x)) >= p) / (1.0 - p)
    x *= mask
    return x, mask
'''),
    variant("ch06-dropout-forward", "binomial", source='''
def dropout_forward(x, p, training, rng):
    x = np.array(x, dtype=float)
    if not training:
        return x.copy(), np.ones(x.shape)
    keep = rng.binomial(1, 1.0 - p, size=x.shape)
    mask = keep / (1.0 - p)
    return x * mask, mask
'''),
    variant("ch06-dropout-forward", "uniform-where", source='''
def dropout_forward(x, p, training, rng):
    x = np.asarray(x, dtype=np.float64)
    if training:
        mask = np.where(rng.uniform(size=x.shape) < 1.0 - p, 1.0 / (1.0 - p), 0.0)
    else:
        mask = np.ones(x.shape)
    return mask * x, mask
'''),
    mutant("ch06-dropout-backward", "mask-without-scale", (
        "* np.asarray(mask)", "* (np.asarray(mask) > 0)")),
    mutant("ch06-dropout-backward", "float32", (F64, F32)),
    mutant("ch06-dropout-backward", "ones", ("* np.asarray(mask)", "* 1.0")),
    variant("ch06-dropout-backward", "multiply", (
        "np.asarray(dout, dtype=np.float64) * np.asarray(mask)",
        "np.multiply(dout, mask, dtype=np.float64)")),
    mutant("ch06-batchnorm-forward", "unbiased-variance-in-normalization", (
        "x.var(axis=0)  #", "x.var(axis=0, ddof=1)  #"),
        ("momentum * var * n / (", "momentum * var * 1 / (")),
    mutant("ch06-batchnorm-forward", "biased-running-variance", (
        "momentum * var * n / (\n            n - 1\n        )",
        "momentum * var")),
    mutant("ch06-batchnorm-forward", "momentum-reversed", (
        "(1 - momentum) * running_mean + momentum * mean",
        "momentum * running_mean + (1 - momentum) * mean"), (
        "(1 - momentum) * running_var + momentum * var * n / (\n            n - 1\n        )",
        "momentum * running_var + (1 - momentum) * var * n / (n - 1)")),
    mutant("ch06-batchnorm-forward", "batch-stats-at-inference", (
        "mean, var = np.asarray(running_mean), np.asarray(running_var)",
        "mean, var = x.mean(axis=0), x.var(axis=0)")),
    mutant("ch06-batchnorm-forward", "wrong-axis", (
        "mean, var = x.mean(axis=0), x.var(axis=0)",
        "mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)"),
        ("momentum * mean", "momentum * mean.mean()"),
        ("momentum * var * n", "momentum * var.mean() * n")),
    mutant("ch06-batchnorm-forward", "eps-outside-sqrt", (
        "np.sqrt(var + eps)", "(np.sqrt(var) + eps)")),
    mutant("ch06-batchnorm-forward", "running-stats-in-place", source='''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training,
                      momentum=0.1, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    if training:
        n = x.shape[0]
        mean, var = x.mean(axis=0), x.var(axis=0)
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * n / (n - 1)
    else:
        mean, var = running_mean, running_var
    x_hat = (x - mean) / np.sqrt(var + eps)
    return (gamma * x_hat + beta, (x_hat, np.asarray(gamma), var, eps),
            running_mean, running_var)
'''),
    variant("ch06-batchnorm-forward", "explicit-sums", source='''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training,
                      momentum=0.1, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if training:
        mean = x.sum(axis=0) / n
        var = ((x - mean) ** 2).sum(axis=0) / n
        new_mean = running_mean + momentum * (mean - running_mean)
        new_var = running_var + momentum * (var * n / (n - 1) - running_var)
    else:
        mean, var = running_mean, running_var
        new_mean, new_var = np.array(running_mean), np.array(running_var)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    return x_hat * gamma + beta, (x_hat, gamma, var, eps), new_mean, new_var
'''),
    mutant("ch06-batchnorm-backward", "no-x-hat-term", (
        " - x_hat * (g * x_hat).sum(axis=0)", "")),
    mutant("ch06-batchnorm-backward", "no-mean-term", (
        " - g.sum(axis=0)", "")),
    mutant("ch06-batchnorm-backward", "dgamma-without-x-hat", (
        "(dout * x_hat).sum(axis=0)", "dout.sum(axis=0)")),
    mutant("ch06-batchnorm-backward", "dbeta-mean", (
        "dbeta = dout.sum(axis=0)", "dbeta = dout.mean(axis=0)")),
    mutant("ch06-batchnorm-backward", "gamma-forgotten", (
        "g = dout * gamma", "g = dout")),
    variant("ch06-batchnorm-backward", "step-by-step", source='''
def batchnorm_backward(dout, cache):
    x_hat, gamma, var, eps = cache
    n = dout.shape[0]
    inv_std = 1.0 / np.sqrt(var + eps)
    dx_hat = dout * gamma
    dvar = np.sum(dx_hat * x_hat, axis=0) * -0.5 * inv_std**2
    dmean = -np.sum(dx_hat, axis=0) * inv_std
    x_centered = x_hat / inv_std
    dx = dx_hat * inv_std + dvar * 2 * x_centered / n + dmean / n
    return dx, np.einsum("nd,nd->d", dout, x_hat), dout.sum(axis=0)
'''),
    mutant("ch06-fans", "conv-without-kernel", (
        "return int(channels * receptive_field), int(filters * receptive_field)",
        "return int(channels), int(filters)")),
    mutant("ch06-fans", "dense-swapped", (
        "return int(shape[0]), int(shape[1])", "return int(shape[1]), int(shape[0])")),
    mutant("ch06-fans", "conv-channels-swapped", (
        "filters, channels, kernel_h, kernel_w = shape",
        "channels, filters, kernel_h, kernel_w = shape")),
    mutant("ch06-fans", "numpy-ints", (
        "return int(shape[0]), int(shape[1])",
        "return np.int64(shape[0]), np.int64(shape[1])")),
    variant("ch06-fans", "prod", source='''
def fans(shape):
    if len(shape) == 2:
        fan_in, fan_out = shape
        return int(fan_in), int(fan_out)
    field = int(np.prod(shape[2:]))
    return shape[1] * field, shape[0] * field
'''),
    mutant("ch06-glorot-uniform", "fan-in-only", (
        "np.sqrt(6.0 / (fan_in + fan_out))", "np.sqrt(6.0 / fan_in)")),
    mutant("ch06-glorot-uniform", "normal-not-uniform", (
        "rng.uniform(-limit, limit, size=shape)",
        "rng.normal(0.0, limit / np.sqrt(3.0), size=shape)")),
    mutant("ch06-glorot-uniform", "ignores-rng", (
        "rng.uniform(-limit, limit, size=shape)",
        "np.random.uniform(-limit, limit, size=shape)")),
    mutant("ch06-glorot-uniform", "reseeds-a-fixed-seed", (
        "rng.uniform(-limit, limit, size=shape)",
        "np.random.default_rng(42).uniform(-limit, limit, size=shape)")),
    mutant("ch06-glorot-uniform", "float32", (
        "rng.uniform(-limit, limit, size=shape)",
        "rng.uniform(-limit, limit, size=shape).astype(np.float32)")),
    variant("ch06-glorot-uniform", "scaled-random", source='''
def glorot_uniform(shape, rng):
    fan_in, fan_out = fans(shape)
    limit = (6.0 / (fan_in + fan_out)) ** 0.5
    return (2.0 * rng.random(shape) - 1.0) * limit
'''),
    mutant("ch06-he-normal", "truncated-at-2-sigma-rescaled", source='''
def he_normal(shape, rng):
    fan_in, _ = fans(shape)
    draws = rng.standard_normal(size=int(np.prod(shape)) * 2)
    draws = draws[np.abs(draws) <= 2.0][: int(np.prod(shape))]
    return (draws.reshape(shape) / 0.8796256610) * np.sqrt(2.0 / fan_in)
'''),
    mutant("ch06-he-normal", "uniform-same-variance", (
        "rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)",
        "rng.uniform(-np.sqrt(6.0 / fan_in), np.sqrt(6.0 / fan_in), size=shape)")),
    mutant("ch06-he-normal", "fan-out", ("fan_in, _ = fans(shape)",
                                         "_, fan_in = fans(shape)")),
    mutant("ch06-he-normal", "variance-1-over-fan-in", ("np.sqrt(2.0 / fan_in)",
                                                        "np.sqrt(1.0 / fan_in)")),
    mutant("ch06-he-normal", "std-2-over-fan-in", ("np.sqrt(2.0 / fan_in)",
                                                   "2.0 / fan_in")),
    mutant("ch06-he-normal", "ignores-rng", ("rng.normal(", "np.random.normal(")),
    mutant("ch06-he-normal", "reseeds-a-fixed-seed", (
        "rng.normal(", "np.random.default_rng(0).normal(")),
    mutant("ch06-he-normal", "float32", (
        "size=shape)", "size=shape).astype(np.float32)")),
    variant("ch06-he-normal", "standard-normal", source='''
def he_normal(shape, rng):
    fan_in = fans(shape)[0]
    return np.sqrt(2.0 / fan_in) * rng.standard_normal(shape)
'''),
    mutant("ch06-l2-loss", "no-half", ("0.5 * lam * np.sum(w**2)",
                                       "lam * np.sum(w**2)")),
    mutant("ch06-l2-loss", "regularizes-bias", (
        "return float(loss), dw, float(2.0 * r.mean())",
        "return float(loss + 0.5 * lam * b**2), dw, float(2.0 * r.mean() + lam * b)")),
    mutant("ch06-l2-loss", "dw-not-averaged", ("2.0 * x.T @ r / len(y)",
                                               "2.0 * x.T @ r")),
    mutant("ch06-l2-loss", "decay-in-gradient-missing", (
        "/ len(y) + lam * w", "/ len(y)")),
    mutant("ch06-l2-loss", "db-sum", ("float(2.0 * r.mean())",
                                      "float(2.0 * r.sum())")),
    variant("ch06-l2-loss", "einsum-numpy-scalars", source='''
def l2_regularized_loss(x, y, w, b, lam):
    r = np.einsum("nd,d->n", x, w) + b - y
    n = r.shape[0]
    loss = r @ r / n + lam / 2 * w @ w
    return loss, 2 * np.einsum("nd,n->d", x, r) / n + lam * w, 2 * r.sum() / n
'''),
    mutant("ch06-curves", "gaps-train-minus-validation", (
        'float(history["val_loss"][-1] - history["loss"][-1])',
        'float(history["loss"][-1] - history["val_loss"][-1])')),
    mutant("ch06-curves", "gaps-at-the-best-epoch", (
        'float(history["val_loss"][-1] - history["loss"][-1])',
        'float(np.min(history["val_loss"]) - np.min(history["loss"]))')),
    mutant("ch06-adam-l2", "decoupled-instead", (
        "+ weight_decay * np.asarray(w)", ""), (
        "w_next = w - lr * m_hat", "w_next = w - lr * weight_decay * w - lr * m_hat")),
    mutant("ch06-adam-l2", "decay-added-after-scaling", (
        "+ weight_decay * np.asarray(w)", ""), (
        "w_next = w - lr * m_hat / (np.sqrt(v_hat) + eps)",
        "w_next = w - lr * (m_hat / (np.sqrt(v_hat) + eps) + weight_decay * w)")),
    mutant("ch06-adam-l2", "half-decay", ("+ weight_decay * np.asarray(w)",
                                          "+ 0.5 * weight_decay * np.asarray(w)")),
    mutant("ch06-adam-l2", "decay-only-in-first-moment", (
        "v = beta2 * state[\"v\"] + (1 - beta2) * g**2",
        "v = beta2 * state[\"v\"] + (1 - beta2) * np.asarray(dw) ** 2")),
    mutant("ch06-adam-l2", "eps-inside-sqrt", ("(np.sqrt(v_hat) + eps)",
                                               "np.sqrt(v_hat + eps)")),
    mutant("ch06-adam-l2", "no-bias-correction", (
        "m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)", "m_hat, v_hat = m, v")),
    mutant("ch06-adam-l2", "step-counter-stuck", ("t = state[\"t\"] + 1", "t = 1")),
    mutant("ch06-adam-l2", "in-place", (
        "w_next = w - lr * m_hat / (np.sqrt(v_hat) + eps)",
        "w -= lr * m_hat / (np.sqrt(v_hat) + eps)\n    w_next = w")),
    mutant("ch06-adam-l2", "float32", (
        "return w_next, {", "return w_next.astype(np.float32), {")),
    variant("ch06-adam-l2", "tuple-state-step-size-form", source='''
def adam_l2_step(w, dw, state, *, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8,
                 weight_decay=0.0):
    m, v, t = state if state is not None else (0.0, 0.0, 0)
    g = dw + weight_decay * w
    t += 1
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    step = (lr / (1 - beta1**t)) * m / (np.sqrt(v / (1 - beta2**t)) + eps)
    return w - step, (m, v, t)
'''),
    mutant("ch06-adamw", "l2-instead", ("g = np.asarray(dw, dtype=np.float64)",
                                        "g = np.asarray(dw) + weight_decay * w"),
           ("(1 - lr * weight_decay) * w", "w")),
    mutant("ch06-adamw", "decay-without-lr", ("(1 - lr * weight_decay) * w",
                                              "(1 - weight_decay) * w")),
    mutant("ch06-adamw", "decay-of-the-new-weights", (
        "w_next = (1 - lr * weight_decay) * w - lr * m_hat / (np.sqrt(v_hat) + eps)",
        "w_next = (1 - lr * weight_decay) * "
        "(w - lr * m_hat / (np.sqrt(v_hat) + eps))")),
    mutant("ch06-adamw", "decay-scaled-by-adam", (
        "w_next = (1 - lr * weight_decay) * w - lr * m_hat / (np.sqrt(v_hat) + eps)",
        "w_next = w - lr * (m_hat + weight_decay * w) / (np.sqrt(v_hat) + eps)")),
    mutant("ch06-adamw", "no-bias-correction", (
        "m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)", "m_hat, v_hat = m, v")),
    mutant("ch06-adamw", "eps-inside-sqrt", ("(np.sqrt(v_hat) + eps)",
                                             "np.sqrt(v_hat + eps)")),
    variant("ch06-adamw", "reuses-adam-l2", source='''
def adamw_step(w, dw, state, *, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8,
               weight_decay=0.01):
    w_adam, state = adam_l2_step(w, dw, state, lr=lr, beta1=beta1,
                                 beta2=beta2, eps=eps, weight_decay=0.0)
    return w_adam - lr * weight_decay * w, state
'''),
    # The multiple-choice answers: only hidden tests can check them.
    mutant("ch06-curves", "swapped", ('overfitting_model = "B"',
                                      'overfitting_model = "A"'),
           ('underfitting_model = "A"', 'underfitting_model = "B"'),
           hidden_only=True),
    mutant("ch06-curves", "best-epoch-zero-based", (
        '["val_loss"])) + 1', '["val_loss"]))'), hidden_only=True),
    mutant("ch06-curves", "best-epoch-from-train-loss", (
        'curves[overfitting_model]["val_loss"]',
        'curves[overfitting_model]["loss"]'), hidden_only=True),
    mutant("ch06-curves", "last-epoch", (
        'int(np.argmin(curves[overfitting_model]["val_loss"])) + 1',
        'len(curves[overfitting_model]["val_loss"])'), hidden_only=True),
]

# ---------------------------------------------------------------- the tests
# ---------------------------------------------------------------- Chapter 5
CH05 = [
    mutant("ch05-functional-model", "relu-on-digit-head", (
        'keras.layers.Dense(10, name="digit")',
        'keras.layers.Dense(10, name="digit", activation="relu")')),
    mutant("ch05-functional-model", "no-relu-after-dense32", (
        'keras.layers.Dense(32, activation="relu")', 'keras.layers.Dense(32)')),
    mutant("ch05-functional-model", "no-sigmoid-on-is-even", (
        'keras.layers.Dense(1, activation="sigmoid", name="is_even")',
        'keras.layers.Dense(1, name="is_even")')),
    mutant("ch05-functional-model", "average-pooling", (
        "keras.layers.MaxPooling2D(2)", "keras.layers.AveragePooling2D(2)")),
    mutant("ch05-functional-model", "one-cached-model", (
        "def build_two_head_model():",
        "_CACHE = []\n\n\ndef build_two_head_model():\n"
        "    if not _CACHE:\n        _CACHE.append(_build())\n"
        "    return _CACHE[0]\n\n\ndef _build():")),
    variant("ch05-functional-model", "activation-layers-and-reshape", source='''
def build_two_head_model():
    x_in = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(8, (3, 3), padding="same")(x_in)
    h = keras.layers.Activation("relu")(h)
    h = keras.layers.MaxPool2D()(h)
    h = keras.layers.Reshape((128,))(h)
    h = keras.layers.ReLU()(keras.layers.Dense(32)(h))
    digit = keras.layers.Dense(10, name="digit")(h)
    even = keras.layers.Activation("sigmoid", name="is_even")(
        keras.layers.Dense(1)(h))
    return keras.Model(x_in, [digit, even])
'''),
    mutant("ch05-torch-model", "no-relu-after-linear128", (
        "nn.Linear(128, 32),\n            nn.ReLU(),", "nn.Linear(128, 32),")),
    mutant("ch05-torch-model", "relu-on-digit-logits", (
        "return self.digit(hidden),", "return torch.relu(self.digit(hidden)),")),
    mutant("ch05-torch-model", "sigmoid-on-digit-logits", (
        "return self.digit(hidden),",
        "return torch.sigmoid(self.digit(hidden)),")),
    mutant("ch05-torch-model", "average-pooling", (
        "nn.MaxPool2d(2)", "nn.AvgPool2d(2)")),
    variant("ch05-torch-model", "functional-forward", source='''
import torch.nn.functional as F
class TwoHeadCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(128, 32)
        self.heads = nn.ModuleList([nn.Linear(32, 10), nn.Linear(32, 1)])
    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv(x)), 2)
        h = F.relu(self.fc(torch.flatten(h, 1)))
        return self.heads[0](h), torch.sigmoid(self.heads[1](h))
'''),
    mutant("ch05-early-stopping", "sorts-the-list-in-place", (
        "best, best_epoch, wait = float",
        "if isinstance(val_losses, list):\n        val_losses.sort()\n"
        "    best, best_epoch, wait = float")),
    mutant("ch05-early-stopping", "small-decrease-moves-best", (
        "        else:\n            wait += 1",
        "        else:\n            best = min(best, loss)\n            wait += 1")),
    mutant("ch05-early-stopping", "tie-improves", (
        "if loss + min_delta < best:", "if loss + min_delta <= best:")),
    mutant("ch05-early-stopping", "accepts-negative-patience", (
        "if patience < 0 or min_delta < 0:", "if min_delta < 0:")),
    variant("ch05-early-stopping", "counts-since-best", source='''
def early_stopping(val_losses, *, patience, min_delta=0.0):
    losses = [float(v) for v in val_losses]
    if not losses or patience < 0 or min_delta < 0:
        raise ValueError("need a history, patience >= 0, min_delta >= 0")
    best, best_epoch = np.inf, 0
    for epoch, loss in enumerate(losses):
        if best - loss > min_delta:
            best, best_epoch = loss, epoch
        elif epoch - best_epoch >= max(patience, 1):
            return epoch, best_epoch
    return len(losses) - 1, best_epoch
'''),
    mutant("ch05-confusion-matrix", "float-counts", (
        "return counts.reshape(num_classes, num_classes)",
        "out = np.zeros((num_classes, num_classes))\n"
        "    np.add.at(out, (y_true, y_pred), 1)\n    return out")),
    mutant("ch05-confusion-matrix", "nested-list", (
        "return counts.reshape(num_classes, num_classes)",
        "return counts.reshape(num_classes, num_classes).tolist()")),
    mutant("ch05-confusion-matrix", "transposed", (
        "return counts.reshape(num_classes, num_classes)",
        "return counts.reshape(num_classes, num_classes).T")),
    variant("ch05-confusion-matrix", "add-at", source='''
def confusion_matrix(y_true, y_pred, num_classes):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError("lengths")
    for labels in (y_true, y_pred):
        if np.any(labels < 0) or np.any(labels >= num_classes):
            raise ValueError("labels")
    out = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(out, (y_true, y_pred), 1)
    return out
'''),
    mutant("ch05-per-class-scores", "float32", (
        "return precision, recall, f1",
        "return (precision.astype(np.float32), recall.astype(np.float32), "
        "f1.astype(np.float32))")),
    mutant("ch05-per-class-scores", "lists", (
        "return precision, recall, f1",
        "return list(precision), list(recall), list(f1)")),
    mutant("ch05-per-class-scores", "sorts-the-input", (
        "confusion = np.asarray(confusion)\n",
        "confusion = np.asarray(confusion)\n    confusion.sort(axis=0)\n")),
    mutant("ch05-per-class-scores", "precision-from-rows", (
        "predicted = confusion.sum(axis=0)", "predicted = confusion.sum(axis=1)")),
    variant("ch05-per-class-scores", "where-with-errstate", source='''
def per_class_scores(confusion):
    c = np.asarray(confusion)
    tp = np.diag(c)
    p_den, r_den = c.sum(axis=0), c.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(p_den > 0, tp / p_den, 0.0)
        recall = np.where(r_den > 0, tp / r_den, 0.0)
        f1 = np.where(precision + recall > 0,
                      2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1
'''),
    mutant("ch05-averaged-scores", "float32", (
        "return tuple(float(np.mean(score)) for score in per_class)",
        "return tuple(np.float32(np.mean(score)) for score in per_class)")),
    mutant("ch05-averaged-scores", "zero-d-arrays", (
        "return tuple(float(np.mean(score)) for score in per_class)",
        "return tuple(np.asarray(np.mean(score)) for score in per_class)")),
    mutant("ch05-averaged-scores", "weighted-by-predictions", (
        "support = confusion.sum(axis=1)", "support = confusion.sum(axis=0)")),
    variant("ch05-averaged-scores", "numpy-floats", source='''
def averaged_scores(confusion, average):
    c = np.asarray(confusion)
    if average == "micro":
        accuracy = np.trace(c) / c.sum()
        return accuracy, accuracy, accuracy
    p, r, f = per_class_scores(c)
    if average == "macro":
        return p.mean(), r.mean(), f.mean()
    if average == "weighted":
        w = c.sum(axis=1)
        return (np.average(p, weights=w), np.average(r, weights=w),
                np.average(f, weights=w))
    raise ValueError(average)
'''),
    mutant("ch05-training-step", "scales-x-in-place", (
        "loss = loss_fn(model(x), y)", "x.mul_(1.0001)\n    loss = loss_fn(model(x), y)")),
    mutant("ch05-training-step", "no-zero-grad", (
        "    optimizer.zero_grad()\n", "")),
    mutant("ch05-training-step", "no-train-mode", ("    model.train()\n", "")),
    variant("ch05-training-step", "zero-grad-set-to-none", source='''
def training_step(model, x, y, *, loss_fn, optimizer):
    model.train()
    for p in model.parameters():
        p.grad = None
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
'''),
    mutant("ch05-digits-cnn", "one-cached-model", (
        "def build_digits_cnn():",
        "_MODELS = []\n\n\ndef build_digits_cnn():\n"
        "    if not _MODELS:\n        _MODELS.append(_build())\n"
        "    return _MODELS[0]\n\n\ndef _build():")),
]

# ---------------------------------------------------------------- Chapter 7
CH07 = [
    mutant("ch07-conv-stats", "macs-with-input-size", (
        "int(weights * output_size**2)", "int(weights * input_size**2)")),
    mutant("ch07-conv-stats", "true-division", (
        "output_size = (input_size + 2 * padding - kernel_size) // stride + 1",
        "output_size = (input_size + 2 * padding - kernel_size) / stride + 1"),
        ("return int(output_size), int(params), int(weights * output_size**2)",
         "return output_size, params, weights * output_size**2")),
    mutant("ch07-stack", "kernel-size-hard-coded", (
        "field = num_layers * (kernel_size - 1) + 1", "field = 2 * num_layers + 1"),
        ("stack_params = num_layers * kernel_size**2",
         "stack_params = num_layers * 9")),
    mutant("ch07-stack", "floats", (
        "return int(field), int(stack_params), int(field**2 * channels**2)",
        "return field, stack_params, field**2 * channels**2 / 1")),
    mutant("ch07-separable", "integer-division", (
        "(depthwise + pointwise) / (out_channels",
        "(depthwise + pointwise) // (out_channels")),
    variant("ch07-separable", "closed-form", source='''
def depthwise_separable_ratio(in_channels, out_channels, kernel_size):
    return 1 / out_channels + 1 / kernel_size**2
'''),
    mutant("ch07-vgg-torch", "in-place-relu-on-input", (
        "return nn.Sequential(*layers_list)",
        "return nn.Sequential(nn.ReLU(inplace=True), *layers_list)")),
    mutant("ch07-vgg-torch", "float64-block", (
        "return nn.Sequential(*layers_list)",
        "return nn.Sequential(*layers_list).double()")),
    variant("ch07-vgg-torch", "in-place-relus", source='''
def vgg_block_torch(in_channels, out_channels, num_convs):
    mods = []
    for i in range(num_convs):
        mods += [nn.Conv2d(out_channels if i else in_channels, out_channels,
                           3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*mods, nn.MaxPool2d(2))
'''),
    mutant("ch07-vgg-keras", "no-relu", ("        x = layers.ReLU()(x)\n", "")),
    mutant("ch07-inception-torch", "no-relu-after-reduction", (
        "nn.Conv2d(in_channels, c3_reduce, 1),\n            nn.ReLU(),",
        "nn.Conv2d(in_channels, c3_reduce, 1),")),
    mutant("ch07-inception-torch", "average-pool-branch", (
        "nn.MaxPool2d(3, stride=1, padding=1)",
        "nn.AvgPool2d(3, stride=1, padding=1)")),
    mutant("ch07-inception-keras", "branches-3-and-5-swapped", (
        "[branch1, branch3, branch5, branch_pool]",
        "[branch1, branch5, branch3, branch_pool]")),
    mutant("ch07-inception-keras", "no-relu-after-reduction", (
        "branch3 = conv(conv(x, c3_reduce, 1), c3, 3)",
        "branch3 = conv(layers.Conv2D(c3_reduce, 1)(x), c3, 3)")),
    variant("ch07-inception-keras", "relu-layers-pool-first", source='''
def inception_module_keras(x, c1, c3_reduce, c3, c5_reduce, c5, pool_proj):
    def cr(t, f, k):
        return layers.ReLU()(layers.Conv2D(f, k, padding="same")(t))
    bp = cr(layers.MaxPooling2D(3, strides=1, padding="same")(x), pool_proj, 1)
    b1 = cr(x, c1, 1)
    b5 = cr(cr(x, c5_reduce, 1), c5, 5)
    b3 = cr(cr(x, c3_reduce, 1), c3, 3)
    return layers.Concatenate()([b1, b3, b5, bp])
'''),
    mutant("ch07-residual-torch", "relu-before-the-addition", (
        "return torch.relu(self.residual(x) + self.shortcut(x))",
        "return torch.relu(self.residual(x)) + self.shortcut(x)")),
    mutant("ch07-residual-torch", "relu-before-batch-norm", (
        "            nn.BatchNorm2d(out_channels),\n            nn.ReLU(),\n",
        "            nn.ReLU(),\n            nn.BatchNorm2d(out_channels),\n")),
    mutant("ch07-residual-torch", "adds-into-x", (
        "return torch.relu(self.residual(x) + self.shortcut(x))",
        "s = self.shortcut(x)\n        s += self.residual(x)\n"
        "        return torch.relu(s)")),
    variant("ch07-residual-torch", "out-plus-equals", source='''
class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_channels))
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels))
    def forward(self, x):
        out = self.residual(x)
        out += self.shortcut(x)
        return F.relu(out)
'''),
    mutant("ch07-residual-keras", "relu-before-batch-norm", (
        "out = layers.BatchNormalization()(out)\n    out = layers.ReLU()(out)",
        "out = layers.ReLU()(out)\n    out = layers.BatchNormalization()(out)")),
    mutant("ch07-residual-keras", "relu-before-the-addition", (
        "return layers.ReLU()(layers.Add()([out, shortcut]))",
        "return layers.Add()([layers.ReLU()(out), shortcut])")),
    mutant("ch07-residual-keras", "stride-on-the-second-conv", (
        'out = layers.Conv2D(\n        filters, 3, strides=stride, padding="same", '
        'use_bias=False\n    )(x)',
        'out = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)'),
        ('out = layers.Conv2D(filters, 3, padding="same", use_bias=False)(out)',
         'out = layers.Conv2D(filters, 3, strides=stride, padding="same", '
         'use_bias=False)(out)')),
    variant("ch07-residual-keras", "shortcut-built-first", source='''
def residual_block_keras(x, filters, stride=1):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.BatchNormalization()(
            layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x))
    out = layers.Conv2D(filters, 3, strides=stride, padding="same",
                        use_bias=False)(x)
    out = layers.Activation("relu")(layers.BatchNormalization()(out))
    out = layers.BatchNormalization()(
        layers.Conv2D(filters, 3, padding="same", use_bias=False)(out))
    return layers.Activation("relu")(layers.add([shortcut, out]))
'''),
]


CHAPTERS = {
    "01_perceptrons": CH01,
    "02_backprop": CH02 + CH02_NEW,
    "03_optimizers": CH03,
    "04_cnn_blocks": CH04 + CH04_BACKWARD,
    "05_training_cnns": CH05,
    "06_regularization": CH06 + CH06_NEW,
    "07_architectures": CH07,
    "09_detection_segmentation": CH09,
}
CASES = [pytest.param(assignment, answer, id=f"{assignment}-{answer.id}")
         for assignment, answers in CHAPTERS.items() for answer in answers]



@pytest.mark.slow
@pytest.mark.parametrize("assignment, answer", CASES)
def test_exercise_tests_reject_mutants_and_accept_variants(assignment, answer):
    outcome = notebook(assignment).run(answer)
    if not answer.wrong:
        failures = {**outcome.visible_failures, **outcome.full_failures}
        assert not failures, f"a correct answer failed: {failures}"
    elif answer.hidden_only:
        assert outcome.caught, "a wrong answer passed every test"
    else:
        assert outcome.caught_visibly, (
            "a wrong answer passed every visible test"
            + (f" (only the hidden tests catch it: {outcome.full_failures})"
               if outcome.caught else " and every hidden test"))


def test_every_chapter_has_mutants_and_variants_of_every_answer():
    for assignment, answers in CHAPTERS.items():
        parts = {a.part for a in answers}
        wrong = {a.part for a in answers if a.wrong}
        prefix = "ch" + assignment[:2]
        assert parts == wrong, f"{assignment}: parts without a mutant"
        assert any(not a.wrong for a in answers), assignment
        assert all(a.part.startswith(prefix) for a in answers), assignment
        ids = [a.id for a in answers]
        assert len(ids) == len(set(ids)), f"{assignment}: duplicate names"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(CHAPTERS))
def test_every_answer_cell_of_the_notebook_has_mutants(assignment):
    parts = set(notebook(assignment).answers)
    covered = {a.part for a in CHAPTERS[assignment] if a.wrong}
    assert parts <= covered, f"answers without mutants: {parts - covered}"


def test_harness_catches_a_mutant_and_passes_the_solution(tmp_path, monkeypatch):
    """The machinery itself, on a two-cell notebook: visible vs hidden, restore."""
    import nbformat

    import exercise_mutants

    def cell(source, grade_id, **meta):
        c = nbformat.v4.new_code_cell(source)
        c.metadata["nbgrader"] = {"grade_id": grade_id, **meta}
        return c

    answer = cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                  "    ### END SOLUTION", "chxx-double", solution=True)
    test = cell("assert double(1) == 2\n### BEGIN HIDDEN TESTS\n"
                "assert double(-3) == -6\n### END HIDDEN TESTS",
                "chxx-double-test-values", grade=True, points=1)
    folder = tmp_path / "xx_demo"
    folder.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[answer, test]),
                   folder / "xx.ipynb")
    monkeypatch.setattr(exercise_mutants, "SOLUTIONS_DIR", tmp_path)
    book = exercise_mutants.ExerciseNotebook("xx_demo")
    square = mutant("chxx-double", "square", ("2 * x", "x * x"))
    absolute = mutant("chxx-double", "abs", ("2 * x", "2 * abs(x)"))
    plus = variant("chxx-double", "plus", ("2 * x", "x + x"))
    assert book.run(square).caught_visibly
    outcome = book.run(absolute)
    assert outcome.caught and not outcome.caught_visibly
    assert not book.run(plus).caught
    assert book.namespace["double"](5) == 10  # the solution is back
