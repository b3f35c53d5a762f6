"""Mutants and variants of the issue-17 exercise parts: the hinge loss (Chapter 2) and the
layer-norm backward pass (Chapter 6).

Same machinery as ``tests/test_exercise_mutants.py`` (``tests/exercise_mutants.py``): each
wrong answer replaces the instructor's answer and must fail a visible test cell of its part;
each correct answer written differently must pass every test cell, hidden tests included.
``CH02_NEW`` and ``CH06_NEW`` are run there, as part of ``CHAPTERS``.
"""

from __future__ import annotations

from exercise_mutants import mutant, variant

CH02_NEW = [
    mutant("ch02-svm-loss", "counts-the-correct-class",
           ("    margins[rows, y] = 0.0  # the correct class is not a term\n", "")),
    mutant("ch02-svm-loss", "no-mean-over-the-batch",
           ("float(margins.sum() / num_samples), active / num_samples",
            "float(margins.sum()), active")),
    mutant("ch02-svm-loss", "torch-normalization-divides-by-k",
           ("float(margins.sum() / num_samples), active / num_samples",
            "float(margins.sum() / margins.size), active / margins.size")),
    mutant("ch02-svm-loss", "gradient-counts-terms-at-the-margin", source='''
def svm_loss(scores, y, margin=1.0):
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y)
    rows = np.arange(scores.shape[0])
    raw = scores - scores[rows, y][:, None] + margin  # (N, K)
    margins = np.maximum(0.0, raw)
    margins[rows, y] = 0.0
    active = (raw >= 0).astype(np.float64)  # >= counts a kink of 0 too
    active[rows, y] = 0.0
    active[rows, y] = -active.sum(axis=1)
    return float(margins.sum() / len(rows)), active / len(rows)
'''),
    mutant("ch02-svm-loss", "no-gradient-on-the-correct-score",
           ("    active[rows, y] = -active.sum(axis=1)\n", "")),
    mutant("ch02-svm-loss", "correct-score-gets-plus-count",
           ("active[rows, y] = -active.sum(axis=1)",
            "active[rows, y] = active.sum(axis=1)")),
    mutant("ch02-svm-loss", "float32", ("dtype=np.float64)\n    y = np.asarray(y)",
                                        "dtype=np.float32)\n    y = np.asarray(y)")),
    mutant("ch02-svm-loss", "in-place-into-scores", source='''
def svm_loss(scores, y, margin=1.0):
    y = np.asarray(y)
    rows = np.arange(len(y))
    correct = scores[rows, y][:, None].copy()
    scores -= correct - margin  # changes the caller's array
    margins = np.maximum(0.0, scores)
    margins[rows, y] = 0.0
    active = (margins > 0).astype(np.float64)
    active[rows, y] = -active.sum(axis=1)
    return float(margins.sum() / len(y)), active / len(y)
'''),
    variant("ch02-svm-loss", "loop-over-samples-and-classes", source='''
def svm_loss(scores, y, margin=1.0):
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y)
    num_samples, num_classes = scores.shape
    loss, dscores = 0.0, np.zeros((num_samples, num_classes))
    for i in range(num_samples):
        for k in range(num_classes):
            if k == y[i]:
                continue
            term = scores[i, k] - scores[i, y[i]] + margin
            if term > 0:
                loss += term
                dscores[i, k] += 1.0
                dscores[i, y[i]] -= 1.0
    return loss / num_samples, dscores / num_samples
'''),
    variant("ch02-svm-loss", "one-hot-mask-and-where", source='''
def svm_loss(scores, y, margin=1.0):
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y)
    n = scores.shape[0]
    is_correct = np.arange(scores.shape[1])[None, :] == y[:, None]  # (N, K)
    correct = np.where(is_correct, scores, 0.0).sum(axis=1, keepdims=True)
    terms = np.where(is_correct, 0.0, scores - correct + margin)
    positive = terms > 0
    dscores = positive - is_correct * positive.sum(axis=1, keepdims=True)
    return np.float64(np.where(positive, terms, 0.0).sum() / n), dscores / n
'''),
]

