"""Find solution text where students can see it (student copies, lessons, the built book).

A source notebook's secrets are its ``### BEGIN SOLUTION`` regions, its
``### BEGIN HIDDEN TESTS`` regions and its written-answer (markdown solution) cells. They are
looked for at two strengths:

- *student-facing* text (a student copy, its page in the book) must contain no distinctive
  line of any secret: not one line of a solution or a hidden test;
- every other text (lesson notebooks, their pages) must contain no whole secret *block*: a
  lesson may teach a line that also appears in an answer (``for x_i, y_i in zip(x, y):``), but
  not the answer itself, a hidden test, or a model answer.

Raw markers are leaks everywhere. Used by tests/test_metadata.py and tests/test_book.py.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat

MARKER_PAIRS = (("### BEGIN SOLUTION", "### END SOLUTION"),
                ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
MIN_LINE_CHARS = 20   # shorter lines ("return x", "pass") recur by coincidence
MIN_BLOCK_CHARS = 40  # a one-line block must be at least this long to count as distinctive


@dataclass(frozen=True)
class Secrets:
    """What one source notebook hides: distinctive lines, and whole normalized blocks."""

    lines: frozenset[str]
    blocks: frozenset[str]
    public: frozenset[str]  # lines the notebook shows outside its secret regions


def _normalize(text: str) -> str:
    """Strip every line and drop blank ones, so indentation and spacing do not matter."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def secrets_of(path: Path) -> Secrets:
    """The secrets of the nbgrader source notebook at ``path`` (parsed once per file version).

    ``find_leaks`` runs once per checked file against every source notebook, so the parse is
    cached on the path and its modification time.
    """
    path = Path(path)
    return _secrets_of(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=None)
def _secrets_of(path: Path, mtime_ns: int) -> Secrets:
    """Parse the secrets of one version of a source notebook.

    A line that the notebook also shows outside its secret regions (a visible test uses the
    same ``with warnings.catch_warnings():`` as a hidden one) is public, not a secret line.
    """
    blocks, public = [], set()
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("solution"):
            blocks.append(cell.source)
            continue
        region = None
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped in {begin for begin, _ in MARKER_PAIRS}:
                region = []
            elif stripped in {end for _, end in MARKER_PAIRS} and region is not None:
                blocks.append("\n".join(region))
                region = None
            elif region is not None:
                region.append(line)
            else:
                public.add(stripped)
    normalized = [_normalize(block) for block in blocks]
    lines = {line for block in normalized for line in block.splitlines()} - public
    return Secrets(
        lines=frozenset(line for line in lines if len(line) >= MIN_LINE_CHARS),
        blocks=frozenset(block for block in normalized
                         if "\n" in block or len(block) >= MIN_BLOCK_CHARS),
        public=frozenset(public),
    )


def visible_text(path: Path) -> str:
    """What a reader sees of a file: cell sources of a notebook, the text of an HTML page."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(raw).get("cells", [])
        except json.JSONDecodeError:
            return raw
        return "\n".join("".join(cell.get("source", "")) for cell in cells)
    if path.suffix == ".html":
        return html.unescape(re.sub(r"<[^>]+>", "", raw))
    return raw


def find_leaks(text: str, source_notebooks: Iterable[Path], *, student_facing: bool) -> set[str]:
    """Markers, secret blocks and (for student-facing text) secret lines found in ``text``.

    A line that any of the source notebooks shows publicly (an idiom such as
    ``warnings.simplefilter("error")`` in one chapter's visible tests) is not a secret line.
    """
    found = {marker for pair in MARKER_PAIRS for marker in pair if marker in text}
    normalized = _normalize(text)
    text_lines = set(normalized.splitlines())
    all_secrets = [secrets_of(path) for path in source_notebooks]
    public = frozenset().union(*(secrets.public for secrets in all_secrets))
    for secrets in all_secrets:
        found |= {block for block in secrets.blocks if block in normalized}
        if student_facing:
            found |= (secrets.lines - public) & text_lines
    return found
