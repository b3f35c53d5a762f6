"""Every number the book glues into prose is defined by the notebook's committed run.

Lessons put computed numbers into markdown with ``myst_nb.glue`` and the ``{glue}`` roles and
directives (course-design.md: "Numbers come from the run"). The book renders committed outputs,
so a key that no committed output defines fails the book build that tests/test_book.py runs
with ``--warningiserror`` (myst-nb: "No key 'x' found in glue data for this document",
checked on a one-page book). This check finds the same mistake in well under a second and
names every missing key.
"""

import re
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.relative_to(REPO_ROOT) for p in REPO_ROOT.glob("chapters/*/*.ipynb"))
# {glue}`key`, {glue:}`key`, {glue:text}`key:.2f`, {glue:md}`key` ...
GLUE_ROLE = re.compile(r"\{glue(?::\w*)?\}`([^`]+)`")
# ```{glue:figure} key  or  :::{glue} key
GLUE_DIRECTIVE = re.compile(r"^(?:```|:::)\{glue(?::\w*)?\}\s+(\S+)", re.MULTILINE)


def used_keys(notebook: nbformat.NotebookNode) -> set[str]:
    """Glue keys the markdown cells refer to (a text role's format spec removed)."""
    keys = set()
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        for reference in GLUE_ROLE.findall(cell.source):
            if "::" in reference:
                raise ValueError(f"cross-notebook glue reference {reference!r}: glue "
                                 "within a notebook only, so the check can see the key")
            keys.add(reference.split(":")[0].strip())
        keys.update(GLUE_DIRECTIVE.findall(cell.source))
    return keys


def defined_keys(notebook: nbformat.NotebookNode) -> set[str]:
    """Glue keys the committed outputs define (``myst_nb.glue`` stores them as scrapbook)."""
    return {output.metadata["scrapbook"]["name"]
            for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", [])
            if "scrapbook" in output.get("metadata", {})}


@pytest.mark.parametrize("path", LESSONS, ids=str)
def test_every_glue_reference_is_defined_by_a_committed_output(path):
    notebook = nbformat.read(REPO_ROOT / path, as_version=4)
    missing = used_keys(notebook) - defined_keys(notebook)
    assert not missing, (f"{path}: the prose glues {sorted(missing)}, which no committed "
                         "output defines (run the notebook and commit its outputs, or glue "
                         "the value with myst_nb.glue in a code cell)")


@pytest.mark.parametrize("path", LESSONS, ids=str)
def test_checked_cells_glue_nothing(path):
    # nbval compares a checked cell's outputs exactly, glue records included: a glued
    # accuracy or loss (which varies with the device) would make the check fail on a GPU
    # (it did: make gpu-report). Glue in a cell of its own; check with rounded claims.
    notebook = nbformat.read(REPO_ROOT / path, as_version=4)
    checked = [index for index, cell in enumerate(notebook.cells)
               if cell.cell_type == "code"
               and "# NBVAL_CHECK_OUTPUT" in map(str.strip, cell.source.splitlines())
               and defined_keys(nbformat.v4.new_notebook(cells=[cell]))]
    assert not checked, (f"{path}: cells {checked} are checked by nbval and glue values; "
                         "move the glue(...) calls to an unchecked cell after them")


def test_reference_parser_finds_roles_with_formats_and_directives():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "Accuracy {glue:text}`acc:.1%` beat {glue}`base` and {glue:}`other`.\n"
        "```{glue:figure} curve\n:name: fig\n```\n")])
    assert used_keys(notebook) == {"acc", "base", "other", "curve"}


def test_defined_keys_come_from_glue_outputs():
    output = nbformat.v4.new_output(
        "display_data", data={"application/papermill.record/text/plain": "0.5"},
        metadata={"scrapbook": {"name": "acc", "mime_prefix": "application/papermill.record/"}})
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "glue('acc', 0.5)", outputs=[output])])
    assert defined_keys(notebook) == {"acc"}
