"""course_lib.layers.svm_loss (multiclass hinge) against a loop, torch.nn.MultiMarginLoss
(whose 1/K normalization is spelled out) and numerical gradients."""

import numpy as np
import pytest
import torch

from course_lib.checks import check_no_mutation
from course_lib.gradcheck import numerical_gradient, rel_error
from course_lib.layers import svm_loss


def _svm_loss_loop(scores, y, margin=1.0):
    """The definition, one sample and one wrong class at a time (cs231n's naive version)."""
    num_samples, num_classes = scores.shape
    loss, dscores = 0.0, np.zeros_like(scores, dtype=np.float64)
    for n in range(num_samples):
        for k in range(num_classes):
            if k == y[n]:
                continue
            term = scores[n, k] - scores[n, y[n]] + margin
            if term > 0:
                loss += term
                dscores[n, k] += 1.0
                dscores[n, y[n]] -= 1.0
    return loss / num_samples, dscores / num_samples


@pytest.mark.parametrize("shape", [(1, 2), (5, 3), (16, 10), (7, 4)])
@pytest.mark.parametrize("margin", [1.0, 0.5, 3.0])
def test_svm_loss_matches_the_loop_and_torch_multimarginloss_times_k(rng, shape, margin):
    scores = rng.normal(scale=2.0, size=shape)
    y = rng.integers(0, shape[1], size=shape[0])
    loss, dscores = check_no_mutation(lambda s, t: svm_loss(s, t, margin=margin), scores, y)
    want_loss, want_d = _svm_loss_loop(scores, y, margin)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-12)
    np.testing.assert_allclose(dscores, want_d, rtol=1e-12, atol=1e-15)
    # MultiMarginLoss divides each sample's sum by K (then averages over N): loss / K
    scores_t = torch.tensor(scores, requires_grad=True)
    torch_loss = torch.nn.MultiMarginLoss(margin=margin)(scores_t, torch.tensor(y))
    torch_loss.backward()
    num_classes = shape[1]
    np.testing.assert_allclose(loss / num_classes, torch_loss.item(), rtol=1e-12)
    np.testing.assert_allclose(dscores / num_classes, scores_t.grad.numpy(), rtol=1e-12,
                               atol=1e-15)


def test_svm_loss_gradient_matches_numerical_gradient(rng):
    scores = rng.normal(size=(6, 5))
    y = rng.integers(0, 5, size=6)
    _, dscores = svm_loss(scores, y)
    numeric = numerical_gradient(lambda s: svm_loss(s, y)[0], scores.copy())
    assert rel_error(dscores, numeric) < 1e-8


def test_a_term_exactly_at_the_margin_costs_nothing_and_gets_no_gradient():
    # class 1 is exactly `margin` below the correct class 0: its term is max(0, 0) = 0,
    # and, as in PyTorch, only strictly positive terms get a gradient
    scores = np.array([[2.0, 1.0, -5.0]])
    y = np.array([0])
    loss, dscores = svm_loss(scores, y)
    assert loss == 0.0
    np.testing.assert_array_equal(dscores, np.zeros((1, 3)))
    scores_t = torch.tensor(scores, requires_grad=True)
    torch.nn.MultiMarginLoss()(scores_t, torch.tensor(y)).backward()
    np.testing.assert_array_equal(scores_t.grad.numpy(), dscores)


def test_confident_correct_answers_have_zero_loss_and_zero_gradient():
    scores = np.array([[10.0, 0.0, 0.0], [0.0, 0.0, 9.0]])
    loss, dscores = svm_loss(scores, np.array([0, 2]))
    assert loss == 0.0 and not dscores.any()


def test_each_row_of_the_gradient_sums_to_zero(rng):
    scores = rng.normal(size=(8, 4))
    _, dscores = svm_loss(scores, rng.integers(0, 4, size=8))
    np.testing.assert_allclose(dscores.sum(axis=1), 0.0, atol=1e-15)


def test_equal_scores_cost_the_margin_for_every_wrong_class():
    loss, dscores = svm_loss(np.zeros((3, 4)), np.array([0, 1, 3]), margin=2.0)
    assert loss == pytest.approx(3 * 2.0)           # K - 1 = 3 terms of 2.0 per sample
    np.testing.assert_allclose(dscores[0], [-1.0, 1 / 3, 1 / 3, 1 / 3])


def test_float32_and_integer_scores(rng):
    scores = rng.normal(size=(4, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    assert svm_loss(scores, y)[1].dtype == np.float32
    loss, dscores = svm_loss(np.array([[3, 1, 0]]), np.array([0]))
    assert loss == 0.0 and dscores.dtype.kind == "f"


def test_bad_arguments_raise_with_a_message(rng):
    scores = rng.normal(size=(3, 4))
    with pytest.raises(TypeError, match="integer class labels"):
        svm_loss(scores, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="shape"):
        svm_loss(scores, np.array([0, 1]))
    with pytest.raises(ValueError, match="labels must lie"):
        svm_loss(scores, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="margin"):
        svm_loss(scores, np.array([0, 1, 2]), margin=0.0)
    with pytest.raises(ValueError, match="K >= 2"):
        svm_loss(scores[:, :1], np.array([0, 0, 0]))
