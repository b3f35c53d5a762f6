"""A Jupyter kernel for a student's code, inside a bubblewrap sandbox.

The student controls every byte of a submission, so the kernel that runs it must not be able
to read what it could use to cheat or to harm (the instructor notebooks in ``solutions/``, the
gradebook, other students' work, the instructor's home), reach the network, or exhaust the
machine. :func:`start_sandboxed_kernel` starts ``ipykernel`` under

- **bubblewrap** (Linux namespaces): a read-only view of the whole file system, with the
  course folder and the repository ``course_lib`` comes from replaced by empty ones into which
  only ``course_lib/`` and the Python environment are put back (read-only); ``/root`` and ``/tmp`` empty; a private network
  namespace (only its own loopback); its own PID namespace; one writable scratch folder;
- **setpriv**: the kernel runs under an unused user id of its own, not root, so the process
  limit applies to it alone and no file permission is overridden;
- **prlimit**: address space, CPU seconds and process count.

Course modules that hold the reference answers of the assignment being graded are replaced by
a module that raises ``ImportError`` with a clear message. The client reaches the kernel through
unix sockets (``transport="ipc"``) in a folder shared with the sandbox, since its TCP loopback
is not the host's. Facts behind these choices: ``shared/notes/sandboxed-kernel.md``.

Taught in: the instructor guide (grading security model); used by the grading pipeline.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

NOBODY = 65534
# Each sandbox runs under a user id of its own, drawn from a range no account uses: the process
# limit (RLIMIT_NPROC) counts every process and thread of a user id system-wide, so with one
# shared id a fork bomb in one submission would starve the kernels graded beside it.
SANDBOX_UIDS = range(1_000_000, 2_000_000)
KERNEL_NAME = "course-sandbox"
BLOCKED_MODULE_SOURCE = 'raise ImportError({message!r})\n'


class SandboxUnavailable(RuntimeError):
    """No sandbox can start here (bubblewrap, setpriv or prlimit missing, or not permitted)."""


@dataclass(frozen=True)
class SandboxPolicy:
    """What the student kernel may see and use.

    Args:
        hidden_roots: folders that look empty inside the sandbox (the course folder, the
            repository), except for ``visible``.
        visible: paths put back read-only (``course_lib``, the Python environment).
        scratch: the one writable folder (also the kernel's home and working directory).
        blocked_modules: module file -> the message of the ``ImportError`` that replaces it.
        memory_bytes, cpu_seconds, max_processes: limits of the kernel process tree.
    """

    hidden_roots: tuple[Path, ...]
    scratch: Path
    visible: tuple[Path, ...] = ()
    blocked_modules: dict[Path, str] = field(default_factory=dict)
    memory_bytes: int = 8 * 1024**3
    cpu_seconds: int = 900
    max_processes: int = 512
    uid: int = field(default_factory=lambda: secrets.choice(SANDBOX_UIDS))


def missing_tools() -> list[str]:
    """The programs the sandbox needs that this machine lacks (empty: it can start)."""
    return [tool for tool in ("bwrap", "setpriv", "prlimit") if shutil.which(tool) is None]


def sandbox_argv(policy: SandboxPolicy, runtime_dir: Path, stubs_dir: Path,
                 command: list[str]) -> list[str]:
    """The full command line: ``bwrap ... setpriv ... prlimit ... -- command``."""
    emptied = (Path("/tmp"), Path("/root"),
               *sorted({path.resolve() for path in policy.hidden_roots}))
    argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for folder in emptied:  # /tmp stays writable to all, as on any machine (sticky bit)
        argv += [*(["--perms", "1777"] if folder == Path("/tmp") else []), "--tmpfs", str(folder)]
    python_home = Path(sys.base_prefix).resolve()
    if python_home.is_relative_to("/root"):  # the interpreter the venv links to
        argv += _bind_into(python_home, emptied)
    for path in policy.visible:
        argv += _bind_into(path.resolve(), emptied)
    for index, module in enumerate(sorted(policy.blocked_modules)):
        argv += ["--ro-bind", str(stubs_dir / f"{index}.py"), str(module.resolve())]
    for path in (runtime_dir, policy.scratch):
        argv += _bind_into(path.resolve(), emptied, writable=True)
    argv += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
             "--die-with-parent", "--new-session", "--unsetenv", "JPY_PARENT_PID",
             "--setenv", "HOME", str(policy.scratch.resolve()),
             "--setenv", "USER", "student", "--setenv", "LOGNAME", "student",
             "--setenv", "TMPDIR", str(policy.scratch.resolve()),
             "--setenv", "MPLCONFIGDIR", str(policy.scratch.resolve()),
             "--chdir", str(policy.scratch.resolve()),
             "setpriv", f"--reuid={policy.uid}", f"--regid={policy.uid}", "--clear-groups",
             "--inh-caps=-all", "--bounding-set=-all",
             "prlimit", f"--as={policy.memory_bytes}", f"--cpu={policy.cpu_seconds}",
             f"--nproc={policy.max_processes}", "--"]
    return argv + command


def _bind_into(path: Path, emptied: tuple[Path, ...], *, writable: bool = False) -> list[str]:
    """Bind ``path`` (read-only unless ``writable``); parents inside an emptied folder made
    traversable.

    bubblewrap creates missing parent folders with mode 0700, which the sandbox's user cannot enter.
    """
    argv = []
    for top in emptied:
        if path.is_relative_to(top):
            for parent in reversed(path.parents):
                if parent.is_relative_to(top) and parent != top:
                    argv += ["--perms", "0755", "--dir", str(parent)]
    return argv + ["--bind" if writable else "--ro-bind", str(path), str(path)]


def start_sandboxed_kernel(policy: SandboxPolicy, *, startup_timeout: float = 60):
    """Start ``ipykernel`` in the sandbox; return ``(manager, client, runtime_dir)``.

    The caller shuts the kernel down with ``manager.shutdown_kernel(now=True)`` and removes
    ``runtime_dir``. Raises :class:`SandboxUnavailable` if the sandbox cannot start.
    """
    missing = missing_tools()
    if missing:
        raise SandboxUnavailable(f"cannot sandbox the student kernel: {', '.join(missing)} "
                                 "not installed (Debian: apt-get install bubblewrap "
                                 "util-linux)")
    runtime_dir = Path(tempfile.mkdtemp(prefix="course-sandbox-"))
    for folder in (runtime_dir, policy.scratch):
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(folder, policy.uid, policy.uid)
    stubs_dir, spec_dir = runtime_dir / "stubs", runtime_dir / "kernels" / KERNEL_NAME
    stubs_dir.mkdir()
    spec_dir.mkdir(parents=True)
    for index, module in enumerate(sorted(policy.blocked_modules)):
        message = policy.blocked_modules[module]
        (stubs_dir / f"{index}.py").write_text(BLOCKED_MODULE_SOURCE.format(message=message))
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    # Interrupts travel as a control-channel message: a signal would stop at bubblewrap,
    # whose child runs in a session and PID namespace of its own.
    spec = {"argv": sandbox_argv(policy, runtime_dir, stubs_dir, kernel),
            "display_name": "Python (sandboxed student kernel)", "language": "python",
            "interrupt_mode": "message"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    manager = KernelManager(kernel_name=KERNEL_NAME, transport="ipc",
                            kernel_spec_manager=KernelSpecManager(
                                kernel_dirs=[str(runtime_dir / "kernels")]),
                            connection_file=str(runtime_dir / "kernel.json"),
                            ip=str(runtime_dir / "kernel-ipc"))
    manager.write_connection_file()  # root writes it 0600: the kernel's user must read it
    if os.geteuid() == 0:
        os.chown(manager.connection_file, policy.uid, policy.uid)
    try:
        manager.start_kernel()
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=startup_timeout)
    except Exception as error:
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)
        shutil.rmtree(runtime_dir, ignore_errors=True)
        raise SandboxUnavailable(f"the sandboxed kernel did not start: {error}") from error
    return manager, client, runtime_dir
