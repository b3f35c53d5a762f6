"""Read the book's table of contents (Jupyter Book 1 ``_toc.yml``)."""

from __future__ import annotations

from pathlib import Path

import yaml


def toc_pages(toc_path: Path) -> list[str]:
    """Every page the table of contents lists, root first, as paths without suffix."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    if not isinstance(toc, dict) or "root" not in toc:
        raise ValueError(f"{toc_path} is not a Jupyter Book 1 table of contents (no `root`)")
    return [toc["root"], *_files(toc.get("parts") or toc.get("chapters"))]


def _files(entries) -> list[str]:
    files = []
    for entry in entries or []:
        if "file" in entry:
            files.append(entry["file"])
        for key in ("sections", "chapters", "parts"):
            files.extend(_files(entry.get(key)))
    return files
