"""The course-wide bilingual glossary (glossary.md) and the lessons' glossary sections.

glossary.md holds one Sphinx ``glossary`` directive. Each entry is one or more term lines
(English; synonyms and abbreviations are extra term lines of the same entry) followed by an
indented definition in a fixed layout::

    backpropagation
      **역전파** — the chain rule applied layer by layer, from the loss back to every weight.
      Taught in {doc}`2.3 Backpropagation <chapters/02_backprop/02_3_backprop>`.

Every lesson ends with a ``## Glossary`` table ``| English | 한국어 | meaning |`` whose English
cells link to the glossary with the ``{term}`` role (``{term}`text <target>``` or
``{term}`target```). These tests parse the files (no book build): the book build itself
(tests/test_book.py, with -W) fails on a ``{term}`` whose target is not a glossary term.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from course_grading.book import toc_pages

REPO_ROOT = Path(__file__).resolve().parent.parent
GLOSSARY = REPO_ROOT / "glossary.md"
TOC = REPO_ROOT / "_toc.yml"
LESSONS = sorted(
    path
    for path in (REPO_ROOT / "chapters").glob("*/[0-9]*_*.ipynb")
    if ".ipynb_checkpoints" not in path.parts
)
HANGUL = re.compile(r"[\uac00-\ud7a3]")
TERM_ROLE = re.compile(r"\{term\}`([^`]+)`")
DOC_ROLE = re.compile(r"\{doc\}`([^`<]*)<([^`>]+)>`")
ENTRY_LAYOUT = re.compile(
    r"^\*\*(?P<ko>[^*]+)\*\* — (?P<definition>.+?)\s+Taught in "
    r"\{doc\}`(?P<title>[^`<]+) <(?P<doc>[^`>]+)>`\.$",
    re.S,
)
GLOSSARY_SECTION = re.compile(r"^## Glossary[ \t]*\n(?P<body>.*?)(?=^#{1,2} |\Z)", re.M | re.S)


def normalize(term: str) -> str:
    """How Sphinx matches a term reference: whitespace collapsed, case ignored."""
    return " ".join(term.split()).lower()


def role_target(role_text: str) -> str:
    """The glossary term a ``{term}`` role points to: the part in <>, else the whole text."""
    match = re.search(r"<([^<>]+)>\s*$", role_text)
    return normalize(match.group(1) if match else role_text)


def parse_glossary(text: str) -> list[dict]:
    """The entries of the single ``{glossary}`` directive: term lines and definition."""
    blocks = re.findall(r"^```\{glossary\}[^\n]*\n(.*?)^```\s*$", text, re.M | re.S)
    assert len(blocks) == 1, f"glossary.md must hold exactly one {{glossary}} block, not {len(blocks)}"
    entries: list[dict] = []
    lineno_offset = text[: text.index(blocks[0])].count("\n") + 1
    current = None
    for number, line in enumerate(blocks[0].splitlines(), start=lineno_offset):
        if not line.strip():
            current = None if current and current["definition"] else current
            continue
        if line.startswith(":"):  # a directive option such as :sorted:
            continue
        if line[0].isspace():
            assert current is not None, f"glossary.md:{number}: definition line without a term"
            current["definition"].append(line.strip())
        else:
            if current is None or current["definition"]:
                current = {"terms": [], "definition": [], "line": number}
                entries.append(current)
            current["terms"].append(line.strip())
    for entry in entries:
        entry["definition"] = " ".join(entry["definition"])
    return entries


ENTRIES = parse_glossary(GLOSSARY.read_text(encoding="utf-8"))
TERMS = {normalize(term): entry for entry in ENTRIES for term in entry["terms"]}


def markdown_sources(path: Path) -> list[str]:
    notebook = nbformat.read(path, as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]


def glossary_rows(path: Path) -> list[list[str]]:
    """The table rows (cells) of a lesson's ``## Glossary`` section, header excluded."""
    sections = [
        match.group("body")
        for source in markdown_sources(path)
        for match in GLOSSARY_SECTION.finditer(source)
    ]
    assert len(sections) == 1, (
        f"{path.relative_to(REPO_ROOT)}: expected one '## Glossary' section, found {len(sections)}"
    )
    lines = [line.strip() for line in sections[0].splitlines() if line.strip().startswith("|")]
    assert len(lines) >= 3, f"{path.relative_to(REPO_ROOT)}: the Glossary section has no table"
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:2] == ["English", "한국어"], (
        f"{path.relative_to(REPO_ROOT)}: glossary table header is {header}, "
        "expected | English | 한국어 | meaning |"
    )
    # Cells are split on ' | ' so that a '|' inside math such as $\lvert x \rvert$ is kept.
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def test_glossary_is_in_the_table_of_contents():
    assert "glossary" in toc_pages(TOC), "_toc.yml does not list glossary.md"


