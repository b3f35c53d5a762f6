"""Run a page of the book elsewhere: the setup cell every notebook starts with.

The book's launch buttons (Binder, Colab, a JupyterHub through nbgitpuller) are configured in
``_config.yml`` (``repository.url``, ``launch_buttons``) and are off by default, so the offline
book links nowhere. A notebook launched that way runs outside the course's ``.venv``, where
``course_lib`` may be missing, so every lesson and exercise notebook starts with one setup
cell that:

- does nothing when ``course_lib`` imports (the course's environment, every test and grading run);
- in a clone of the course (Binder, nbgitpuller) puts the clone's root on ``sys.path``;
- in a notebook opened alone (Colab) pip-installs the course from ``repository.url``, or, with
  no URL configured, stops with a message that says how to install it.

The cell's text depends on ``repository.url``: after changing it, run
``python -m course_grading.launch`` (rewrites the cell in lessons and ``solutions/``, then
regenerates the student copies). ``tests/test_launch.py`` checks that every notebook holds the
cell for the current configuration. Taught in: the instructor guide (running the course).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from course_grading.book import toc_pages
from course_grading.release import CHAPTERS_DIR, EXERCISES_SUBDIR, REPO_ROOT, SOLUTIONS_DIR

LAUNCHER_KEYS = ("binderhub_url", "colab_url", "jupyterhub_url")  # in _config.yml
SETUP_TAG = "course-setup"
# The book hides the cell (it is about running the notebook, not about the lesson).
SETUP_TAGS = [SETUP_TAG, "remove-cell"]

_HEADER = '''\
# Outside the course's own environment (Colab, Binder, a JupyterHub) this
# cell finds or installs course_lib, the course's library. Here it does
# nothing.
try:
    import course_lib
except ModuleNotFoundError:
    import sys
    from pathlib import Path

    _here = Path.cwd().resolve()
    _clones = [
        p for p in (_here, *_here.parents) if (p / "course_lib").is_dir()
    ]
    if _clones:  # a clone of the course (Binder, nbgitpuller)
        sys.path.insert(0, str(_clones[0]))
'''
_INSTALL = '''\
    else:  # a notebook opened alone (Colab)
        %pip install --quiet "{requirement}"
    import course_lib
'''
_NO_URL = '''\
    else:
        raise ModuleNotFoundError(
            "course_lib is missing: clone the course and run `make book`, "
            "or `pip install -e <your clone>`"
        )
'''


@dataclass(frozen=True)
class LaunchConfig:
    """What the setup cell and the launch buttons are built from (``_config.yml``)."""

    repository_url: str = ""
    branch: str = "main"

    @classmethod
    def read(cls, config_path: Path = REPO_ROOT / "_config.yml") -> LaunchConfig:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        repository = config.get("repository") or {}
        if not isinstance(repository, dict):
            raise ValueError(f"{config_path}: `repository` must be a mapping with `url`")
        buttons = config.get("launch_buttons") or {}
        launchers = tuple(key for key in LAUNCHER_KEYS if buttons.get(key))
        url = str(repository.get("url") or "").rstrip("/")
        if launchers and not url:  # sphinx-book-theme would fail with a TypeError
            raise ValueError(f"{config_path}: launch_buttons {', '.join(launchers)} need "
                             "repository.url (the repository the notebooks are launched from)")
        return cls(repository_url=url, branch=str(repository.get("branch") or "main"))


def setup_cell_source(config: LaunchConfig) -> str:
    """The setup cell's source for this configuration (see the module docstring)."""
    if not config.repository_url:
        return _HEADER + _NO_URL
    requirement = f"git+{config.repository_url}@{config.branch}"
    return _HEADER + _INSTALL.format(requirement=requirement)


def is_setup_cell(cell) -> bool:
    return SETUP_TAG in cell.get("metadata", {}).get("tags", [])


def with_setup_cell(notebook, source: str) -> bool:
    """Put the setup cell before the notebook's first code cell; True if anything changed."""
    cells = notebook.cells
    old = [i for i, cell in enumerate(cells) if is_setup_cell(cell)]
    if len(old) == 1 and cells[old[0]].source == source and _first_code(cells) == old[0]:
        return False
    for i in reversed(old):
        del cells[i]
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = list(SETUP_TAGS)
    cell["id"] = SETUP_TAG  # cell ids are per notebook: one setup cell each
    position = _first_code(cells)
    cells.insert(len(cells) if position is None else position, cell)
    return True


def _first_code(cells) -> int | None:
    return next((i for i, cell in enumerate(cells) if cell.cell_type == "code"), None)


def lesson_notebooks(repo_root: Path = REPO_ROOT) -> list[Path]:
    """Every notebook page of the book except the generated student copies."""
    pages = [repo_root / f"{page}.ipynb" for page in toc_pages(repo_root / "_toc.yml")]
    return [p for p in pages if p.exists() and EXERCISES_SUBDIR not in p.parts]


def source_notebooks(solutions_dir: Path = SOLUTIONS_DIR) -> list[Path]:
    return sorted(solutions_dir.glob("*/*.ipynb"))


def write_setup_cells(paths: list[Path], config: LaunchConfig) -> list[Path]:
    """Rewrite the setup cell of each notebook in place; returns the notebooks changed."""
    source = setup_cell_source(config)
    changed = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        if with_setup_cell(notebook, source):
            nbformat.write(notebook, path)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only list notebooks whose setup cell is out of date; exit 1 if any")
    args = parser.parse_args(argv)
    try:
        config = LaunchConfig.read()
    except ValueError as error:
        raise SystemExit(str(error)) from None
    lessons, sources = lesson_notebooks(), source_notebooks()
    if args.check:
        source = setup_cell_source(config)
        stale = [p for p in lessons + sources
                 if with_setup_cell(nbformat.read(p, as_version=4), source)]
        for path in stale:
            print(f"setup cell out of date: {path.relative_to(REPO_ROOT)}")
        if stale:
            raise SystemExit("the notebooks' setup cells do not match _config.yml's "
                             "repository: run `.venv/bin/python -m course_grading.launch`")
        return
    changed = write_setup_cells(lessons + sources, config)
    for path in changed:
        print(f"setup cell written: {path.relative_to(REPO_ROOT)}")
    assignments = sorted({p.parent.name for p in changed if SOLUTIONS_DIR in p.parents})
    if assignments:
        from course_grading.release import main as release

        for assignment in assignments:  # the student copies follow their sources
            release([assignment])
    print(f"{len(changed)} notebook(s) changed; student copies regenerated for "
          f"{', '.join(assignments) or 'none'} ({CHAPTERS_DIR.name}/*/{EXERCISES_SUBDIR}/)")


if __name__ == "__main__":
    main()
