"""nbgrader preprocessors that make autograding robust to what students do to a notebook."""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

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