def test_glossary_has_entries():
    assert len(ENTRIES) >= 300, f"only {len(ENTRIES)} glossary entries were parsed"


def test_no_duplicate_terms():
    counts = Counter(normalize(term) for entry in ENTRIES for term in entry["terms"])
    duplicates = sorted(term for term, count in counts.items() if count > 1)
    assert not duplicates, f"terms defined more than once in glossary.md: {duplicates}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry["terms"][0])
def test_entry_layout_korean_and_lesson(entry):
    toc = set(toc_pages(TOC))
    where = f"glossary.md:{entry['line']} ({' / '.join(entry['terms'])})"
    match = ENTRY_LAYOUT.match(entry["definition"])
    assert match, (
        f"{where}: the definition must read '**<Korean>** — <definition>. "
        f"Taught in {{doc}}`<title> <lesson>`.', got {entry['definition']!r}"
    )
    assert HANGUL.search(match.group("ko")), f"{where}: Korean term {match.group('ko')!r} has no Hangul"
    assert len(match.group("definition").strip()) > 10, f"{where}: the definition is empty"
    doc = match.group("doc").lstrip("/")
    assert doc in toc, f"{where}: {{doc}} target {doc!r} is not a page of _toc.yml"
    assert (REPO_ROOT / f"{doc}.ipynb").exists() or (REPO_ROOT / f"{doc}.md").exists()


@pytest.mark.parametrize("path", LESSONS, ids=lambda path: path.stem)
def test_lesson_glossary_rows_link_to_glossary_terms(path):
    problems = []
    for cells in glossary_rows(path):
        english = cells[0]
        roles = TERM_ROLE.findall(english)
        if not roles:
            problems.append(f"row {english!r} has no {{term}} link to the glossary")
        for role in roles:
            if role_target(role) not in TERMS:
                problems.append(f"row {english!r}: {{term}} target {role_target(role)!r} is not in glossary.md")
        if len(cells) < 2 or not HANGUL.search(cells[1]):
            problems.append(f"row {english!r} has no Korean term")
    assert not problems, f"{path.relative_to(REPO_ROOT)}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", LESSONS, ids=lambda path: path.stem)
def test_every_term_link_in_a_lesson_resolves(path):
    unknown = sorted(
        {
            role_target(role)
            for source in markdown_sources(path)
            for role in TERM_ROLE.findall(source)
            if role_target(role) not in TERMS
        }
    )
    assert not unknown, f"{path.relative_to(REPO_ROOT)}: {{term}} targets not in glossary.md: {unknown}"


def test_every_glossary_entry_is_linked_from_a_lesson():
    linked = {
        role_target(role)
        for path in LESSONS
        for source in markdown_sources(path)
        for role in TERM_ROLE.findall(source)
    }
    orphans = [
        " / ".join(entry["terms"])
        for entry in ENTRIES
        if not any(normalize(term) in linked for term in entry["terms"])
    ]
    assert not orphans, f"glossary entries that no lesson links with {{term}}: {orphans}"


def test_parser_catches_broken_layout():
    """The checks above can fail: a bad entry is caught by the same parser and pattern."""
    bad = "```{glossary}\n:sorted:\n\nfoo\n  **bar** — no lesson here.\n```\n"
    (entry,) = parse_glossary(bad)
    assert entry["terms"] == ["foo"]
    assert not ENTRY_LAYOUT.match(entry["definition"])
    assert not HANGUL.search("bar")
    assert role_target("neuron, unit <neuron>") == "neuron"
    assert role_target("Back  Propagation") == "back propagation"
