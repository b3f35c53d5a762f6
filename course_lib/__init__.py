"""course_lib: the support library of the course.

One module per concept, imported by the chapters instead of helpers pasted into notebooks:

- ``course_lib.device`` - pick the PyTorch device, report TensorFlow's devices, ``set_seed``.
- ``course_lib.data``   - offline data: digits splits, sample photos, 2-D toy sets.
- ``course_lib.plot``   - decision boundaries, learning curves, image grids, function plots.
- ``course_lib.checks`` - assertion helpers used by the graded exercises' tests.

Importing ``course_lib`` loads neither PyTorch nor TensorFlow (each module imports a framework
only inside the functions that need it). It does one thing on import: it quiets TensorFlow's C++
logging through environment variables, which only works *before* TensorFlow is imported, so
notebooks import ``course_lib`` first.
"""

from course_lib.device import quiet_tensorflow_logs

quiet_tensorflow_logs()

__version__ = "0.1.0"
__all__ = ["__version__"]
