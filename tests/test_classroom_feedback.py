"""Feedback a student can use (issue 16, item 4), end to end on a scratch copy of 01_perceptrons.

One scratch course (built like tests/test_grading.py's) with three submissions:

- ``blank``     the student copy from an LMS (no timestamp.txt), with the visible part of one
                locked test cell rewritten; its written answer is graded by hand, then changed
                before autograde runs again
- ``full``      the instructor's solution, submitted through the exchange (timestamp + secret)
- ``written``   the solution from an LMS; its written answer is graded by hand, then autograde
                runs again

Checked: only real tampering warns "checksum has changed!"; a manual grade survives re-running
autograde on an unchanged answer (and is flagged for review when the answer changed);
``make feedback``'s step releases to the exchange and leaves the LMS submission in feedback/
without crashing; the feedback shows points per Part with failure messages, hides hidden
tests' source (a switch shows it), shows ungraded written answers as awaiting grading, loads
nothing from the network, and typesets its math offline in headless Chromium.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_grading.classroom.check import hidden_lines, parts
from course_grading.release import REPO_ROOT, SOLUTIONS_DIR, run_nbgrader

pytestmark = pytest.mark.slow

ASSIGNMENT, NOTEBOOK = "01_perceptrons", "01_exercises"
WRITTEN_ID = "ch01-xor-written"
TAMPERED_ID = "ch01-relu-test-values"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _submit(root: Path, student: str, nb, *, exchange: bool = False) -> None:
    folder = root / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{NOTEBOOK}.ipynb")
    if exchange:  # what nbgrader's submit + collect leave beside the notebook
        (folder / "timestamp.txt").write_text("2026-12-04 10:00:00.000000 UTC")
        (folder / "submission_secret.txt").write_text("0123456789abcdef")


def _cell(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _autograde(root: Path, students: str = "*") -> str:
    result = run_nbgrader(["autograde", ASSIGNMENT, "--force", f"--student={students}"], root)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def _grade(root: Path, student: str):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade(WRITTEN_ID, NOTEBOOK, ASSIGNMENT, student)
        return grade.manual_score, grade.needs_manual_grade


def _grade_by_hand(root: Path, student: str, score: float) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade(WRITTEN_ID, NOTEBOOK, ASSIGNMENT, student)
        grade.manual_score, grade.needs_manual_grade = score, False
        gradebook.db.commit()


def _feedback(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_grading.classroom.feedback",
                           ASSIGNMENT, "--course", str(root), *args],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def _per_student(log: str) -> dict[str, str]:
    """Split an autograde log into each student's part."""
    chunks = re.split(r"(?=\[AutogradeApp \| INFO\] Sanitizing )", log)
    found = {}
    for chunk in chunks:
        student = re.search(r"submitted/([^/]+)/" + ASSIGNMENT, chunk)
        if student:
            found[student.group(1)] = found.get(student.group(1), "") + chunk
    return found


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("feedback-course")
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root)
    if shutil.which("bwrap") is None:  # not what this test is about
        with open(root / "nbgrader_config.py", "a") as config:
            config.write("\nc.SandboxedExecute.allow_unsandboxed = True\n")
    shutil.copytree(SOLUTIONS_DIR / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    generated = run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root)
    assert generated.returncode == 0, generated.stderr
    source = nbformat.read(root / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)
    released = nbformat.read(root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)
    blank = nbformat.from_dict(released)
    _cell(blank, TAMPERED_ID).source = '"""relu: values."""\nassert True'
    _submit(root, "blank", blank)
    _submit(root, "full", source, exchange=True)
    _submit(root, "written", source)
    first = _autograde(root)
    _grade_by_hand(root, "written", 1.5)
    _grade_by_hand(root, "blank", 0.5)
    _cell(blank, WRITTEN_ID).source = "A new answer, written after the grading."
    _submit(root, "blank", blank)
    second = _autograde(root, "[bw]*")  # blank and written again
    exchange = root / "exchange"
    released_run = _feedback(root, env={"COURSE_EXCHANGE": str(exchange)})
    shutil.copytree(root / "feedback", root / "feedback-default")
    shown_run = _feedback(root, "--show-hidden-tests")
    return {"root": root, "first": first, "second": second, "exchange": exchange,
            "released": released_run, "shown": shown_run, "source": source,
            "released_nb": released}


