"""nbgrader configuration of the course (instructor side).

- ``solutions/`` holds the source notebooks (solutions + hidden tests), one folder per
  assignment, named like the chapter: ``solutions/01_perceptrons/01_exercises.ipynb``.
- ``make exercises`` generates student copies into ``chapters/<assignment>/exercises/``.
- Grading folders (submitted/, autograded/, feedback/, release/) and gradebook.db stay out of git.

Autograding is hardened against accidents and tricks (tests/test_grading.py checks each):
- every cell has a time limit, and a cell that runs past it is interrupted and scores 0;
- grade cells a student deleted are put back from the gradebook before grading (also when the
  cell before them is read-only, where nbgrader 0.9.6 itself fails);
- cell metadata other than nbgrader's (tags such as ``skip-execution`` or ``raises-exception``)
  is stripped before execution, so no cell can be skipped.
"""

c = get_config()  # noqa: F821 - nbgrader injects get_config

c.CourseDirectory.course_id = "deep-learning-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "release"

# The gradebook: SQLite (gradebook.db) by default; DB_URL=postgresql://user@host/db (e.g. `make
# grade DB_URL=...`) puts it in PostgreSQL, for many graders at once (course_grading/classroom).
import os  # noqa: E402

if os.environ.get("DB_URL"):
    c.CourseDirectory.db_url = os.environ["DB_URL"]

# The exchange (release/submit/collect through nbgrader): the course's own folder, never
# nbgrader's shared world-writable /srv/nbgrader/exchange. $COURSE_EXCHANGE sets it (`make ...
# EXCHANGE=dir`; make classroom uses .classroom/exchange); course_grading.classroom.exchange
# keeps it 0755, lets each student submit only under their own unix name, and collect skips
# any other.
if os.environ.get("COURSE_EXCHANGE"):
    c.Exchange.root = os.environ["COURSE_EXCHANGE"]
from course_grading.classroom.exchange import EXCHANGE_CLASSES  # noqa: E402

for _step, _cls in EXCHANGE_CLASSES.items():
    setattr(c.ExchangeFactory, _step, _cls)

# Late work (instructor/running-the-course.md): `make release DUE="2026-12-11 23:59 UTC"` sets the due date,
# `make extend A=... STUDENT=... HOURS=48` an extension; a submission after due date +
# extension (its timestamp.txt) is "late" in grades.csv. By default no points are taken off;
# a penalty: c.LateSubmissionPlugin.penalty_method = "zero" (late scores 0), or per started hour:
# c.AssignLatePenalties.plugin_class = "course_grading.classroom.grade.PerHourLatePenalty"
# c.PerHourLatePenalty.points_per_hour = 1.0

# Per-cell time limit in seconds. Exercises train for seconds, so 60 s is generous; a loop that
# never ends is interrupted and its cell gets an error output (and 0 points).
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
c.SandboxedExecute.timeout = 60
c.SandboxedExecute.call_timeout = 60

# Two processes (course_grading.twoprocess): the submission's cells run in a student kernel
# inside a bubblewrap sandbox (no solutions/, gradebook.db or other submissions, no network,
# limits on memory, processes and CPU time); the test cells run in a separate grader kernel
# that fetches the student's results as data. Where no sandbox can start, autograde refuses;
# c.SandboxedExecute.allow_unsandboxed = True grades anyway (UNSAFE, see course_grading/README.md).
c.Autograde.autograde_preprocessors = [
    "course_grading.twoprocess.SandboxedExecute",  # in place of nbgrader's Execute
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "course_grading.preprocessors.LimitOutputSize",  # one huge line, too
    # SaveAutoGrades, but a manual grade stays graded when autograde re-runs on the same answer
    "course_grading.classroom.feedback.KeepManualGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# course_lib modules that hold an assignment's reference answers: while that assignment is
# graded, importing them in the student kernel fails with a clear message (files that do not
# exist are ignored). Chapter 8's notebook uses course_lib.transfer and .blocks itself.
# Assignments listed here run their tests in the sandboxed student kernel (one kernel, as
# nbgrader does): none since PyTorch modules and Keras models cross the grading channel
# (course_grading/README.md). Kept as a switch for a new assignment not yet ported.
c.SandboxedExecute.single_kernel = []
c.SandboxedExecute.answer_modules = {
    "01_perceptrons": ["course_lib/activations.py", "course_lib/layers.py"],
    "02_backprop": ["course_lib/layers.py", "course_lib/gradcheck.py", "course_lib/losses.py"],
    "03_optimizers": ["course_lib/optim.py"],
    "04_cnn_blocks": ["course_lib/conv.py", "course_lib/pooling.py", "course_lib/numpy_cnn.py"],
    "06_regularization": ["course_lib/regularization.py", "course_lib/initialization.py",
                          "course_lib/optim.py", "course_lib/normalization.py"],
    "07_architectures": ["course_lib/blocks.py", "course_lib/architectures.py",
                         "course_lib/conv.py"],
    "08_transfer_learning": ["course_lib/transfer.py"],
    "09_detection_segmentation": ["course_lib/boxes.py", "course_lib/masks.py",
                                  "course_lib/detection_metrics.py", "course_lib/detection.py",
                                  "course_lib/segmentation.py"],
}

# Re-insert grade (test) cells a student deleted, from the gradebook.
c.OverwriteCells.add_missing_cells = True

# Strip non-nbgrader cell metadata before anything runs.
c.Autograde.sanitize_preprocessors = [
    "course_grading.preprocessors.StripNonGradingMetadata",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    # RestoreDeletedGradeCells (OverwriteCells, sturdier), warning "checksum has changed!" only
    # for real edits of a locked cell, not for the hidden tests every student copy lacks
    "course_grading.classroom.feedback.RestoreCellsQuietly",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Student feedback (make feedback; course_grading/classroom/feedback.py): points per Part with
# each failing test's message, written answers "awaiting grading" until graded, MathJax inlined
# from the course's copy (no CDN). Hidden tests' source and tracebacks stay out of feedback;
# set show_hidden_tests = True (or make feedback SHOW_HIDDEN_TESTS=1) to show them.
c.GenerateFeedback.preprocessors = [
    "course_grading.classroom.feedback.CourseGetGrades",
    "course_grading.classroom.feedback.FeedbackView",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.GenerateFeedback.exporter_class = "course_grading.classroom.feedback.FeedbackExporter"
c.FeedbackView.show_hidden_tests = False
