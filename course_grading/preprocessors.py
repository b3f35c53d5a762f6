"""nbgrader preprocessors that make autograding robust to what students do to a notebook."""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from nbgrader.preprocessors import OverwriteCells
from traitlets import Bool, Integer

KEPT_CELL_METADATA = ("nbgrader",)


class StripNonGradingMetadata(Preprocessor):
    """Drop every cell metadata key except nbgrader's before a submission is executed.

    Jupyter's executor honours tags such as ``skip-execution`` (skip the cell) and
    ``raises-exception`` (tolerate its error); a student could add them to a test cell. Only
    nbgrader's own metadata decides how a cell is graded, so everything else goes.
    """

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        for key in list(cell.metadata):
            if key not in KEPT_CELL_METADATA:
                del cell.metadata[key]
        return cell, resources


class LimitOutputSize(Preprocessor):
    """Cut each text output of a graded notebook to ``max_chars`` characters.

    nbgrader's ``LimitOutput`` counts lines, so one 50 MB line (``print('x' * 50_000_000)``)
    would travel whole into the autograded notebook, the formgrader and the student's
    feedback. Cut outputs end with a note saying how much was dropped; an image (base64) over
    ``max_binary_chars`` is replaced by a note, since a cut one would not open.
    """

    enabled = Bool(True).tag(config=True)
    max_chars = Integer(100_000, help="characters kept of one text output").tag(config=True)
    max_binary_chars = Integer(5_000_000, help="larger images are dropped").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                output["text"] = self._cut(output.get("text", ""))
            elif output.get("output_type") == "error":
                output["evalue"] = self._cut(output.get("evalue", ""))
                output["traceback"] = [self._cut(line) for line in output.get("traceback", [])]
            data = output.get("data", {})
            for mime, value in list(data.items()):
                if isinstance(value, (str, list)) and mime.startswith("text/"):
                    data[mime] = self._cut(value)
                elif isinstance(value, str) and len(value) > self.max_binary_chars:
                    del data[mime]  # a cut image would not open: drop it, say so
                    data["text/plain"] = f"[{mime} output of {len(value)} bytes dropped]"
        return cell, resources

    def _cut(self, text):
        if isinstance(text, list):
            text = "".join(text)
        if len(text) <= self.max_chars:
            return text
        return (text[: self.max_chars]
                + f"\n... [output cut: {len(text) - self.max_chars} more characters]\n")


class RestoreDeletedGradeCells(OverwriteCells):
    """nbgrader's ``OverwriteCells`` with a sturdier way of putting deleted test cells back.

    With ``add_missing_cells`` nbgrader 0.9.6 re-inserts a deleted grade cell after the cell
    that precedes it in the source, assuming that cell is an answer or another test; when it is
    a read-only cell (an oracle or a demo), the lookup raises ``KeyError`` and the whole
    submission goes ungraded. Here a deleted grade cell goes after the nearest earlier source
    cell that the submission still has (or first, if none), so every submission is graded.
    """

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_ids = [cell.name for cell in source_nb.source_cells]
        grade_cells = {cell.name: cell for cell in source_nb.grade_cells}
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        present = {_grade_id(cell) for cell in nb.cells} - {None}
        for position, cell_id in enumerate(source_ids):
            if cell_id not in grade_cells or cell_id in present:
                continue
            self.log.warning(f"Missing grade cell {cell_id} encountered, adding to notebook")
            restored = self.missing_cell_transform(
                source_nb.source_cells[position], grade_cells[cell_id].max_score,
                is_solution=cell_id in solution_ids,
            )
            anchor = next((earlier for earlier in reversed(source_ids[:position])
                           if earlier in present), None)
            index = 0 if anchor is None else next(
                i + 1 for i, cell in enumerate(nb.cells) if _grade_id(cell) == anchor)
            nb.cells.insert(index, restored)
            present.add(cell_id)
        return nb, resources


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")
