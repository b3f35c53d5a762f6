"""Find solution text where students can see it (student copies, the built book).

A source notebook's *secrets* are the lines inside its ``### BEGIN SOLUTION`` and
``### BEGIN HIDDEN TESTS`` regions and the text of its written-answer (markdown solution)
cells. Lines long enough to be distinctive serve as fingerprints; ``find_leaks`` reports the
fingerprints and raw markers that occur in a text. Used by tests/test_metadata.py and
tests/test_book.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import nbformat

MARKER_PAIRS = (("### BEGIN SOLUTION", "### END SOLUTION"),
                ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
MIN_FINGERPRINT_CHARS = 20  # shorter lines ("return x", "pass") may legitimately recur


def secret_fingerprints(path: Path) -> set[str]:
    """Distinctive lines of the source notebook at ``path`` that a student must never see."""
    secrets: set[str] = set()
    begins = {begin for begin, _ in MARKER_PAIRS}
    ends = {end for _, end in MARKER_PAIRS}
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        lines = cell.source.splitlines()
        if cell.cell_type == "markdown" and meta.get("solution"):
            secrets.update(line.strip() for line in lines)
            continue
        inside = False
        for line in lines:
            stripped = line.strip()
            if stripped in begins:
                inside = True
            elif stripped in ends:
                inside = False
            elif inside:
                secrets.add(stripped)
    return {line for line in secrets if len(line) >= MIN_FINGERPRINT_CHARS}


def find_leaks(text: str, source_notebooks: Iterable[Path]) -> set[str]:
    """The raw markers and the secret fingerprints of ``source_notebooks`` found in ``text``."""
    found = {marker for pair in MARKER_PAIRS for marker in pair if marker in text}
    for path in source_notebooks:
        found |= {line for line in secret_fingerprints(path) if line in text}
    return found
