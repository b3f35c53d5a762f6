"""course_grading.static and course_grading.testing: what the grader reads from a submission."""

from __future__ import annotations

import json

import numpy as np
import pytest

from course_grading import static, testing

SETUP = ("setup", "%matplotlib inline\nimport numpy as np\nimport torch\nimport scipy\n"
         "from scipy.special import expit as logistic")
DEMO = ("demo", "x = torch.randn(3)\nprint(x.sum())")  # an honest demo that uses torch


def uses(answer: str, roots=("answer",), modules=("torch",), extra=()):
    cells = [SETUP, DEMO, *extra, ("answer-cell", answer)]
    return [str(use) for use in static.forbidden_uses(cells, set(roots), set(modules))]


def test_plain_numpy_answer_is_clean_and_demos_elsewhere_are_not_read():
    assert uses("def answer(x):\n    x = np.asarray(x)\n    return 2 * x") == []


def test_framework_through_the_setup_import_is_found_with_its_line():
    found = uses("def answer(x):\n    t = torch.tensor(x)\n    return t.numpy()")
    assert found and all("answer-cell, line 2" in use for use in found)


def test_code_reached_through_helpers_is_read():
    helper = ("student-helper", "def helper(v):\n    return torch.autograd.grad(v, v)")
    assert uses("def answer(x):\n    return helper(x)", extra=[helper])
    assert not uses("def answer(x):\n    return 2 * x", extra=[helper])


def test_local_names_do_not_pull_in_unrelated_globals():
    # the demo cell binds a global x with torch; the answer's own x is local
    assert uses("def answer(x):\n    y = x * 2\n    return y") == []


def test_imports_aliases_and_dotted_paths_of_a_forbidden_module():
    special = ("scipy.special",)
    assert uses("def answer(z):\n    return logistic(z)", modules=special)
    assert uses("def answer(z):\n    return scipy.special.expit(z)", modules=special)
    assert uses("def answer(z):\n    from scipy import special\n    return special.expit(z)",
                modules=special)
    assert uses("def answer(z):\n    import torch.autograd as ag\n    return ag", modules=["torch"])
    assert not uses("def answer(z):\n    return scipy.stats.norm.cdf(z)", modules=special)


@pytest.mark.parametrize("trick", [
    "eval('torch')", "__import__('torch')", "getattr(np, name)", "globals()['t']",
    "np.__dict__['sum']", "importlib.import_module('torch')",
])
def test_dynamic_lookups_are_refused(trick):
    assert uses(f"def answer(x, name='sum'):\n    return {trick}")


def test_top_level_monkeypatching_is_always_read():
    patch = ("added-7", "np.sum = lambda *a, **k: torch.zeros(1)")
    assert uses("def answer(x):\n    return np.sum(x)", extra=[patch])


def test_magics_and_syntax_errors_do_not_crash_the_reading():
    assert uses("def answer(x):\n    return x", extra=[("broken", "def f(:")]) == []


def test_forbid_calls_in_the_students_notebook_switches_functions_off():
    import course_lib.activations as activations

    original = activations.sigmoid
    namespace = {"sig": activations.sigmoid}
    with testing.forbid_calls(("course_lib.activations", "sigmoid"), namespace=namespace):
        with pytest.raises(AssertionError, match="numpy"):
            activations.sigmoid(np.zeros(2))
        with pytest.raises(AssertionError):
            namespace["sig"](np.zeros(2))
    assert activations.sigmoid is original and namespace["sig"] is original
    assert activations.sigmoid(np.zeros(1))[0] == 0.5


def test_forbid_calls_in_the_grader_reads_the_submission(tmp_path, monkeypatch):
    cells = [SETUP, ("ans", "def grad(x):\n    return torch.autograd.grad(x, x)"),
             ("ans2", "def grad2(x):\n    return 2 * x")]
    (tmp_path / "cells.json").write_text(json.dumps([list(cell) for cell in cells]))
    monkeypatch.setattr(testing, "_GRADING", {})
    testing.start_grading(tmp_path / "cells.json")
    with pytest.raises(AssertionError, match=r"torch.*cell ans, line 2"):
        with testing.forbid_calls(*testing.autodiff_targets(),
                                  namespace={"_injected": {"grad"}}):
            pass
    with testing.forbid_calls(*testing.autodiff_targets(), namespace={"_injected": {"grad2"}}):
        pass  # its own numpy code: nothing to refuse


def test_forbid_calls_starts_from_the_student_names_this_test_cell_reaches(tmp_path,
                                                                            monkeypatch):
    # the submission's copy of a test-helper cell uses torch; the grader runs its own copy
    cells = [SETUP, ("ch-test-helpers", "def oracle(x):\n    return torch.tanh(x)"),
             ("ans", "def answer(x):\n    return 2 * x"),
             ("other", "def other(x):\n    return torch.autograd.grad(x, x)")]
    (tmp_path / "cells.json").write_text(json.dumps([list(cell) for cell in cells]))
    monkeypatch.setattr(testing, "_GRADING", {})
    testing.start_grading(tmp_path / "cells.json")
    namespace = {"_injected": {"answer", "other"}, "_cell_roots": ["oracle", "answer", "np"]}
    with testing.forbid_calls(*testing.autodiff_targets(), namespace=namespace):
        pass  # oracle is the grader's (not injected), other is not read by this cell
    namespace["_cell_roots"].append("other")
    with pytest.raises(AssertionError, match="cell other"):
        with testing.forbid_calls(*testing.autodiff_targets(), namespace=namespace):
            pass


def test_forbidden_modules_widen_autodiff_to_whole_frameworks():
    modules = testing.forbidden_modules(testing.autodiff_targets())
    assert {"torch", "tensorflow", "keras", "jax"} <= modules
    assert testing.forbidden_modules([("course_lib.layers", "x")]) == {"course_lib.layers"}
