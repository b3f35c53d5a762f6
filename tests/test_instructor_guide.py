"""The instructor guide (instructor/*.md, a part of the book) and the README that points to it.

- every `make <target>` the guide or the README shows exists in the Makefile;
- every user-facing target (the Makefile's .PHONY lists) is described in the guide;
- every guide page is in _toc.yml;
- the README links to the guide and no longer carries the sections that moved there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from course_grading.book import toc_pages

REPO_ROOT = Path(__file__).resolve().parents[1]
GUIDE_DIR = REPO_ROOT / "instructor"
GUIDE_PAGES = sorted(GUIDE_DIR.glob("*.md"))
README = REPO_ROOT / "README.md"
MAKEFILE = REPO_ROOT / "Makefile"

TARGET_LINE = re.compile(r"^([A-Za-z0-9_-]+)\s*:(?!=)", re.MULTILINE)
PHONY_LINE = re.compile(r"^\.PHONY\s*:(.*)$", re.MULTILINE)
FENCE = re.compile(r"^(`{3,})[^\n]*\n(.*?)^\1\s*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
MAKE_CALL = re.compile(r"(?:^|[\s;(&|])make[ \t]+([a-z][a-z0-9-]*)", re.MULTILINE)
# Headings of README sections that now live in the guide, and phrases only those sections had.
MOVED_HEADINGS = ("Instructor workflow", "The classroom", "A gradebook for many graders",
                  "Feedback", "GPU notes", "Late work")
MOVED_PHRASES = ("penalty_method", "assignsubmission", "accounts.json", "SHOW_HIDDEN_TESTS",
                 "tensorflow[and-cuda]", "DB_URL=postgresql", "grading-logs/")


def makefile_targets(text: str) -> set[str]:
    """Names of the Makefile's explicit rules (not variables, not file targets with a path)."""
    return {name for name in TARGET_LINE.findall(text) if name != "PHONY"}


def phony_targets(text: str) -> set[str]:
    return {name for line in PHONY_LINE.findall(text) for name in line.split()}


def code_text(markdown: str) -> str:
    """The text of the fenced code blocks and inline code spans of a Markdown page."""
    blocks = [match.group(2) for match in FENCE.finditer(markdown)]
    prose = FENCE.sub("", markdown)
    return "\n".join(blocks + INLINE_CODE.findall(prose))


def make_calls(markdown: str) -> set[str]:
    """Targets of every `make <target>` shown as code (prose such as "make sure" is ignored)."""
    return set(MAKE_CALL.findall(code_text(markdown)))


def _guide_text() -> str:
    return "\n".join(page.read_text() for page in GUIDE_PAGES)


def test_helpers_read_targets_and_code_only():
    makefile = ".PHONY: a b\n.PHONY: c\nX := 1\nY ?= 2\na: $(STAMP)\n\tmake b\nb:\n"
    assert makefile_targets(makefile) == {"a", "b"}
    assert phony_targets(makefile) == {"a", "b", "c"}
    page = ("Make sure to `make a X=1`.\n\n```bash\nmake b \\\n  Y=2\n```\nmake c in prose,\n"
            "`make` alone, then `nbgrader_config.py`\n")
    assert make_calls(page) == {"a", "b"}


def test_the_guide_has_its_pages():
    names = {page.stem for page in GUIDE_PAGES}
    assert {"index", "running-the-course", "grading-security", "gpu",
            "adding-an-exercise"} <= names


def test_every_guide_page_is_in_the_toc():
    listed = set(toc_pages(REPO_ROOT / "_toc.yml"))
    for page in GUIDE_PAGES:
        name = page.relative_to(REPO_ROOT).with_suffix("").as_posix()
        assert name in listed, f"{name} is not in _toc.yml"


@pytest.mark.parametrize("path", [*GUIDE_PAGES, README], ids=lambda p: p.name)
def test_every_make_target_shown_exists(path):
    targets = makefile_targets(MAKEFILE.read_text())
    missing = make_calls(path.read_text()) - targets
    assert not missing, f"{path.name} shows make targets the Makefile lacks: {sorted(missing)}"


def test_every_user_facing_target_is_in_the_guide():
    shown = make_calls(_guide_text())
    phony = phony_targets(MAKEFILE.read_text())
    assert phony, "no .PHONY targets found in the Makefile"
    missing = phony - shown
    assert not missing, f"the instructor guide never shows `make {sorted(missing)}`"


def test_readme_links_to_the_guide():
    text = README.read_text()
    assert "](instructor/index.md)" in text
    assert "_build/html/instructor/index.html" in text


def test_readme_no_longer_has_the_moved_sections():
    text = README.read_text()
    headings = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    for moved in MOVED_HEADINGS:
        assert not [h for h in headings if h.startswith(moved)], f"README still has '{moved}'"
    for phrase in MOVED_PHRASES:
        assert phrase not in text, f"README still explains {phrase!r}: it is in the guide"
        assert phrase in _guide_text(), f"the guide lost {phrase!r}"
