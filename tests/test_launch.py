"""Running a page elsewhere: the setup cell and the book's launch buttons (course_grading.launch).

- Every lesson and exercise notebook starts with the setup cell for the current ``_config.yml``.
- The cell does nothing where ``course_lib`` imports; in a clone of the course it finds the
  clone; alone it pip-installs the configured repository, or says how to install the course.
  It runs here under a plain Python where ``course_lib`` is not importable, with the ``%pip``
  magic recorded instead of run.
- The default book links nowhere; a book built with a repository and a hub configured (a copy
  of two pages in a scratch folder) has Binder, Colab and JupyterHub (nbgitpuller) links.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import nbformat
import pytest
import yaml

from course_grading.launch import (LaunchConfig, is_setup_cell, lesson_notebooks,
                                   setup_cell_source, source_notebooks, with_setup_cell)
from course_grading.release import CHAPTERS_DIR, REPO_ROOT
from course_grading.static import python_source

STUDENT_COPIES = sorted(CHAPTERS_DIR.glob("*/exercises/*.ipynb"))
NOTEBOOKS = [*lesson_notebooks(), *source_notebooks(), *STUDENT_COPIES]
LESSON = "chapters/01_perceptrons/01_1_neurons-and-perceptrons"
EXERCISE = "chapters/01_perceptrons/exercises/01_exercises"
REPO_URL = "https://github.com/example-org/dl-course"
HUB_URL = "https://hub.example.edu"
LAUNCH_LINK = re.compile(
    r'href="([^"]*(?:mybinder\.org|colab\.research\.google\.com|git-pull)[^"]*)"')
# A Python without the course's environment: no site-packages, so no course_lib.
BARE_PYTHON = [sys.executable, "-I", "-S"]


def test_every_notebook_is_covered():
    assert len(lesson_notebooks()) >= 40 and len(source_notebooks()) >= 9
    assert len(STUDENT_COPIES) == len(source_notebooks())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_notebook_starts_with_the_current_setup_cell(path):
    cells = nbformat.read(path, as_version=4).cells
    setup = [i for i, cell in enumerate(cells) if is_setup_cell(cell)]
    first_code = next(i for i, cell in enumerate(cells) if cell.cell_type == "code")
    assert setup == [first_code], (
        f"{path.name}: the first code cell must be the one setup cell "
        "(run `python -m course_grading.launch`)")
    assert cells[first_code].source == setup_cell_source(LaunchConfig.read()), (
        f"{path.name}: the setup cell is not the one _config.yml asks for "
        "(run `python -m course_grading.launch`)")
    assert "remove-cell" in cells[first_code].metadata["tags"]


def test_with_setup_cell_is_idempotent_and_replaces_an_old_cell():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title"),
                                         nbformat.v4.new_code_cell("import numpy")])
    old, new = (setup_cell_source(LaunchConfig(url)) for url in ("", REPO_URL))
    assert with_setup_cell(nb, old) and not with_setup_cell(nb, old)
    assert with_setup_cell(nb, new)
    assert [c.source for c in nb.cells] == ["# Title", new, "import numpy"]


def _run_setup_cell(config: LaunchConfig, cwd: Path) -> subprocess.CompletedProcess:
    """The cell under a Python without course_lib; `%pip` prints its line instead of running."""
    recorder = ("class _Shell:\n"
                "    def run_line_magic(self, name, line):\n"
                "        print('MAGIC', name, line)\n"
                "        raise SystemExit(3)\n"
                "get_ipython = lambda: _Shell()\n")
    cell = python_source(setup_cell_source(config))
    code = f"{recorder}{cell}print('IMPORTED', course_lib.__file__)\n"
    return subprocess.run([*BARE_PYTHON, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_setup_cell_does_nothing_in_the_course_environment():
    ns: dict = {}
    exec(python_source(setup_cell_source(LaunchConfig(REPO_URL))), ns)  # no get_ipython here
    assert "_clones" not in ns and ns["course_lib"].__name__ == "course_lib"


def test_setup_cell_finds_the_clone_it_runs_in(tmp_path):
    (tmp_path / "course_lib").mkdir()
    (tmp_path / "course_lib" / "__init__.py").write_text("")
    lesson_dir = tmp_path / "chapters" / "01_perceptrons"
    lesson_dir.mkdir(parents=True)
    result = _run_setup_cell(LaunchConfig(REPO_URL), lesson_dir)
    assert result.returncode == 0, result.stderr
    assert f"IMPORTED {tmp_path.resolve() / 'course_lib' / '__init__.py'}" in result.stdout


def test_setup_cell_alone_installs_the_configured_repository(tmp_path):
    result = _run_setup_cell(LaunchConfig(REPO_URL, branch="fall-2026"), tmp_path)
    assert result.returncode == 3, result.stderr
    assert result.stdout.strip() == f"MAGIC pip install --quiet \"git+{REPO_URL}@fall-2026\""


def test_setup_cell_alone_without_a_repository_says_how_to_install(tmp_path):
    result = _run_setup_cell(LaunchConfig(), tmp_path)
    assert result.returncode == 1 and "MAGIC" not in result.stdout
    assert "ModuleNotFoundError: course_lib is missing: clone the course" in result.stderr


def test_a_launcher_without_a_repository_is_a_clear_error(tmp_path):
    config = tmp_path / "_config.yml"
    config.write_text(yaml.safe_dump({"launch_buttons": {"colab_url": "https://colab.example"}}))
    with pytest.raises(ValueError, match="colab_url need repository.url"):
        LaunchConfig.read(config)


def _build_two_pages(tmp_path: Path, **settings) -> Path:
    """The book's configuration with ``settings`` merged in, over a lesson and an exercise."""
    book = tmp_path / "book"
    for page in (LESSON, EXERCISE):
        (book / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / f"{page}.ipynb", book / f"{page}.ipynb")
    shutil.copytree(REPO_ROOT / "_static", book / "_static")
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf-8"))
    for section, values in settings.items():
        config[section].update(values)
    (book / "_config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (book / "index.md").write_text("# Two pages\n\nA scratch copy.\n", encoding="utf-8")
    toc = {"format": "jb-book", "root": "index",
           "chapters": [{"file": LESSON}, {"file": EXERCISE}]}
    (book / "_toc.yml").write_text(yaml.safe_dump(toc), encoding="utf-8")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jupyter_book), "build", str(book), "--builder", "html"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return book / "_build" / "html"