CH06_NEW = [
    mutant("ch06-layernorm-backward", "inference-like-no-statistics-terms", source='''
def layernorm_backward(dout, cache):
    x_hat, gamma, var, eps = cache
    dout = np.asarray(dout, dtype=np.float64)
    dx = dout * gamma / np.sqrt(var + eps)  # mean and variance taken as constants
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
'''),
    mutant("ch06-layernorm-backward", "no-variance-term",
           ("- x_hat * (g * x_hat).sum(axis=1, keepdims=True)",
            "- 0 * x_hat")),
    mutant("ch06-layernorm-backward", "no-mean-term",
           ("- g.sum(axis=1, keepdims=True)", "- 0 * g")),
    mutant("ch06-layernorm-backward", "sums-over-the-batch-like-batchnorm", source='''
def layernorm_backward(dout, cache):
    x_hat, gamma, var, eps = cache
    dout = np.asarray(dout, dtype=np.float64)
    n = dout.shape[0]
    g = dout * gamma
    dx = (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0)) / (
        n * np.sqrt(var + eps)
    )
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
'''),
    mutant("ch06-layernorm-backward", "dgamma-summed-over-features",
           ("dgamma = (dout * x_hat).sum(axis=0)", "dgamma = (dout * x_hat).sum(axis=1)")),
    mutant("ch06-layernorm-backward", "dgamma-without-x-hat",
           ("dgamma = (dout * x_hat).sum(axis=0)", "dgamma = dout.sum(axis=0)")),
    mutant("ch06-layernorm-backward", "sum-without-keepdims", (
        "- g.sum(axis=1, keepdims=True)", "- g.sum(axis=1)")),
    mutant("ch06-layernorm-backward", "forgets-eps",
           ("np.sqrt(var + eps)", "np.sqrt(var)")),
    variant("ch06-layernorm-backward", "staged-graph-cs231n", source='''
def layernorm_backward(dout, cache):
    x_hat, gamma, var, eps = cache
    dout = np.asarray(dout, dtype=np.float64)
    d = dout.shape[1]
    std = np.sqrt(var + eps)  # (N, 1)
    dx_hat = dout * gamma
    x_mu = x_hat * std  # x - mean
    dvar = np.sum(dx_hat * x_mu, axis=1, keepdims=True) * -0.5 * std**-3
    dmu = np.sum(-dx_hat / std, axis=1, keepdims=True) + dvar * np.mean(
        -2.0 * x_mu, axis=1, keepdims=True
    )
    dx = dx_hat / std + dvar * 2.0 * x_mu / d + dmu / d
    return dx, np.sum(dout * x_hat, axis=0), np.sum(dout, axis=0)
'''),
    variant("ch06-layernorm-backward", "transpose-and-reuse-batchnorm", source='''
def layernorm_backward(dout, cache):
    x_hat, gamma, var, eps = cache
    dout = np.asarray(dout, dtype=np.float64)
    # layer norm of rows = batch norm of the columns of the transposes
    g_t, x_hat_t = (dout * gamma).T, x_hat.T  # (D, N)
    d = g_t.shape[0]
    dx_t = (d * g_t - g_t.sum(axis=0) - x_hat_t * (g_t * x_hat_t).sum(axis=0)) / (
        d * np.sqrt(var.T + eps)
    )
    return dx_t.T, np.einsum("nd,nd->d", dout, x_hat), dout.sum(axis=0)
'''),
]

NEW = {"02_backprop": CH02_NEW, "06_regularization": CH06_NEW}
def test_new_parts_have_at_least_four_mutants_and_a_variant():
    for answers in NEW.values():
        for part in {a.part for a in answers}:
            mine = [a for a in answers if a.part == part]
            assert sum(a.wrong for a in mine) >= 4, part
            assert any(not a.wrong for a in mine), part
        ids = [a.id for a in answers]
        assert len(ids) == len(set(ids))
