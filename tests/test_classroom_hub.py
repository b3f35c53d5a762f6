"""The classroom end to end: a real JupyterHub, driven through its REST API as each user.

The test builds a scratch course (the repository's nbgrader_config.py, ``01_perceptrons`` and
the tiny fixture assignment ``00_tiny``), sets up the classroom with ``hub.setup`` (two real
unix users as students), starts JupyterHub with configurable-http-proxy, and then, for both
assignments, as each user, with a token the hub issued to that user and through that user's
own single-user server:

    instructor  release (generate_assignment + release_assignment)   -- in their kernel
    students    fetch                       -- the nbgrader assignment-list REST endpoint
    students    edit                        -- jupyter_server's contents API
    students    submit                      -- the assignment-list endpoint
    bob         submit as alice             -- refused by ``nbgrader submit --student``; forced
                                               with nbgrader's own submit class, then skipped
                                               by collect (the folder is bob's)
    instructor  collect, autograde, generate_feedback, release_feedback   -- in their kernel
    students    fetch_feedback              -- the assignment-list endpoint

and checks the scores in the gradebook (alice: every point; bob: exactly the parts he
answered), that each student's server runs as their unix user, and that each student gets
only their own feedback and cannot list the exchange's inbound or feedback folders.

Needs root (unix users), bubblewrap (grading), and node's configurable-http-proxy
(``npm ci``); skipped otherwise. Everything it starts it stops; the unix users it made are
removed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from html import unescape
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import classroom_tiny as tiny  # noqa: E402

from course_grading import sandbox  # noqa: E402
from course_grading.classroom import hub  # noqa: E402
from course_grading.release import REPO_ROOT, SOLUTIONS_DIR  # noqa: E402

pytestmark = pytest.mark.slow

INSTRUCTOR = "clstest-teacher"
ALICE, BOB = "clstest-alice", "clstest-bob"
BIG = "01_perceptrons"
ASSIGNMENTS = [tiny.ASSIGNMENT, BIG]
# 01: alice answers every part, bob only these (each part's tests are named <part>-test-*).
BOB_PARTS_01 = ["ch01-sigmoid", "ch01-relu", "ch01-softmax"]


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (one unix user per student)"
    if sandbox.missing_tools():
        return "needs bubblewrap (grading)"
    if not (REPO_ROOT / "node_modules" / ".bin" / "configurable-http-proxy").exists():
        return "needs configurable-http-proxy: npm ci (make test does it)"
    if not shutil.which("useradd"):
        return "needs useradd"
    return None


class Hub:
    """The running classroom and a small REST client for it."""

    def __init__(self, settings: dict):
        self.settings = settings
        self.url = settings["url"]
        self.tokens: dict[str, str] = {}
        self.kernels: dict[str, str] = {}

    def request(self, method: str, path: str, token: str, body=None, *, form=None,
                timeout: float = 300):
        data, headers = None, {"Authorization": f"token {token}"}
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, method=method, data=data, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as response:
            raw = response.read()
            return json.loads(raw) if raw else None

    def login(self, user: str) -> str:
        """A token the hub issues to ``user`` (asked for by the classroom-admin service)."""
        reply = self.request("POST", f"hub/api/users/{user}/tokens", hub.admin_token(self.settings),
                             {"note": "test_classroom_hub", "expires_in": 3600})
        self.tokens[user] = reply["token"]
        return reply["token"]

    def start_server(self, user: str, timeout: float = 240) -> None:
        token = self.tokens[user]
        self.request("POST", f"hub/api/users/{user}/server", token, {})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.request("GET", f"hub/api/users/{user}", token)
            if model["servers"].get("", {}).get("ready"):
                return
            time.sleep(0.5)
        raise TimeoutError(f"{user}'s server did not start in {timeout} s")

    def user_api(self, user: str, method: str, path: str, body=None, **kwargs):
        return self.request(method, f"user/{user}/{path}", self.tokens[user], body, **kwargs)

    def run_python(self, user: str, code: str, timeout: float = 600) -> str:
        """Run ``code`` in a new kernel of ``user``'s server; return its output (stdout,
        stderr and any traceback). Through jupyter_server's REST + websocket API."""
        import websocket

        if user not in self.kernels:  # one kernel per user, started on first use
            self.kernels[user] = self.user_api(user, "POST", "api/kernels",
                                               {"name": "python3"})["id"]
        ws_url = self.url.replace("http", "ws", 1) + \
            f"user/{user}/api/kernels/{self.kernels[user]}/channels"
        ws = websocket.create_connection(ws_url, timeout=timeout,
                                         header=[f"Authorization: token {self.tokens[user]}"])
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": user, "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False},
        }))
        out = []
        try:
            while True:
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    out.append(content["text"])
                elif kind == "error":
                    out.append("\n".join(content["traceback"]))
                elif kind == "status" and content["execution_state"] == "idle":
                    break
        finally:
            ws.close()
        return "".join(out)

    def nbgrader(self, user: str, *args: str) -> tuple[int, str]:
        """Run ``nbgrader ARGS`` as ``user`` (in a kernel of their server, in its folder)."""
        return self.nbgrader_steps(user, [list(args)])

    def nbgrader_steps(self, user: str, steps: list[list[str]]) -> tuple[int, str]:
        """Run ``nbgrader STEP`` for each step in turn, stopping at the first that fails;
        return the last exit code and all the output."""
        code = (
            "import subprocess, sys\n"
            f"for args in {steps!r}:\n"
            "    r = subprocess.run([sys.executable, '-m', 'nbgrader', *args],"
            " capture_output=True, text=True)\n"
            "    print(r.stdout + r.stderr)\n"
            "    if r.returncode:\n"
            "        break\n"
            "print('EXIT', r.returncode)\n")
        output = self.run_python(user, code)
        match = re.search(r"EXIT (-?\d+)\s*$", output)
        assert match, output
        return int(match.group(1)), output

    def assignments(self, user: str, action: str, assignment: str):
        return self.user_api(user, "POST", f"assignments/{action}", form={
            "course_id": self.settings["course_id"], "assignment_id": assignment})


