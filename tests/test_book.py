"""The book, built from scratch as a reader gets it.

Jupyter Book builds into a scratch folder with warnings as errors; then the HTML is checked for
leaked solutions (including _sources/ and downloadable notebooks), for anything it would fetch
from the network, and, in headless Chromium when it is installed, for typeset math. Then a
reader uses it (Playwright driving Debian's Chromium, served from 127.0.0.1): every page opens
without JavaScript errors, MathJax errors or sideways scrolling at phone width; search, a hint
dropdown and the dark theme work; screenshots are saved for review (BOOK_SCREENSHOTS).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
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


# --- The book in a browser, as a reader uses it (Playwright driving Debian's Chromium) ---------
#
# One headless Chromium for the module, the built book served over HTTP from 127.0.0.1 (as a
# reader's web server would; Sphinx's search page loads searchindex.js). Every page of the
# table of contents, plus search and the index, is opened once at a 390 x 844 phone screen:
# no JavaScript errors, nothing requested from outside the book, no TeX that MathJax refuses,
# no sideways page scroll.
# Then search, a hint dropdown and the dark theme are used, and a lesson and an exercise page
# are photographed at phone and desktop width for review (BOOK_SCREENSHOTS, default
# _build/screenshots/ in the repository).

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
LESSON = "chapters/01_perceptrons/01_1_neurons-and-perceptrons.html"
EXERCISES = "chapters/01_perceptrons/exercises/01_exercises.html"
SCREENSHOTS = Path(os.environ.get("BOOK_SCREENSHOTS") or REPO_ROOT / "_build" / "screenshots")
# Resolves once MathJax has typeset the page (the overflow check must see the typeset math).
MATH_TYPESET = """() => (window.MathJax && MathJax.startup && MathJax.startup.promise)
    ? MathJax.startup.promise.then(() => true) : true"""


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (requirements.txt; no browser download needed)")
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make browser)")
    return sync_playwright


class _BookHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        # Chromium asks every new site for /favicon.ico by itself; the book links none, so the
        # stand-in web server answers "no content" instead of a 404 that would count as an error.
        if self.path == "/favicon.ico":
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()


@pytest.fixture(scope="module")
def book_url(html_dir):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_BookHandler, directory=str(html_dir)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    sync_playwright = _playwright()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def _open(page, url: str) -> None:
    page.goto(url, wait_until="load")
    page.evaluate(MATH_TYPESET)


def _reader_pages() -> list[str]:
    pages = [f"{name}.html" for name in toc_pages(REPO_ROOT / "_toc.yml")]
    return pages + ["search.html", "genindex.html"]


@pytest.fixture(scope="module")
def phone_survey(browser, book_url):
    """Open every page at phone width once: its JS errors, outside requests and page width."""
    start = time.perf_counter()
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    events: list[str] = []
    page.on("console", lambda msg: events.append(f"console.error: {msg.text}")
            if msg.type == "error" else None)
    page.on("pageerror", lambda error: events.append(f"uncaught: {error}"))
    page.on("request", lambda request: events.append(f"requested {request.url}")
            if request.url.startswith(("http:", "https:"))
            and not request.url.startswith(book_url) else None)
    survey = {}
    for name in _reader_pages():
        events.clear()
        _open(page, book_url + name)
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        survey[name] = {"events": list(events), "scroll_width": width[0], "inner_width": width[1],
                        "wide": [] if width[0] <= width[1] + 1 else page.evaluate(WIDEST),
                        "math_errors": page.evaluate(MATH_ERRORS)}
    context.close()
    print(f"opened {len(survey)} pages at {PHONE['width']} px in "
          f"{time.perf_counter() - start:.1f} s")
    return survey


# MathJax shows TeX it cannot typeset as a yellow box (mjx-merror) and logs nothing.
MATH_ERRORS = """[...document.querySelectorAll('mjx-merror')]
    .map(error => error.getAttribute('data-mjx-error') || error.textContent)"""
# The elements that stick out of the screen and are not inside a box that scrolls or clips.
WIDEST = """() => {
  const out = [];
  for (const el of document.querySelectorAll('.bd-article *')) {
    const box = el.getBoundingClientRect();
    if (box.right <= innerWidth + 1) continue;
    let parent = el.parentElement, contained = false;
    for (; parent; parent = parent.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(parent).overflowX)) {
        contained = true; break;
      }
    }
    if (!contained) out.push(`<${el.tagName.toLowerCase()} class="${el.className}"> to `
      + `${Math.round(box.right)} px: ${el.textContent.trim().slice(0, 60)}`);
  }
  return out.slice(0, 3);
}"""


def test_every_page_of_the_book_runs_without_javascript_errors(phone_survey):
    assert len(phone_survey) >= 10
    failures = {name: found["events"] for name, found in phone_survey.items() if found["events"]}
    assert not failures, f"JavaScript errors or requests outside the book: {failures}"


def test_math_typesets_without_errors_on_every_page(phone_survey):
    # A $$ ... $$ block whose TeX contains \\ (a cases block, say) is wrapped by Sphinx in
    # split, where MathJax refuses \tag: such a block is written as a top-level
    # \begin{equation*} ... \tag{n} \end{equation*} (MyST's amsmath passes it through as is).
    failures = {name: found["math_errors"] for name, found in phone_survey.items()
                if found["math_errors"]}
    assert not failures, f"MathJax could not typeset: {failures}"


def test_no_page_scrolls_sideways_on_a_phone(phone_survey):
    wide = {name: f"{found['scroll_width']} px wide at {found['inner_width']} px: {found['wide']}"
            for name, found in phone_survey.items()
            if found["scroll_width"] > found["inner_width"] + 1}
    assert not wide, f"pages wider than a {PHONE['width']} px phone: {wide}"


def test_search_for_backpropagation_finds_the_chapter_2_lessons(browser, book_url):
    start = time.perf_counter()
    page = browser.new_page(viewport=DESKTOP)
    page.goto(book_url + "search.html?q=backpropagation")
    # Sphinx adds the summary line empty and fills it in once the last result is listed.
    summary = page.wait_for_function(
        "() => document.querySelector('#search-results .search-summary')?.innerText.trim()",
        timeout=30_000).json_value()
    links = page.eval_on_selector_all(
        "#search-results ul.search li a", "links => links.map(a => a.getAttribute('href'))")
    page.close()
    print(f"search: {len(links)} results in {time.perf_counter() - start:.1f} s")
    assert summary.startswith("Search finished"), summary
    found = [link.split("?")[0].split("#")[0] for link in links]
    # 2.3 Backpropagation ranks near the top (its title matches), and every Chapter 2 lesson
    # is found.
    assert "chapters/02_backprop/02_3_backprop.html" in found[:5], found
    lessons = [f"{name}.html" for name in toc_pages(REPO_ROOT / "_toc.yml")
               if name.startswith("chapters/02_backprop/02_")]
    missing = [lesson for lesson in lessons if lesson not in found]
    assert len(lessons) >= 3 and not missing, f"Chapter 2 lessons not found: {missing}; {found}"


def test_a_hint_dropdown_opens(browser, book_url):
    page = browser.new_page(viewport=PHONE)
    _open(page, book_url + EXERCISES)
    hint = page.locator("details", has=page.locator("summary", has_text="Hint 1")).first
    body = hint.locator(":scope > :not(summary)").first
    assert not hint.evaluate("details => details.open") and not body.is_visible()
    hint.locator("summary").click()
    assert hint.evaluate("details => details.open")
    assert body.is_visible() and body.inner_text().strip(), "the opened hint shows no text"
    page.close()


def test_the_theme_switch_turns_the_page_dark(browser, book_url):
    # A reader whose system asks for light colours: the book opens light ("auto" mode).
    page = browser.new_page(viewport=DESKTOP, color_scheme="light")
    _open(page, book_url + LESSON)
    background = "getComputedStyle(document.body).backgroundColor"
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    light = page.evaluate(background)
    # The switch cycles through light, dark and the system setting.
    for _ in range(3):
        page.locator("button.theme-switch-button").first.click()
        if page.evaluate("document.documentElement.dataset.theme") == "dark":
            break
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    dark = page.evaluate(background)
    page.close()
    assert dark != light, f"the body stayed {light} in the dark theme"


def test_screenshots_of_a_lesson_and_an_exercise_page(browser, book_url):
    start = time.perf_counter()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    saved = []
    for size_name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = browser.new_page(viewport=viewport)
        for name in (LESSON, EXERCISES):
            _open(page, book_url + name)
            path = SCREENSHOTS / f"{Path(name).stem}-{size_name}-{viewport['width']}px.png"
            page.screenshot(path=str(path), full_page=True)
            saved.append(path)
        page.close()
    print(f"{len(saved)} full-page screenshots in {time.perf_counter() - start:.1f} s:")
    for path in saved:
        assert path.stat().st_size > 10_000, f"{path} is nearly empty"
        print(f"screenshot: {path}")
