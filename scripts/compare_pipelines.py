"""Grade each assignment with the sandboxed two-process pipeline and with nbgrader's own, side
by side, in one run: scores and ``nbgrader autograde`` wall time per notebook.

    python scripts/compare_pipelines.py [ASSIGNMENT ...] [--json OUT] [--show-failures]

For each assignment a scratch course is built from the repository's ``nbgrader_config.py``
(as ``tests/test_grading.py`` does), the instructor notebook and the blank student copy are
submitted, and each pipeline autogrades the instructor's submission alone (timed) and then
the blank one. ``--show-failures`` prints the error of every test cell that lost points, which
is how a test cell written for the single-kernel pipeline is found and ported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from course_grading.release import REPO_ROOT, SOLUTIONS_DIR, assignments, run_nbgrader  # noqa: E402

# nbgrader 0.9.6's own autograde pipeline (its default ``autograde_preprocessors``).
SINGLE_KERNEL = '''
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
'''
PIPELINES = {"sandboxed": "", "nbgrader": SINGLE_KERNEL}
# --two-process: grade even the assignments listed in single_kernel with two processes
# (how their test cells are ported: --show-failures lists what still needs the student kernel).
TWO_PROCESS = "\nc.SandboxedExecute.single_kernel = []\n"


def sandboxed_mode(assignment: str) -> str:
    """How the course's config grades ``assignment``: two processes, or one sandboxed kernel."""
    from traitlets.config import Config

    config = Config()
    exec((REPO_ROOT / "nbgrader_config.py").read_text(), {"get_config": lambda: config})
    single = assignment in config.SandboxedExecute.get("single_kernel", [])
    return "sandbox, one kernel" if single else "sandbox, two processes"


def build_course(root: Path, assignment: str, extra_config: str) -> list[str]:
    """A scratch course with the instructor and blank submissions; its notebook names."""
    (root / "nbgrader_config.py").write_text(
        (REPO_ROOT / "nbgrader_config.py").read_text() + extra_config)
    shutil.copytree(SOLUTIONS_DIR / assignment, root / "solutions" / assignment)
    done = run_nbgrader(["generate_assignment", assignment, "--force"], root)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    names = sorted(p.stem for p in (root / "solutions" / assignment).glob("*.ipynb"))
    for student, folder in (("instructor", "solutions"), ("blank", "release")):
        target = root / "submitted" / student / assignment
        target.mkdir(parents=True)
        for name in names:
            shutil.copy(root / folder / assignment / f"{name}.ipynb", target)
    return names


def code_scores(root: Path, assignment: str, student: str, notebook: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        submitted = gradebook.find_submission_notebook(notebook, assignment, student)
        return {g.name: (g.auto_score, g.max_score) for g in submitted.grades
                if g.cell_type == "code"}


def failures(root: Path, assignment: str, student: str, notebook: str, lost) -> list[str]:
    path = root / "autograded" / student / assignment / f"{notebook}.ipynb"
    lines = []
    for cell in nbformat.read(path, 4).cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in lost:
            for out in cell.get("outputs", []):
                if out.output_type == "error":
                    lines.append(f"  {grade_id}: {out.ename}: {out.evalue[:300]}")
    return lines


def compare(assignment: str, show_failures: bool, pipelines: dict = PIPELINES) -> list[dict]:
    rows = []
    for pipeline, extra in pipelines.items():
        with tempfile.TemporaryDirectory(prefix=f"compare-{assignment}-") as scratch:
            root = Path(scratch)
            notebooks = build_course(root, assignment, extra)
            scores, seconds = {}, {}
            for student in ("instructor", "blank"):
                start = time.perf_counter()
                done = run_nbgrader(["autograde", assignment, "--student", student,
                                     "--force"], root)
                seconds[student] = time.perf_counter() - start
                if done.returncode != 0:
                    print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
            for notebook in notebooks:
                instructor = code_scores(root, assignment, "instructor", notebook)
                blank = code_scores(root, assignment, "blank", notebook)
                lost = {g for g, (s, top) in instructor.items() if s != top}
                if show_failures and lost:
                    print(f"{pipeline} {assignment}/{notebook} instructor lost:",
                          *failures(root, assignment, "instructor", notebook, lost),
                          sep="\n")
                if any(score is None for score, _ in instructor.values()):
                    print(f"{pipeline} {assignment}/{notebook}: grading failed (no scores)",
                          file=sys.stderr)
                    instructor = {g: (0.0, top) for g, (_, top) in instructor.items()}
                blank = {g: (score or 0.0, top) for g, (score, top) in blank.items()}
                rows.append({
                    "assignment": assignment, "notebook": notebook,
                    "pipeline": "nbgrader Execute (one kernel, no sandbox)"
                    if extra == SINGLE_KERNEL else "sandbox, two processes"
                    if extra == TWO_PROCESS else sandboxed_mode(assignment),
                    "instructor": sum(s for s, _ in instructor.values()),
                    "max": sum(top for _, top in instructor.values()),
                    "blank": sum(s for s, _ in blank.values()),
                    "seconds": round(seconds["instructor"] / len(notebooks), 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--show-failures", action="store_true")
    parser.add_argument("--two-process", action="store_true",
                        help="grade single_kernel assignments with two processes too")
    parser.add_argument("--sandboxed-only", action="store_true",
                        help="skip nbgrader's own pipeline (no timing comparison)")
    args = parser.parse_args()
    pipelines = dict(PIPELINES)
    if args.two_process:
        pipelines["sandboxed"] = TWO_PROCESS
    if args.sandboxed_only:
        del pipelines["nbgrader"]
    rows = []
    for assignment in args.assignments or assignments():
        rows += compare(assignment, args.show_failures, pipelines)
    print("| notebook | pipeline | instructor | blank | autograde s (instructor) | ratio |")
    print("|---|---|---|---|---|---|")
    baseline = {r["notebook"]: r["seconds"] for r in rows if r["pipeline"].startswith("nb")}
    for r in rows:
        ratio = r["seconds"] / baseline[r["notebook"]] if baseline.get(r["notebook"]) else 1
        print(f"| {r['notebook']} | {r['pipeline']} | {r['instructor']:g} / {r['max']:g} "
              f"| {r['blank']:g} | {r['seconds']} | {ratio:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