def _page(course, student: str, folder: str = "feedback-default") -> str:
    return (course["root"] / folder / student / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()


def _text(page: str) -> str:
    """What a reader sees: tags dropped, entities decoded (syntax highlighting splits code)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _hidden_test_lines(source_nb, released_nb) -> list[str]:
    """Lines (long enough to be telling) that only the hidden tests contain."""
    visible = "\n".join([cell.source for cell in released_nb.cells] + [
        cell.source for cell in source_nb.cells  # the solution's own code ("full" shows it)
        if cell.metadata.get("nbgrader", {}).get("solution")])
    lines = []
    for cell in source_nb.cells:
        region = hidden_lines(cell.source) if cell.cell_type == "code" else None
        if region:
            body = cell.source.split("\n")[region[0]:region[1] - 1]
            lines += [line.strip() for line in body
                      if len(line.strip()) > 25 and line.strip() not in visible]
    return lines


def test_only_real_tampering_warns_about_checksums(course):
    for log, students in ((course["first"], {"blank", "full", "written"}),
                          (course["second"], {"blank", "written"})):
        per_student = _per_student(log)
        assert set(per_student) == students
        for student in students - {"blank"}:
            assert "checksum" not in per_student[student], per_student[student][-2000:]
        warned = re.findall(r"checksum' for cell (\S+) has changed", per_student["blank"])
        assert warned == [TAMPERED_ID]


def test_tampered_test_cell_still_runs_the_original(course):
    autograded = nbformat.read(course["root"] / "autograded" / "blank" / ASSIGNMENT
                               / f"{NOTEBOOK}.ipynb", 4)
    cell = _cell(autograded, TAMPERED_ID)
    assert "assert True" not in cell.source and "BEGIN HIDDEN TESTS" in cell.source
    assert any(out.output_type == "error" for out in cell.outputs)  # the blank relu fails


def test_manual_grade_survives_reautograde_of_the_same_answer(course):
    assert _grade(course["root"], "written") == (1.5, False)


def test_manual_grade_of_a_changed_answer_is_flagged_for_review(course):
    assert _grade(course["root"], "blank") == (0.5, True)


def test_feedback_releases_exchange_submissions_and_keeps_lms_ones(course):
    run = course["released"]
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {line.split()[0]: line for line in run.stdout.splitlines()[2:]}
    assert set(rows) == {"blank", "full", "written"}
    assert "released to the exchange" in rows["full"]
    # score, awaiting grading: the changed written answer's old 0.5 is not counted yet
    assert rows["blank"].split()[1:5] == ["0", "/", "22", "2"]
    assert rows["written"].split()[1:4] == ["23.5", "/", "24"]
    for student in ("blank", "written"):  # came from an LMS: no timestamp.txt
        assert "not submitted through the exchange" in rows[student]
        assert (course["root"] / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html").exists()
    released = list((course["exchange"] / "deep-learning-course" / "feedback").glob("*.html"))
    assert len(released) == 1
    assert not course["exchange"].stat().st_mode & 0o002  # never world-writable
    print("\n" + run.stdout)


def test_feedback_shows_points_per_part_and_failure_messages(course):
    text = _text(_page(course, "blank"))
    assert re.search(r"Part 1 — A numerically stable sigmoid\s*0\.0 / 3\.0", text)
    assert "ch01-sigmoid-test-values: NotImplementedError" in text
    assert "Score: 0.0 / 22.0; 2.0 more points awaiting grading" in text
    full = _text(_page(course, "full"))
    assert re.search(r"Part 10 — Images as arrays: RGB to grayscale\s*3\.0 / 3\.0", full)


def test_ungraded_written_answer_awaits_grading_not_zero(course):
    full = _text(_page(course, "full"))
    assert re.search(r"Part 8 — Written answer[^\n]*\s*awaiting grading", full)
    assert "Score: 22.0 / 22.0; 2.0 more points awaiting grading" in full
    graded = _text(_page(course, "written"))
    assert re.search(r"Part 8 — Written answer[^\n]*\s*1\.5 / 2\.0", graded)
    assert "awaiting grading" not in graded


def test_hidden_tests_source_is_not_in_feedback_unless_switched_on(course):
    hidden = _hidden_test_lines(course["source"], course["released_nb"])
    assert len(hidden) > 10
    for student in ("blank", "full"):
        page = _page(course, student)
        text = _text(page)
        assert "BEGIN HIDDEN TESTS" not in text
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{student}: hidden test lines in feedback: {leaked[:3]}"
        assert "hidden tests: not shown" in text
    shown = _text(_page(course, "blank", "feedback"))
    assert course["shown"].returncode == 0, course["shown"].stderr
    assert sum(line in shown for line in hidden) > len(hidden) // 2


def test_feedback_loads_nothing_from_the_network(course):
    for student in ("blank", "full"):
        page = _page(course, student)
        remote = re.findall(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*"
                            r"[\"']?(?:https?:)?//", page, re.IGNORECASE)
        assert not remote, remote
        assert "cdnjs" not in page and "MathJax 3 from sphinx-mathjax-offline" in page


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_feedback_math_typesets_offline_in_headless_chromium(course, tmp_path):
    page = course["root"] / "feedback-default" / "blank" / ASSIGNMENT / f"{NOTEBOOK}.html"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path}", "--virtual-time-budget=15000",
         "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: a CDN script would fail
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("<mjx-container") >= 3, "MathJax did not typeset the math"
    assert "<mjx-merror" not in result.stdout  # TeX that MathJax could not read


def test_parts_of_the_autograded_notebook_match_the_gradebook(course):
    autograded = nbformat.read(course["root"] / "autograded" / "full" / ASSIGNMENT
                               / f"{NOTEBOOK}.ipynb", 4)
    rows = parts(autograded)
    assert len(rows) == 10 and all(not part.failures for part in rows)
    assert sum(part.max_score for part in rows) == 24


def test_hiding_drops_tracebacks_and_printed_hidden_lines():
    from nbformat.v4 import new_code_cell

    from course_grading.classroom.feedback import _hide_hidden_tests

    cell = new_code_cell("assert f(1) == 2\n### BEGIN HIDDEN TESTS\nresult = secret_call(5)\n"
                         "### END HIDDEN TESTS")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "x", "points": 1,
                                 "failure": "AssertionError: boom (in a hidden test)"}
    cell.outputs = [nbformat.from_dict(output) for output in (
        {"output_type": "stream", "name": "stderr",
         "text": "/tmp/x.py:3: RuntimeWarning: overflow\n  result = secret_call(5)\n"},
        {"output_type": "error", "ename": "AssertionError", "evalue": "boom",
         "traceback": ["Cell In[1], line 3", "----> 3 result = secret_call(5)"]})]
    _hide_hidden_tests(cell)
    shown = cell.source + str(cell.outputs)
    assert "secret_call" not in shown and "BEGIN HIDDEN" not in shown
    assert "assert f(1) == 2" in cell.source and "RuntimeWarning: overflow" in shown
    assert cell.outputs[1].traceback == ["AssertionError: boom (in a hidden test)"]


def test_plain_nbgrader_release_feedback_skips_lms_submissions(course):
    """nbgrader's own step crashed on the first submission without timestamp.txt and
    released nobody after it; the course's exchange skips those, with a warning."""
    outbox = course["exchange"] / "deep-learning-course" / "feedback"
    for page in outbox.glob("*.html"):
        page.unlink()
    run = subprocess.run([sys.executable, "-m", "nbgrader", "release_feedback", ASSIGNMENT],
                         cwd=course["root"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "COURSE_EXCHANGE": str(course["exchange"])})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Not released (not submitted through the exchange" in run.stderr
    assert "blank, written" in run.stderr
    assert len(list(outbox.glob("*.html"))) == 1, "the exchange submission's feedback"