def _answered_01(released: dict, solution: dict, parts: list[str] | None) -> dict:
    """The released 01 notebook with the solution's answer cells for ``parts`` (all: None)."""
    answers = {cell["metadata"]["nbgrader"]["grade_id"]: cell["source"]
               for cell in solution["cells"]
               if cell["metadata"].get("nbgrader", {}).get("solution")}
    for cell in released["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers and (parts is None or grade_id in parts):
            cell["source"] = answers[grade_id]
    return released


def _points_of(solution: dict, parts: list[str] | None) -> float:
    """Autograded points of the test cells of ``parts`` (all code test cells: None)."""
    total = 0.0
    for cell in solution["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
            if parts is None or any(meta["grade_id"].startswith(p + "-test") for p in parts):
                total += meta["points"]
    return total


@pytest.fixture(scope="module")
def classroom():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    base = Path(tempfile.mkdtemp(prefix="classroom-test-"))
    os.chmod(base, 0o755)  # students enter it to reach their homes and the exchange
    course = base / "course"
    course.mkdir()
    shutil.copy(REPO_ROOT / "nbgrader_config.py", course)
    shutil.copytree(SOLUTIONS_DIR / BIG, course / "solutions" / BIG)
    tiny.write_source(course)
    for name in (ALICE, BOB):
        hub.remove_unix_user(name)  # left over from an interrupted run
    settings = hub.setup(course, students=[ALICE, BOB], instructor=INSTRUCTOR,
                         state=base / "state", homes=base / "homes", port=hub.free_port())
    opened = hub.open_folders(hub.interpreter_blockers(Path(settings["venv"])))
    log = open(base / "hub.log", "w")
    process = hub.hub_process(settings, log=log)
    started = time.monotonic()
    try:
        hub.wait_until_up(settings, process)
        yield Hub(settings), base, started
    finally:
        hub.stop_hub(process)
        log.close()
        hub.restore_modes(opened)
        for name in (ALICE, BOB):
            hub.remove_unix_user(name)
        if process.returncode not in (0, -15):
            print((base / "hub.log").read_text()[-5000:])
        shutil.rmtree(base, ignore_errors=True)


def test_classroom_end_to_end(classroom):
    room, base, started = classroom
    settings = room.settings
    timings = {}
    for user in (INSTRUCTOR, ALICE, BOB):
        room.login(user)
        room.start_server(user)
    timings["hub and 3 servers up"] = time.monotonic() - started

    # Identity: each student's server (and so their nbgrader) runs as their own unix user.
    for user in (ALICE, BOB):
        whoami = room.run_python(user, "import getpass, os; print(getpass.getuser(), os.getcwd())")
        assert whoami.split()[0] == user, whoami
    # ...and cannot read the course's solutions (setup made them private to the instructor).
    out = room.run_python(ALICE, "import os\ntry:\n    print(os.listdir("
                          f"{settings['course'] + '/solutions'!r}))\n"
                          "except OSError as e:\n    print('DENIED', e.errno)")
    assert "DENIED 13" in out, out

    # Release both assignments, as the instructor.
    mark = time.monotonic()
    code, out = room.nbgrader_steps(INSTRUCTOR, [
        [step, assignment, "--force"] for assignment in ASSIGNMENTS
        for step in ("generate_assignment", "release_assignment")])
    assert code == 0, out
    exchange = Path(settings["exchange"])
    inbound = exchange / settings["course_id"] / "inbound"
    assert oct(exchange.stat().st_mode & 0o7777) == oct(0o755)  # never world-writable
    assert oct(inbound.stat().st_mode & 0o7777) == oct(0o3733)
    timings["release"] = time.monotonic() - mark

    # Fetch, edit, submit, as each student, through their server's REST API.
    mark = time.monotonic()
    solution01 = json.loads((SOLUTIONS_DIR / BIG / "01_exercises.ipynb").read_text())
    plan = {  # student -> assignment -> (notebook file, how to answer)
        ALICE: {tiny.ASSIGNMENT: lambda nb: tiny.answered(nb, "correct"),
                BIG: lambda nb: _answered_01(nb, solution01, None)},
        BOB: {tiny.ASSIGNMENT: lambda nb: tiny.answered(nb, "partly"),
              BIG: lambda nb: _answered_01(nb, solution01, BOB_PARTS_01)},
    }
    notebooks = {tiny.ASSIGNMENT: tiny.NOTEBOOK, BIG: "01_exercises.ipynb"}
    for user, answers in plan.items():
        for assignment, answer in answers.items():
            listing = room.assignments(user, "fetch", assignment)
            fetched = [a for a in listing["value"] if a["assignment_id"] == assignment]
            assert fetched and fetched[0]["status"] == "fetched", listing
            path = f"api/contents/{assignment}/{notebooks[assignment]}"
            model = room.user_api(user, "GET", path + "?content=1")
            room.user_api(user, "PUT", path, {"type": "notebook", "format": "json",
                                               "content": answer(model["content"])})
            reply = room.assignments(user, "submit", assignment)
            assert reply["success"], reply
    timings["fetch, edit, submit"] = time.monotonic() - mark

    # Bob tries to submit as alice: nbgrader's --student is refused by the course exchange...
    code, out = room.nbgrader(BOB, "submit", tiny.ASSIGNMENT, f"--student={ALICE}")
    assert code != 0 and "cannot submit as" in out, out
    # ...so he writes a submission under alice's name straight into the inbound (what any
    # client can do): a wrong answer, newer than hers. Collect must skip it (the folder is his).
    wrong = tiny.answered(json.loads(
        (Path(settings["course"]) / "release" / tiny.ASSIGNMENT / tiny.NOTEBOOK).read_text()),
        "wrong")
    out = room.run_python(BOB, f"""
import datetime, json, os
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
folder = os.path.join({str(inbound)!r}, "{ALICE}+{tiny.ASSIGNMENT}+" + stamp + "+forged")
os.mkdir(folder)
with open(os.path.join(folder, {tiny.NOTEBOOK!r}), "w") as f:
    f.write({json.dumps(wrong)!r})
with open(os.path.join(folder, "timestamp.txt"), "w") as f:
    f.write(stamp)
print("FORGED", folder)
""")
    assert "FORGED" in out, out
    forged = [p for p in inbound.iterdir() if p.name.startswith(ALICE + "+" + tiny.ASSIGNMENT)]
    assert len(forged) == 2, forged  # alice's own and bob's forgery

    # Collect, grade, feedback, as the instructor.
    mark = time.monotonic()
    code, out = room.nbgrader_steps(INSTRUCTOR, [["collect", a] for a in ASSIGNMENTS])
    assert code == 0, out
    assert f"claims to be from {ALICE} but belongs to {BOB}" in out, out  # the forgery
    timings["collect"] = time.monotonic() - mark
    mark = time.monotonic()
    code, out = room.nbgrader_steps(INSTRUCTOR, [["autograde", a] for a in ASSIGNMENTS])
    assert code == 0, out
    timings["autograde (2 students x 2 assignments)"] = time.monotonic() - mark
    mark = time.monotonic()
    code, out = room.nbgrader_steps(INSTRUCTOR, [
        [step, assignment] for assignment in ASSIGNMENTS
        for step in ("generate_feedback", "release_feedback")])
    assert code == 0, out
    timings["feedback"] = time.monotonic() - mark

    # Students cannot see the inbound or the released feedback's folder.
    for folder in (inbound, exchange / settings["course_id"] / "feedback"):
        out = room.run_python(BOB, f"import os\ntry:\n    print(os.listdir({str(folder)!r}))\n"
                                   "except OSError as e:\n    print('DENIED', e.errno)")
        assert "DENIED 13" in out, (folder, out)  # EACCES

    # Scores in the gradebook.
    from nbgrader.api import Gradebook

    expected = {
        (ALICE, tiny.ASSIGNMENT): tiny.ANSWERS["correct"][1],
        (BOB, tiny.ASSIGNMENT): tiny.ANSWERS["partly"][1],
        (ALICE, BIG): _points_of(solution01, None),
        (BOB, BIG): _points_of(solution01, BOB_PARTS_01),
    }
    assert expected[(ALICE, BIG)] == 22 and 0 < expected[(BOB, BIG)] < 22
    scores = {}
    with Gradebook(f"sqlite:///{Path(settings['course']) / 'gradebook.db'}") as gradebook:
        for (user, assignment) in expected:
            submission = gradebook.find_submission(assignment, user)
            scores[(user, assignment)] = sum(
                grade.auto_score or 0 for notebook in submission.notebooks
                for grade in notebook.grades if grade.cell_type == "code")
    assert scores == expected

    # Each student fetches their feedback, and only theirs.
    mark = time.monotonic()
    for user in (ALICE, BOB):
        for assignment in ASSIGNMENTS:
            room.assignments(user, "fetch_feedback", assignment)
    timings["fetch feedback"] = time.monotonic() - mark
    own_code = {ALICE: tiny.ANSWERS["correct"][0], BOB: tiny.ANSWERS["partly"][0]}
    unanswered = {}
    for user in (ALICE, BOB):
        home = Path(settings["homes"]) / user
        for assignment in ASSIGNMENTS:
            pages = sorted((home / assignment / "feedback").glob("*/*.html"))
            assert len(pages) == 1, (user, assignment, pages)  # one submission, one page
            html = pages[0].read_text()
            text = unescape(re.sub(r"<[^>]+>", "", html))  # code is highlighted in spans
            if assignment == tiny.ASSIGNMENT:
                other = BOB if user == ALICE else ALICE
                assert own_code[user] in text and own_code[other] not in text
                assert "return a - b" not in text  # never the forgery
            unanswered[(user, assignment)] = text.count("NotImplementedError")
        feedback_files = sorted(home.glob("*/feedback/**/*.html"))
        assert len(feedback_files) == len(ASSIGNMENTS), feedback_files  # no one else's
    # 01: bob's page shows his unanswered parts (raise NotImplementedError), alice's does not.
    assert unanswered[(BOB, BIG)] > unanswered[(ALICE, BIG)], unanswered

    total = time.monotonic() - started
    print("\nclassroom end to end: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
          + f"; total {total:.1f} s (without stopping)")
    print("scores:", {f"{u}/{a}": s for (u, a), s in scores.items()})
