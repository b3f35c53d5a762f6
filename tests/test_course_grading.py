"""Unit tests of the instructor tooling: leak fingerprints, table of contents, release errors."""

from __future__ import annotations

import nbformat
import pytest

from course_grading.book import toc_pages
from course_grading.leaks import find_leaks, secret_fingerprints
from course_grading.preprocessors import StripNonGradingMetadata
from course_grading.release import assignments, generate


def _source_notebook(path):
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell(
        "def f(x):\n    ### BEGIN SOLUTION\n    return np.clip(x, a_min=0.0, a_max=None)\n"
        "    ### END SOLUTION")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "ch00-f"}
    test = nbformat.v4.new_code_cell(
        "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(-12345.678) == 0.0, 'negative'\n"
        "### END HIDDEN TESTS")
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "ch00-f-test"}
    written = nbformat.v4.new_markdown_cell("Because the classes are not linearly separable.")
    written.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "ch00-why"}
    nb.cells = [nbformat.v4.new_markdown_cell("### BEGIN SOLUTION is how nbgrader marks it"),
                answer, test, written]
    nbformat.write(nb, path)
    return path


def test_fingerprints_cover_solutions_hidden_tests_and_written_answers(tmp_path):
    secrets = secret_fingerprints(_source_notebook(tmp_path / "a.ipynb"))
    assert secrets == {"return np.clip(x, a_min=0.0, a_max=None)",
                       "assert f(-12345.678) == 0.0, 'negative'",
                       "Because the classes are not linearly separable."}


def test_find_leaks_reports_markers_and_fingerprints(tmp_path):
    source = _source_notebook(tmp_path / "a.ipynb")
    assert find_leaks("def f(x):\n    # YOUR CODE HERE", [source]) == set()
    assert find_leaks("y = np.clip(x, a_min=0.0, a_max=None)", []) == set()
    leaks = find_leaks("<pre>return np.clip(x, a_min=0.0, a_max=None)</pre> ### END SOLUTION",
                       [source])
    assert leaks == {"return np.clip(x, a_min=0.0, a_max=None)", "### END SOLUTION"}


def test_toc_pages_lists_root_and_nested_files(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: intro\nparts:\n  - caption: A\n    chapters:\n"
                   "      - file: ch/index\n        sections:\n          - file: ch/lesson\n")
    assert toc_pages(toc) == ["intro", "ch/index", "ch/lesson"]
    toc.write_text("- just a list\n")
    with pytest.raises(ValueError, match="no `root`"):
        toc_pages(toc)


def test_strip_metadata_keeps_only_nbgrader():
    cell = nbformat.v4.new_code_cell("1")
    cell.metadata.update({"tags": ["skip-execution"], "nbgrader": {"grade": True},
                          "jupyter": {"source_hidden": True}})
    cell, _ = StripNonGradingMetadata().preprocess_cell(cell, {}, 0)
    assert dict(cell.metadata) == {"nbgrader": {"grade": True}}
    assert StripNonGradingMetadata().enabled


def test_release_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no solutions folder"):
        assignments(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no assignment folder"):
        generate("99_nothing", tmp_path, solutions_dir=tmp_path)


@pytest.mark.slow
def test_release_reports_nbgrader_failure_on_malformed_notebook(tmp_path):
    (tmp_path / "00_bad").mkdir()
    (tmp_path / "00_bad" / "bad.ipynb").write_text("{not json")
    with pytest.raises(RuntimeError, match="generate_assignment 00_bad failed"):
        generate("00_bad", tmp_path / "out", solutions_dir=tmp_path)
    assert not (tmp_path / "out").exists()
