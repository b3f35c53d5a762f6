"""Move over-long trailing comments in notebook code cells onto their own line.

    .venv/bin/python scripts/wrap_long_lines.py chapters/02_backprop/02_1_losses.ipynb ...

A code line longer than ``tests/test_code_width.py``'s ``MAX_CODE_LINE`` scrolls sideways in
the built book. Most such lines are code plus a trailing comment: this script moves the
comment onto its own line above the code, with the code's indentation, and wraps the comment
itself to the limit. Only the cell *source* changes, so outputs stay valid. Lines that are
still too long (long code, long strings) are listed for a hand edit.
"""

from __future__ import annotations

import io
import sys
import textwrap
import tokenize
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_code_width import MAX_CODE_LINE  # noqa: E402


def comment_columns(source: str) -> dict[int, int]:
    """Line index -> column where a real ``#`` comment starts (not inside a string).

    Tokenizes the whole cell, so lines inside brackets are understood; a cell that does not
    tokenize (IPython magics, say) gets no entries and is left for a hand edit.
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return {}
    return {t.start[0] - 1: t.start[1] for t in tokens if t.type == tokenize.COMMENT}


def _wrapped_comment(comment: str, indent: str, limit: int) -> list[str]:
    return textwrap.wrap(comment, width=limit, initial_indent=indent + "# ",
                         subsequent_indent=indent + "# ")


def wrap_line(line: str, start: int | None, limit: int = MAX_CODE_LINE) -> list[str]:
    """``line`` as lines within ``limit`` where its comment (at column ``start``) allows."""
    if len(line) <= limit or start is None:
        return [line]
    code, comment = line[:start].rstrip(), line[start:].lstrip("#").strip()
    if comment.startswith(("NBVAL", "noqa", "type:")):
        return [line]  # directives must stay on their line
    indent = line[: len(line) - len(line.lstrip())]
    wrapped = _wrapped_comment(comment, indent, limit)
    if not code.strip():  # a comment line on its own: wrap it
        return wrapped or [line]
    return [*wrapped, code]


def wrap_source(source: str, limit: int = MAX_CODE_LINE) -> str:
    """Every line of a cell's source through :func:`wrap_line`."""
    columns = comment_columns(source)
    return "\n".join(out for index, line in enumerate(source.split("\n"))
                     for out in wrap_line(line, columns.get(index), limit))


def main(paths: list[str]) -> int:
    still_long = 0
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        changed = False
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            new = wrap_source(cell.source)
            changed |= new != cell.source
            cell.source = new
            for number, line in enumerate(new.split("\n"), 1):
                if len(line) > MAX_CODE_LINE:
                    still_long += 1
                    print(f"{path}: cell {index} line {number} ({len(line)} chars): "
                          f"{line.strip()[:60]}")
        if changed:
            nbformat.write(notebook, path)
    return 1 if still_long else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
