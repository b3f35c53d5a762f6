"""Lint of the course's notebooks and book layout.

- nbgrader metadata in solutions/: schema version 3, unique grade_ids that follow the naming
  rule, points on every graded cell, balanced solution and hidden-test markers.
- Student copies in chapters/*/exercises/ are exactly what `make exercises` generates now.
- No solution or hidden-test text anywhere in chapters/ (the built book is checked in
  test_book.py with the same fingerprints).
- Lesson notebooks follow the chapter contract: committed with outputs, a `parameters` cell,
  at least three `# NBVAL_CHECK_OUTPUT` cells.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from course_grading.book import toc_pages
from course_grading.launch import is_setup_cell
from course_grading.leaks import MARKER_PAIRS, find_leaks, secrets_of, visible_text
from course_grading.release import CHAPTERS_DIR, EXERCISES_SUBDIR, REPO_ROOT, SOLUTIONS_DIR
from course_grading.release import assignments, generate

SOURCE_NOTEBOOKS = sorted(SOLUTIONS_DIR.glob("*/*.ipynb"))
LESSON_NOTEBOOKS = sorted(
    path for path in CHAPTERS_DIR.glob("*/*.ipynb") if ".ipynb_checkpoints" not in path.parts
)
GRADE_ID = re.compile(r"^ch\d{2}-[a-z0-9]+(-[a-z0-9]+)*$")


def _nbgrader_cells(path: Path):
    for cell in nbformat.read(path, as_version=4).cells:
        if "nbgrader" in cell.metadata:
            yield cell, cell.metadata["nbgrader"]


def test_there_is_at_least_one_assignment():
    assert SOURCE_NOTEBOOKS, "solutions/ holds no nbgrader source notebook"


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=lambda p: p.name)
def test_nbgrader_metadata_is_schema_3_with_points(path):
    for cell, meta in _nbgrader_cells(path):
        grade_id = meta.get("grade_id")
        assert meta.get("schema_version") == 3, f"{grade_id}: schema_version must be 3"
        assert grade_id and GRADE_ID.match(grade_id), f"bad grade_id {grade_id!r}"
        if meta.get("grade") or meta.get("task"):
            points = meta.get("points")
            assert isinstance(points, (int, float)) and points > 0, f"{grade_id}: no points"
        if meta.get("grade") and not meta.get("solution"):
            assert meta.get("locked"), f"test cell {grade_id} must be locked"


def test_grade_ids_are_unique_course_wide():
    ids = Counter(meta["grade_id"] for path in SOURCE_NOTEBOOKS
                  for _, meta in _nbgrader_cells(path))
    assert not [grade_id for grade_id, count in ids.items() if count > 1]


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=lambda p: p.name)
def test_markers_are_balanced_and_in_the_right_cells(path):
    for cell, meta in _nbgrader_cells(path):
        for begin, end in MARKER_PAIRS:
            lines = [line.strip() for line in cell.source.splitlines()]
            assert lines.count(begin) == lines.count(end), f"{meta['grade_id']}: {begin}"
        if "### BEGIN HIDDEN TESTS" in cell.source:
            assert meta.get("grade") and not meta.get("solution"), meta["grade_id"]
        if cell.cell_type == "code" and meta.get("solution"):
            assert "### BEGIN SOLUTION" in cell.source, f"{meta['grade_id']} has no solution"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", assignments())
def test_committed_student_copies_match_a_fresh_generation(assignment, tmp_path):
    fresh = {path.name: path for path in generate(assignment, tmp_path)}
    committed_dir = CHAPTERS_DIR / assignment / EXERCISES_SUBDIR
    committed = {path.name: path for path in committed_dir.glob("*.ipynb")}
    assert sorted(committed) == sorted(fresh), "run `make exercises` and commit the result"
    for name, path in fresh.items():
        want = nbformat.read(path, as_version=4)
        got = nbformat.read(committed[name], as_version=4)
        assert got == want, f"{committed[name]} differs from solutions/; run `make exercises`"


def test_no_solution_text_in_chapters():
    for path in sorted(CHAPTERS_DIR.rglob("*")):
        if path.suffix in {".ipynb", ".md", ".py"} and ".ipynb_checkpoints" not in path.parts:
            student_facing = EXERCISES_SUBDIR in path.relative_to(CHAPTERS_DIR).parts
            leaks = find_leaks(visible_text(path), SOURCE_NOTEBOOKS,
                               student_facing=student_facing)
            assert not leaks, f"{path.relative_to(REPO_ROOT)} shows solution text: {leaks}"


def test_leak_detector_sees_every_secret():
    for path in SOURCE_NOTEBOOKS:
        secrets = secrets_of(path)
        assert secrets.lines and secrets.blocks, f"{path.name}: no secrets found"
        # lines too: a secret line may come from a one-line block too short to count as a block
        every_block = "\n\n".join(sorted(secrets.blocks | secrets.lines))
        assert find_leaks(every_block, [path], student_facing=False) >= secrets.blocks
        assert find_leaks(every_block, [path], student_facing=True) >= secrets.lines


@pytest.mark.parametrize("path", LESSON_NOTEBOOKS, ids=lambda p: p.name)
def test_lessons_follow_the_chapter_contract(path):
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    # the setup cell does nothing in the course's environment (course_grading.launch)
    assert all(cell.execution_count is not None for cell in code
               if cell.source.strip() and not is_setup_cell(cell)), \
        "commit lessons with outputs (execute every cell)"
    assert any("parameters" in cell.metadata.get("tags", []) for cell in code), \
        "one code cell must be tagged `parameters`"
    checked = [cell for cell in code if cell.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT")]
    assert len(checked) >= 3, f"only {len(checked)} cells carry # NBVAL_CHECK_OUTPUT"


def test_toc_lists_every_chapter_page_and_exercise():
    listed = set(toc_pages(REPO_ROOT / "_toc.yml"))
    for chapter in sorted(path for path in CHAPTERS_DIR.iterdir() if path.is_dir()):
        pages = [chapter / "index.md", *sorted(chapter.glob("*.ipynb")),
                 *sorted((chapter / EXERCISES_SUBDIR).glob("*.ipynb"))]
        for page in pages:
            assert page.exists(), f"missing {page.relative_to(REPO_ROOT)}"
            name = page.relative_to(REPO_ROOT).with_suffix("").as_posix()
            assert name in listed, f"{name} is not in _toc.yml"
