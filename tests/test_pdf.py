"""The printable edition (`make pdf`), built from scratch and read back as text.

scripts/print_pdf.py builds the book as one page (warnings are errors) into a scratch folder and
prints it with headless Chromium; poppler's pdfinfo/pdftotext/pdffonts then check what a reader
of the PDF gets: every page of `_toc.yml`, typeset formulas (no raw TeX, no MathJax errors),
code cells whose longest lines survive whole (wrapped, not cut at the margin), nothing printed
past the right margin, and Korean glyphs from a real font.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_grading.book import toc_pages
from course_grading.release import REPO_ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("chromium") or shutil.which("chromium-browser")),
        reason="Debian's chromium is not installed (make browser)",
    ),
    pytest.mark.skipif(
        not (shutil.which("pdftotext") and shutil.which("pdfinfo")),
        reason="pdftotext/pdfinfo are not installed (make pdftools: Debian's poppler-utils)",
    ),
]

TOC_PAGES = toc_pages(REPO_ROOT / "_toc.yml")
RIGHT_MARGIN_PT = 0.6 * 72  # scripts/print_pdf.py prints with 0.6 in side margins
# Lesson 1.1, equation ch01-eq-stacked-layers as typeset text (no spaces): the TeX source is
# f_\ell(\mathbf{h}) = \sigma\bigl(W_\ell \mathbf{h} + \mathbf{b}_\ell\bigr).
TYPESET_EQUATION = "fℓ(h)=σ(Wℓh+bℓ)"
# A TeX command or $$ on a line of the PDF's text that is not code, output or inline code.
RAW_TEX = re.compile(r"\\[A-Za-z]{2,}|\$\$")
CODE_LINE_1_1 = "plot_learning_curves(keras_history"


def _squash(text: str) -> str:
    """Text without whitespace (wrapped lines join up) and with straight quotes."""
    text = text.translate(str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"',
                                         "\u201d": '"'}))
    return re.sub(r"\s+", "", text)


def _cells(notebook: Path) -> list[dict]:
    """The cells of a notebook, sources joined (read as JSON: nothing to validate here)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        cell["source"] = "".join(cell["source"])
    return cells


def _book_notebooks() -> list[Path]:
    paths = [REPO_ROOT / f"{page}.ipynb" for page in TOC_PAGES]
    return [path for path in paths if path.exists()]


def _code_corpus() -> str:
    """Every code cell, text output and inline code span of the book, squashed."""
    parts = []
    for path in _book_notebooks():
        for cell in _cells(path):
            if cell["cell_type"] == "code":
                parts.append(cell["source"])
                for output in cell.get("outputs", []):
                    for text in (output.get("text"), output.get("data", {}).get("text/plain")):
                        parts.append("".join(text or ""))
            else:
                parts += re.findall(r"`+([^`]+)`+", cell["source"])
    return _squash("\n".join(parts))


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> dict:
    """Build and print the book once; return the report, the PDF and its text."""
    root = tmp_path_factory.mktemp("pdf")
    pdf, report_path = root / "book.pdf", root / "report.json"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "print_pdf.py"), "--build-root", str(root),
         "--out", str(pdf), "--report", str(report_path)],
        capture_output=True, text=True, timeout=1500,
    )
    assert result.returncode == 0, f"make pdf failed:\n{result.stdout}\n{result.stderr[-6000:]}"
    report = json.loads(report_path.read_text(encoding="utf-8"))
    print(f"\nPDF: single-page build {report['build_s']} s, print {report['print_s']} s, "
          f"total {time.perf_counter() - started:.0f} s, {report['pdf_bytes'] / 1e6:.1f} MB")
    # -raw: content order, and no joining of words hyphenated at a line end (code wraps).
    text = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    return {"report": report, "pdf": pdf, "text": text, "squashed": _squash(text)}