def _launch_links(page: Path) -> list[str]:
    return [unescape(link) for link in LAUNCH_LINK.findall(page.read_text(encoding="utf-8"))]


@pytest.mark.slow
def test_default_book_has_no_launch_links(tmp_path):
    html = _build_two_pages(tmp_path)
    for page in (LESSON, EXERCISE, "index"):
        assert _launch_links(html / f"{page}.html") == [], f"{page} links to a launcher"


@pytest.mark.slow
def test_configured_book_links_each_notebook_to_binder_colab_and_the_hub(tmp_path):
    html = _build_two_pages(
        tmp_path,
        repository={"url": REPO_URL, "branch": "main"},
        launch_buttons={"binderhub_url": "https://mybinder.org",
                        "colab_url": "https://colab.research.google.com",
                        "jupyterhub_url": HUB_URL})
    assert _launch_links(html / "index.html") == [], "a Markdown page has nothing to launch"
    for page in (LESSON, EXERCISE):
        links = set(_launch_links(html / f"{page}.html"))
        binder = "https://mybinder.org/v2/gh/example-org/dl-course/main"
        assert f"{binder}?urlpath=lab/tree/{page}.ipynb" in links, links
        colab = "https://colab.research.google.com/github/example-org/dl-course/blob/main"
        assert f"{colab}/{page}.ipynb" in links, links
        hub = [urlsplit(link) for link in links if "git-pull" in link]
        assert len(hub) == 1, links
        hub_page = f"{hub[0].scheme}://{hub[0].netloc}{hub[0].path}"
        assert hub_page == f"{HUB_URL}/hub/user-redirect/git-pull"
        query = {key: value[0] for key, value in parse_qs(hub[0].query).items()}
        # nbgitpuller clones the repository into a folder named after it, then opens the page
        assert query == {"repo": REPO_URL, "branch": "main",
                         "urlpath": f"lab/tree/dl-course/{page}.ipynb"}, query
