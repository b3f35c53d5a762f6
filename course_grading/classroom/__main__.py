"""``python -m course_grading.classroom <step> ...``: the classroom steps the Makefile runs.

    release A [--due DATE]        make release A=01_perceptrons [DUE="2026-12-11 23:59 UTC"]
    collect A [--zip FILE]        make collect A=01_perceptrons [ZIP=canvas.zip]
    grade A [-j N]                make grade A=01_perceptrons [J=2]
    grades [A ...] [--out FILE]   make grades [A=01_perceptrons]
    extend A STUDENT --hours H    make extend A=01_perceptrons STUDENT=alice HOURS=48

Each prints a summary table and exits 1 only when the instructor must act (it says on what).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .workspace import ClassroomError, Course


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_grading.classroom",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--course", type=Path, default=Path.cwd(),
                        help="course folder (holds nbgrader_config.py; default: here)")
    steps = parser.add_subparsers(dest="step", required=True)
    step = steps.add_parser("release", help="generate (and release) an assignment")
    step.add_argument("assignment")
    step.add_argument("--due", help='due date, e.g. "2026-12-11 23:59 UTC"')
    step = steps.add_parser("collect", help="collect submissions (exchange or LMS zip)")
    step.add_argument("assignment")
    step.add_argument("--zip", type=Path, help="an LMS download (Canvas, Moodle, Blackboard)")
    step = steps.add_parser("grade", help="autograde every submission in parallel")
    step.add_argument("assignment")
    step.add_argument("-j", "--jobs", type=int, default=None, help="workers (default: cores)")
    step.add_argument("nbgrader_args", nargs="*", help="after --: extra nbgrader options")
    step = steps.add_parser("grades", help="write grades.csv with a status per part")
    step.add_argument("assignments", nargs="*")
    step.add_argument("--out", type=Path, default=Path("grades.csv"))
    step = steps.add_parser("extend", help="give a student an extension")
    step.add_argument("assignment")
    step.add_argument("student")
    step.add_argument("--hours", type=float, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "assignment", "x") == "":
        raise SystemExit("error: name the assignment, e.g. make grade A=01_perceptrons")
    try:
        course = Course(args.course)
        if args.step == "release":
            from .workspace import release
            return release(course, args.assignment, args.due)
        if args.step == "collect":
            from .collect import collect
            return collect(course, args.assignment, args.zip)
        if args.step == "grade":
            from .grade import grade
            return grade(course, args.assignment, args.jobs, args.nbgrader_args)
        if args.step == "grades":
            from .grades import grades
            out = args.out if args.out.is_absolute() else course.root / args.out
            return grades(course, args.assignments, out)
        from .workspace import extend
        return extend(course, args.assignment, args.student, args.hours)
    except ClassroomError as error:
        print(f"ACTION NEEDED: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
