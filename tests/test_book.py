"""The book, built from scratch as a reader gets it.

Jupyter Book builds into a scratch folder with warnings as errors; then the HTML is checked for
leaked solutions (including _sources/ and downloadable notebooks), for anything it would fetch
from the network, and, in headless Chromium when it is installed, for typeset math.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_grading.book import toc_pages
from course_grading.leaks import find_leaks, visible_text
from course_grading.release import REPO_ROOT, SOLUTIONS_DIR

SOURCE_NOTEBOOKS = sorted(SOLUTIONS_DIR.glob("*/*.ipynb"))

pytestmark = pytest.mark.slow

TEXT_SUFFIXES = {".html", ".ipynb", ".md", ".txt", ".py", ".json", ".js", ".css"}
REMOTE_RESOURCE = re.compile(
    r"""<script[^>]+src=["'](https?:)?//"""
    r"""|<link[^>]+href=["'](https?:)?//[^"']+["'][^>]*rel=["']?(stylesheet|preload)"""
    r"""|<link[^>]+rel=["']?(stylesheet|preload)["']?[^>]+href=["'](https?:)?//"""
    r"""|<img[^>]+src=["'](https?:)?//"""
    r"""|@import\s+url\(["']?(https?:)?//""",
    re.IGNORECASE,
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def html_dir(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jupyter_book), "build", str(REPO_ROOT), "--path-output", str(output),
         "--builder", "html", "--warningiserror", "--keep-going"],
        capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-6000:]}\n{result.stderr}"
    return output / "_build" / "html"


def _text_files(root: Path):
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in TEXT_SUFFIXES and "mathjax" not in path.parts:
            yield path, path.read_text(encoding="utf-8", errors="replace")


def test_every_toc_page_is_built(html_dir):
    for page in toc_pages(REPO_ROOT / "_toc.yml"):
        assert (html_dir / f"{page}.html").exists(), f"{page}.html was not built"


def test_built_book_has_no_solution_text(html_dir):
    sources = html_dir / "_sources"
    assert sources.is_dir() and any(sources.rglob("*.ipynb")), "expected notebook sources"
    for path, _ in _text_files(html_dir):
        student_facing = "exercises" in path.relative_to(html_dir).parts
        leaks = find_leaks(visible_text(path), SOURCE_NOTEBOOKS, student_facing=student_facing)
        assert not leaks, f"{path.relative_to(html_dir)} shows solution text: {leaks}"


def test_built_book_fetches_nothing_from_the_network(html_dir):
    for path, text in _text_files(html_dir):
        if path.suffix in {".html", ".css"}:
            match = REMOTE_RESOURCE.search(text)
            assert not match, f"{path.relative_to(html_dir)} loads {match.group(0)!r}"


def test_math_is_served_by_a_bundled_mathjax(html_dir):
    assert (html_dir / "_static" / "mathjax" / "tex-chtml.js").is_file()
    page = (html_dir / "chapters" / "01_perceptrons" / "01_1_neurons-and-perceptrons.html")
    assert "_static/mathjax/tex-chtml.js" in page.read_text(encoding="utf-8")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_math_typesets_in_headless_chromium(html_dir, tmp_path):
    page = html_dir / "chapters" / "01_perceptrons" / "01_1_neurons-and-perceptrons.html"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path}", "--virtual-time-budget=15000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("<mjx-container") >= 3, "MathJax did not typeset the math"
