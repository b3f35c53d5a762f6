"""Unit tests of the instructor tooling: leak fingerprints, table of contents, release errors."""

from __future__ import annotations

import nbformat
import pytest

from course_grading.book import toc_pages
from course_grading.leaks import find_leaks, secrets_of, visible_text
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
        "assert f(1) == 1\n### END HIDDEN TESTS")  # a visible line repeated: not a secret
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "ch00-f-test"}
    written = nbformat.v4.new_markdown_cell("Because the classes are not linearly separable.")
    written.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "ch00-why"}
    nb.cells = [nbformat.v4.new_markdown_cell("### BEGIN SOLUTION is how nbgrader marks it"),
                answer, test, written]
    nbformat.write(nb, path)
    return path


def test_secrets_cover_solutions_hidden_tests_and_written_answers(tmp_path):
    secrets = secrets_of(_source_notebook(tmp_path / "a.ipynb"))
    assert secrets.lines == {"return np.clip(x, a_min=0.0, a_max=None)",
                             "assert f(-12345.678) == 0.0, 'negative'",
                             "Because the classes are not linearly separable."}
    assert secrets.blocks == {"return np.clip(x, a_min=0.0, a_max=None)",
                              "assert f(-12345.678) == 0.0, 'negative'\nassert f(1) == 1",
                              "Because the classes are not linearly separable."}


def test_find_leaks_is_strict_only_for_student_facing_text(tmp_path):
    source = _source_notebook(tmp_path / "a.ipynb")
    assert find_leaks("def f(x):\n    # YOUR CODE HERE", [source], student_facing=True) == set()
    line = "y = 1\nreturn np.clip(x, a_min=0.0, a_max=None)\nz = 2"
    assert find_leaks(line, [source], student_facing=True) == {
        "return np.clip(x, a_min=0.0, a_max=None)"}
    # one 40-char line of a lesson equals the whole one-line answer: still a leak
    assert find_leaks(line, [source], student_facing=False) == {
        "return np.clip(x, a_min=0.0, a_max=None)"}
    assert find_leaks("text ### END SOLUTION", [], student_facing=False) == {"### END SOLUTION"}


def test_blocks_match_regardless_of_indentation_but_lines_of_a_block_do_not(tmp_path):
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell(
        "def g(x):\n    ### BEGIN SOLUTION\n    total = np.zeros_like(x)\n"
        "    for x_i, y_i in zip(x, y):\n        total += x_i * y_i\n    ### END SOLUTION")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "ch00-g"}
    nb.cells = [answer]
    nbformat.write(nb, tmp_path / "g.ipynb")
    lesson_line = "for x_i, y_i in zip(x, y):\n    print(x_i)"
    assert find_leaks(lesson_line, [tmp_path / "g.ipynb"], student_facing=False) == set()
    whole = "total = np.zeros_like(x)\nfor x_i, y_i in zip(x, y):\n  total += x_i * y_i"
    assert len(find_leaks(whole, [tmp_path / "g.ipynb"], student_facing=False)) == 1


def test_visible_text_of_html_and_notebooks(tmp_path):
    page = tmp_path / "p.html"
    page.write_text('<pre><span class="n">w</span> <span class="o">=</span> a &amp; b</pre>')
    assert visible_text(page) == "w = a & b"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('print("a")')]
    nbformat.write(nb, tmp_path / "n.ipynb")
    assert visible_text(tmp_path / "n.ipynb") == 'print("a")'


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


def test_a_line_public_in_another_notebook_is_no_secret(tmp_path):
    secret_in_a = _source_notebook(tmp_path / "a.ipynb")
    b = nbformat.v4.new_notebook()
    b.cells = [nbformat.v4.new_code_cell("return np.clip(x, a_min=0.0, a_max=None)")]
    nbformat.write(b, tmp_path / "b.ipynb")
    text = "y = 1\nreturn np.clip(x, a_min=0.0, a_max=None)\nz = 2"
    assert find_leaks(text, [secret_in_a], student_facing=True)
    # still a whole-block leak (the block is the full one-line answer), but not a line leak
    assert find_leaks(text, [secret_in_a, tmp_path / "b.ipynb"], student_facing=True) == {
        "return np.clip(x, a_min=0.0, a_max=None)"}
    two_lines = "assert f(-12345.678) == 0.0, 'negative'"
    c = nbformat.v4.new_notebook()
    c.cells = [nbformat.v4.new_code_cell(two_lines)]
    nbformat.write(c, tmp_path / "c.ipynb")
    assert find_leaks(two_lines, [secret_in_a], student_facing=True) == {two_lines}
    assert find_leaks(two_lines, [secret_in_a, tmp_path / "c.ipynb"], student_facing=True) == set()


def test_limit_output_size_cuts_one_huge_line_and_keeps_small_outputs():
    import nbformat

    from course_grading.preprocessors import LimitOutputSize

    cell = nbformat.v4.new_code_cell("print('x' * 10**6)")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="x" * 1_000_000),
        nbformat.v4.new_output("display_data", data={"text/plain": "small",
                                                     "image/png": "iVBOR" * 10}),
        nbformat.v4.new_output("error", ename="E", evalue="y" * 300_000, traceback=["t"]),
    ]
    cut, _ = LimitOutputSize(max_chars=1000).preprocess_cell(cell, {}, 0)
    assert len(cut.outputs[0]["text"]) < 1100 and "output cut: 999000 more" in cut.outputs[0]["text"]
    assert cut.outputs[1]["data"] == {"text/plain": "small", "image/png": "iVBOR" * 10}
    assert len(cut.outputs[2]["evalue"]) < 1100
