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

# Per-cell time limit in seconds. Exercises train for seconds, so 60 s is generous; a loop that
# never ends is interrupted and its cell gets an error output (and 0 points).
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Re-insert grade (test) cells a student deleted, from the gradebook.
c.OverwriteCells.add_missing_cells = True

# Strip non-nbgrader cell metadata before anything runs.
c.Autograde.sanitize_preprocessors = [
    "course_grading.preprocessors.StripNonGradingMetadata",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "course_grading.preprocessors.RestoreDeletedGradeCells",  # OverwriteCells, sturdier
    "nbgrader.preprocessors.CheckCellMetadata",
]