def _pdfinfo(pdf: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return dict(line.split(":", 1) for line in out.stdout.splitlines() if ":" in line)


def test_pdf_has_a_page_count_that_fits_the_table_of_contents(printed):
    info = _pdfinfo(printed["pdf"])
    pages = int(info["Pages"])
    print(f"\nPDF: {pages} pages for {len(TOC_PAGES)} documents, {info['Page size'].strip()}")
    # Every chapter and lesson starts on a new page (_static/print.css); no lesson is 40 pages.
    assert pages > 100
    assert len(TOC_PAGES) <= pages <= 40 * len(TOC_PAGES)
    assert "A4" in info["Page size"]


def test_pdf_holds_every_page_in_reading_order(printed):
    text = _squash(printed["text"])
    titles = []
    for page in TOC_PAGES[1:]:
        path = REPO_ROOT / f"{page}.ipynb"
        source = path if path.exists() else REPO_ROOT / f"{page}.md"
        titles.append(_squash(_title(source)))
    position = 0
    for title in titles:
        found = text.find(title, position)
        assert found >= 0, f"{title!r} missing from the PDF, or out of _toc.yml's order"
        position = found


def _title(source: Path) -> str:
    """The first heading of a notebook or markdown page, without its markup."""
    if source.suffix == ".ipynb":
        cells = _cells(source)
        text = "\n".join(c["source"] for c in cells if c["cell_type"] == "markdown")
    else:
        text = source.read_text(encoding="utf-8")
    heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE).group(1)
    heading = re.sub(r"[`*]|\{[a-z]+\}", "", heading)
    return heading.split("(")[0].split("$")[0].strip()[:30]


def test_pdf_math_is_typeset(printed):
    report = printed["report"]
    assert report["formulas"] > 1000
    assert TYPESET_EQUATION in printed["squashed"], "lesson 1.1's first equation is not typeset"
    code = _code_corpus()
    raw = [
        line.strip()
        for line in printed["text"].splitlines()
        if RAW_TEX.search(line) and _squash(line) not in code
    ]
    assert not raw, "raw TeX in the PDF's prose:\n" + "\n".join(raw[:20])
    assert not report["unrendered"], f"formulas MathJax skipped: {report['unrendered']}"


def test_pdf_has_no_mathjax_errors(printed):
    errors = printed["report"]["math_errors"]
    assert not errors, (
        f"{len(errors)} formulas print as MathJax errors (also in the HTML book): "
        + "\n".join(errors)
    )


def _longest_code_line(notebook: Path) -> str:
    lines = [
        line.rstrip()
        for cell in _cells(notebook)
        if cell["cell_type"] == "code"
        and not any(t.startswith("remove") for t in cell["metadata"].get("tags", []))
        for line in cell["source"].splitlines()
    ]
    return max(lines, key=len, default="")


def test_pdf_code_cells_survive_whole(printed):
    assert CODE_LINE_1_1 in printed["text"], "a code cell of lesson 1.1 is missing"
    cut = [
        f"{path.stem}: {line.strip()!r}"
        for path in _book_notebooks()
        if (line := _longest_code_line(path)) and _squash(line) not in printed["squashed"]
    ]
    assert not cut, "longest code lines cut or missing in the PDF:\n" + "\n".join(cut)


def test_pdf_prints_nothing_past_the_right_margin(printed):
    out = subprocess.run(["pdftotext", "-bbox", str(printed["pdf"]), "-"], capture_output=True,
                         text=True, check=True).stdout
    past = []
    for number, page in enumerate(out.split("<page ")[1:], start=1):
        limit = float(re.search(r'width="([\d.]+)"', page).group(1)) - RIGHT_MARGIN_PT + 3
        past += [
            f"page {number}: {word!r}"
            for x_min, x_max, word in re.findall(
                r'xMin="([-\d.]+)"[^>]*xMax="([-\d.]+)"[^>]*>([^<]*)</word>', page)
            # MathJax's stretchy pieces (private-use glyphs, Type 3 fonts) report no real box.
            if float(x_max) > limit and float(x_min) >= 0
            and not re.fullmatch("[\ue000-\uf8ff]*", word)
        ]
    assert not past, "text printed past the right margin:\n" + "\n".join(past[:20])


def test_pdf_prints_korean_with_a_korean_font(printed):
    if not re.search("[\uac00-\ud7a3]", printed["text"]):
        pytest.skip("the book has no Korean text")
    if not shutil.which("pdffonts"):
        pytest.skip("pdffonts is not installed (make pdftools)")
    fonts = subprocess.run(["pdffonts", str(printed["pdf"])], capture_output=True, text=True,
                           check=True).stdout
    korean = re.compile(r"Nanum|Noto\w*CJK|Noto\w*KR|UnDotum|UnBatang|Baekmuk", re.IGNORECASE)
    assert korean.search(fonts), (
        "Korean text printed without a Korean font (empty boxes): make pdftools installs "
        "Debian's fonts-nanum"
    )
