"""The student kernel's sandbox (course_grading.sandbox): what a submission can and cannot do.

Each check runs code in one real sandboxed ipykernel, as a submission would. Needs Debian's
``bubblewrap`` (``make test`` installs it when it runs as root) and root to drop to an unprivileged user.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from course_grading import sandbox

REPO_ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kernel(sandboxed_kernel):
    return sandboxed_kernel[1]


def run(client, code: str) -> str:
    """stdout of ``code`` in the kernel, or ``ERROR <name>: <message>``."""
    client.execute(code)
    out = []
    while True:
        msg = client.get_iopub_msg(timeout=120)
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind == "error":
            out.append(f"ERROR {content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(out).strip()


def test_runs_as_nobody_in_its_scratch_folder(kernel):
    uid, cwd = run(kernel, "import os; print(os.getuid(), os.getcwd())").split()
    assert int(uid) in sandbox.SANDBOX_UIDS  # unprivileged, and no other sandbox's
    assert run(kernel, "open('note.txt', 'w').write('x'); print(open('note.txt').read())") == "x"


def test_course_folder_shows_only_the_libraries_and_the_environment(kernel):
    listing = run(kernel, f"import os; print(sorted(os.listdir({str(REPO_ROOT)!r})))")
    # course_grading holds no answers (setup cells import its helpers), as when grading
    visible = {"course_lib", "course_grading"} | (
        {".venv"} if (REPO_ROOT / ".venv").is_dir() else set())
    assert set(eval(listing)) == visible  # noqa: S307 - our own kernel's printed list
    path = REPO_ROOT / "solutions" / "01_perceptrons" / "01_exercises.ipynb"
    assert run(kernel, f"open({str(path)!r})").startswith("ERROR FileNotFoundError")
    home = run(kernel, "import os; print(sorted(os.listdir('/root')))")
    assert set(eval(home)) <= {".pyenv"}  # noqa: S307 - only the interpreter, if it is there


def test_instructor_home_is_empty_and_writes_outside_scratch_fail(kernel):
    assert "PermissionError" in run(kernel, f"open({str(REPO_ROOT / 'x.txt')!r}, 'w')")
    assert "Error" in run(kernel, "open('/etc/passwd', 'a')")


def test_course_lib_imports_but_answer_modules_are_blocked(kernel):
    assert run(kernel, "import course_lib.data, numpy; print('ok')") == "ok"
    blocked = run(kernel, "import course_lib.layers")  # blocked by the conftest fixture
    assert blocked.startswith("ERROR ImportError: course_lib.layers is not available")


def test_network_is_unreachable(kernel):
    result = run(kernel, "import socket; s = socket.socket(); s.settimeout(3); "
                         "s.connect(('1.1.1.1', 80))")
    assert result.startswith("ERROR OSError") and "unreachable" in result.lower()


def test_process_count_is_limited(kernel):
    result = run(kernel, (
        "import os, time\npids = []\ntry:\n    for _ in range(1000):\n"
        "        pid = os.fork()\n        if pid == 0:\n            time.sleep(2)\n"
        "            os._exit(0)\n        pids.append(pid)\nexcept OSError as error:\n"
        "    print('stopped', len(pids))\nfor pid in pids:\n    os.waitpid(pid, 0)"))
    assert result.startswith("stopped") and int(result.split()[1]) < 64


def test_a_fork_bomb_next_door_does_not_starve_another_sandbox(kernel, tmp_path):
    """Graded in parallel, each kernel has its own user id, so its own process budget."""
    spent = run(kernel, (
        "import os, signal, time\npids = []\nfor _ in range(1000):\n    try:\n"
        "        pid = os.fork()\n    except OSError:\n        break\n    if pid == 0:\n"
        "        time.sleep(60)\n        os._exit(0)\n    pids.append(pid)\nprint(len(pids))"))
    venv = Path(os.environ.get("VIRTUAL_ENV", REPO_ROOT / ".venv"))
    policy = sandbox.SandboxPolicy(hidden_roots=(REPO_ROOT,), scratch=tmp_path / "other",
                                   visible=(REPO_ROOT / "course_lib", venv), max_processes=64)
    manager, client, runtime_dir = sandbox.start_sandboxed_kernel(policy)
    try:
        assert run(client, "import threading\nt = threading.Thread(target=print, args=('ok',))"
                           "\nt.start(); t.join()") == "ok"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        run(kernel, "for pid in pids:\n    os.kill(pid, signal.SIGKILL)\n    os.waitpid(pid, 0)")
    assert 0 < int(spent) < 64  # the first kernel did reach its limit


def test_memory_is_limited(kernel):
    result = run(kernel, "import numpy as np\ntry:\n    block = np.ones(6 * 1024**3 // 8)\n"
                         "except MemoryError:\n    print('MemoryError')")
    assert result == "MemoryError"


def test_missing_tools_are_reported(monkeypatch, tmp_path):  # needs no sandbox
    monkeypatch.setattr(sandbox.shutil, "which", lambda tool: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="bubblewrap"):
        sandbox.start_sandboxed_kernel(sandbox.SandboxPolicy((REPO_ROOT,), tmp_path))


def test_temporary_files_work_as_on_any_machine(kernel):
    """PyTorch's compiler caches under /tmp (or TMPDIR): the student's user can write both."""
    assert run(kernel, "import os, tempfile\nos.makedirs('/tmp/cache_x', exist_ok=True)\n"
                       "print(tempfile.gettempdir() == os.getcwd(), os.getenv('USER'))") \
        == "True student"
