"""Every code line of every notebook fits the book's code blocks without a sideways scroll.

The limit was measured in the built book (sphinx-book-theme, headless Chromium at a 1280 px
wide window): the widest code line that shows whole in a lesson's code cell. Lesson notebooks,
instructor sources and student copies are all held to it. ``scripts/wrap_long_lines.py``
moves over-long trailing comments onto their own line.
"""

from pathlib import Path

import nbformat
import pytest

MAX_CODE_LINE = 79  # characters; see the module docstring for how it was measured
REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.relative_to(REPO_ROOT) for pattern in ("chapters/**/*.ipynb",
                                                            "solutions/**/*.ipynb")
                   for p in REPO_ROOT.glob(pattern) if ".ipynb_checkpoints" not in p.parts)


def long_code_lines(path: Path, limit: int = MAX_CODE_LINE) -> list[str]:
    """``cell N line M (K chars)`` for each code line of ``path`` longer than ``limit``."""
    notebook = nbformat.read(path, as_version=4)
    return [f"cell {index} line {number} ({len(line)} chars): {line.strip()[:50]}"
            for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            for number, line in enumerate(cell.source.split("\n"), 1) if len(line) > limit]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=str)
def test_code_lines_fit_the_page(path):
    too_long = long_code_lines(REPO_ROOT / path)
    assert not too_long, (f"{path}: {len(too_long)} code line(s) over {MAX_CODE_LINE} characters "
                          "(run scripts/wrap_long_lines.py on it, then shorten the rest by hand):\n"
                          + "\n".join(too_long))


def test_checker_flags_a_long_line_and_passes_a_short_one(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1\n" + "y = " + "1 + " * 30 + "1"),
        nbformat.v4.new_markdown_cell("a markdown line may be long " * 10)])
    path = tmp_path / "n.ipynb"
    nbformat.write(notebook, path)
    assert len(long_code_lines(path)) == 1
    assert long_code_lines(path, limit=200) == []
