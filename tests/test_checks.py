import numpy as np
import pytest
import torch

from course_lib.checks import (check_array, check_no_mutation, check_scalar, check_type,
                               check_uses_rng)


class AlwaysEqual:
    """The classic trick: claims to equal anything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


def test_check_array_accepts_close_values_lists_and_tensors():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    check_array(expected + 1e-9, expected)
    check_array([[1.0, 2.0], [3.0, 4.0]], expected)
    check_array(torch.tensor(expected, requires_grad=True), expected)


@pytest.mark.parametrize("cheat", [AlwaysEqual(), [AlwaysEqual(), AlwaysEqual()],
                                   np.array([AlwaysEqual()] * 2, dtype=object)])
def test_check_array_rejects_objects_that_claim_equality(cheat):
    with pytest.raises(AssertionError, match="expected numbers"):
        check_array(cheat, np.array([1.0, 2.0]))


def test_check_array_reports_shape_dtype_and_first_mismatch():
    with pytest.raises(AssertionError, match=r"expected shape \(2,\), got shape \(3,\)"):
        check_array([1.0, 2.0, 3.0], np.array([1.0, 2.0]), name="out")
    with pytest.raises(AssertionError, match="expected floating-point"):
        check_array(np.array([1, 2]), np.array([1.0, 2.0]))
    with pytest.raises(AssertionError, match=r"1 of 3 entries differ; first at index \(2,\)"):
        check_array([1.0, 2.0, 3.5], np.array([1.0, 2.0, 3.0]))
    with pytest.raises(AssertionError, match="got None"):
        check_array(None, np.array([1.0]))


def test_check_array_never_matches_nan():
    with pytest.raises(AssertionError):
        check_array([np.nan], np.array([np.nan]))


def test_check_array_integer_results_must_match_exactly():
    check_array(np.array([0, 1, 1]), np.array([0, 1, 1]))
    check_array(np.array([False, True]), np.array([0, 1]))
    with pytest.raises(AssertionError, match="expected integer"):
        check_array(np.array([0.0, 1.0]), np.array([0, 1]))


def test_check_scalar_accepts_numbers_and_0d_arrays_only():
    check_scalar(0.5, 0.5)
    check_scalar(np.float32(0.5), 0.5)
    check_scalar(torch.tensor(0.5), 0.5)
    with pytest.raises(AssertionError, match="single number"):
        check_scalar([0.5, 0.5], 0.5)
    with pytest.raises(AssertionError):
        check_scalar(AlwaysEqual(), 0.5)


def test_check_type_names_the_types():
    check_type(True, bool)
    with pytest.raises(AssertionError, match="expected bool or int, got str"):
        check_type("x", (bool, int))
    with pytest.raises(AssertionError, match="expected bool, got numpy.bool"):
        check_type(np.bool_(True), bool)


def test_check_no_mutation_catches_in_place_changes_and_returns_result():
    def scale_in_place(x):
        x *= 2
        return x

    with pytest.raises(AssertionError, match="in place"):
        check_no_mutation(scale_in_place, np.ones(3))
    result = check_no_mutation(lambda x: x * 2, np.ones(3))
    np.testing.assert_array_equal(result, [2.0, 2.0, 2.0])


def test_check_array_dtype_requires_the_exact_dtype():
    check_array(np.zeros(3, dtype=np.float32), np.zeros(3), dtype=np.float32)
    with pytest.raises(AssertionError, match="expected dtype float64, got dtype float32"):
        check_array(np.zeros(3, dtype=np.float32), np.zeros(3), dtype=np.float64)
    check_array(np.zeros(3, dtype=np.float32), np.zeros(3))  # without dtype: the kind only


def test_check_uses_rng_accepts_a_function_that_draws_from_its_generator():
    check_uses_rng(lambda rng: rng.normal(size=5), name="normal")
    check_uses_rng(lambda rng: rng.permutation(20), name="permutation")


@pytest.mark.parametrize("draw, message", [
    (lambda rng: np.random.normal(size=5), "same seed gave two different"),
    (lambda rng: np.random.default_rng(0).normal(size=5), "two different seeds"),
    (lambda rng: np.random.default_rng(rng.bit_generator.state["state"]["state"])
     .normal(size=5), "same Generator"),
])
def test_check_uses_rng_rejects_functions_that_ignore_or_reseed_it(draw, message):
    with pytest.raises(AssertionError, match=message):
        check_uses_rng(draw, name="draw")
