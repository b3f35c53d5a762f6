"""Autograding in two processes: student cells in a sandboxed kernel, tests in a grader kernel.

``SandboxedExecute`` takes the place of nbgrader's ``Execute`` in the autograde pipeline
(``nbgrader_config.py``). For each code cell of a submission, in order:

- a **test cell** (an nbgrader grade cell that is not an answer) runs in the *grader* kernel,
  a plain kernel that never runs student code. Before it runs, the names it reads that it
  does not define are fetched from the student kernel (``course_grading.harness``): data as
  real numpy/torch objects, modules imported by the grader itself, anything else as a proxy
  whose uses return data again. Test cells never enter the student kernel, so hidden tests
  stay hidden, and nothing the submission does can change how a test runs or what it asserts.
- every **other code cell** (setup, answers, demos, cells the student added) runs in the
  *student* kernel inside the sandbox (``course_grading.sandbox``).

Outputs land in each cell as nbgrader expects, so scores, feedback, the formgrader and exports
work unchanged. Where the sandbox cannot start, grading stops with a clear message, unless the
instructor sets ``SandboxedExecute.allow_unsandboxed = True`` (documented as unsafe): then the
student kernel is an ordinary kernel, and the tests still run in the grader.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client import KernelManager
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Dict, Integer, List, Unicode
from traitlets.config import Config

from course_grading import harness, sandbox, static

GRADER_PRELUDE = '''
from pathlib import Path as _Path
from jupyter_client import BlockingKernelClient as _Client
from course_grading import harness as _harness
_student_client = _Client(connection_file={connection_file!r})
_student_client.load_connection_file()
_student_client.start_channels(iopub=False)
_student = _harness.StudentKernel(_student_client, _Path({scratch!r}), timeout={call_timeout})
_student.install()
_injected = set()
from course_grading import testing as _testing
_testing.start_grading({sources_file!r})
'''


KERNEL_STOPPED = {
    "output_type": "error", "ename": "StudentKernelStopped",
    "evalue": "the notebook's kernel stopped answering (the submission crashed it, exited, or "
              "broke it); this cell and the ones after it were not run",
    "traceback": ["StudentKernelStopped: the notebook's kernel stopped answering; this cell "
                  "and the ones after it were not run"]}


GRADER_CELL = re.compile(r"-(setup|test-helpers|oracle)(-[\w-]*)?$|-(helpers|import)$")


def runs_in_grader(grade_id: str | None) -> bool:
    """Instructor cells that also run in the grader: setup (imports, data), test helpers and
    oracles, named ``*-setup*``, ``*-test-helpers*``, ``*-oracle``, ``*-helpers``, ``*-import``.

    The grader runs its own copy of them, from the gradebook, before the first test: what
    they define is the grader's, whatever the submission does with the same names.
    """
    return bool(grade_id) and GRADER_CELL.search(grade_id) is not None


def instructor_cells(resources, order: list[str]) -> list[tuple[str, str]]:
    """``(grade_id, source)`` of the instructor's code cells that are not answers, from the
    gradebook, in the order of ``order`` (the submission's grade ids; others last)."""
    from nbgrader.api import Gradebook

    meta = resources["nbgrader"]
    with Gradebook(meta["db_url"]) as gradebook:
        notebook = gradebook.find_notebook(meta["notebook"], meta["assignment"])
        answers = {cell.name for cell in notebook.solution_cells}
        cells = [(cell.name, cell.source) for cell in notebook.source_cells
                 if cell.cell_type == "code" and cell.name not in answers]
    position = {grade_id: index for index, grade_id in enumerate(order)}
    return sorted(cells, key=lambda cell: position.get(cell[0], len(position)))


def grader_setup_code(cells: list[tuple[str, str]]) -> tuple[str, set[str]]:
    """The code the grader runs before the first test, and the names its helpers read.

    All instructor imports first (``harness.import_statements``), then the full source of
    the cells :func:`runs_in_grader` selects. The names those helpers read but do not define
    (a helper that calls the student's function) are fetched for every test.
    """
    sources = [static.python_source(source) for _, source in cells]
    chosen = [static.python_source(source) for grade_id, source in cells
              if runs_in_grader(grade_id)]
    helper_names = set().union(*(harness.free_names(source) for source in chosen))
    return "\n".join([harness.import_statements(sources), *chosen]), helper_names


def function_reads(sources) -> dict[str, set[str]]:
    """For each top-level function and class the ``sources`` define, the names it reads."""
    reads: dict[str, set[str]] = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                reads.setdefault(node.name, set()).update(
                    harness.free_names(ast.unparse(node)))
    return reads


def cell_roots(source: str, reads: dict[str, set[str]]) -> set[str]:
    """The names a test cell reads, directly or through the helpers it calls (``reads``):
    where ``forbid_calls`` starts reading the student's code for that cell."""
    todo, seen = sorted(harness.free_names(source)), set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += sorted(reads.get(name, ()))
    return seen


def is_test_cell(cell) -> bool:
    """An nbgrader autograder-test cell: graded, and not an answer the student writes."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


class SandboxedExecute(Preprocessor):
    """Execute a submission with its tests outside the student's process (module docstring)."""

    enabled = Bool(True)
    timeout = Integer(60, help="seconds a cell may run").tag(config=True)
    call_timeout = Integer(60, help="seconds one call into student code may run").tag(
        config=True)
    allow_unsandboxed = Bool(False, help=(
        "UNSAFE: grade even where the bubblewrap sandbox cannot start; the student kernel "
        "then runs with the grader's permissions (it can read solutions/ and gradebook.db)."
    )).tag(config=True)
    visible_paths = List(Unicode(), [], help=(
        "more paths the student kernel may read; course_lib and the Python environment are "
        "always visible")).tag(config=True)
    answer_modules = Dict(default_value={}, help=(
        "assignment -> course_lib files holding its reference answers; replaced by an "
        "ImportError in the student kernel while that assignment is graded")).tag(config=True)
    single_kernel = List(Unicode(), [], help=(
        "assignments whose tests still use student objects the grader cannot hold (PyTorch "
        "modules, Keras models): all their cells run in the sandboxed student kernel, as in "
        "nbgrader's Execute. Sandboxed, but a cell of the submission can reach their tests."
    )).tag(config=True)
    memory_bytes = Integer(8 * 1024**3).tag(config=True)
    cpu_seconds = Integer(900).tag(config=True)
    max_processes = Integer(512).tag(config=True)

    def preprocess(self, nb, resources):
        scratch = Path(tempfile.mkdtemp(prefix="course-student-"))
        # The grader's own folder (its working directory, on its sys.path): the student kernel
        # can write to scratch, so a module planted there must never be importable here.
        private = Path(tempfile.mkdtemp(prefix="course-grader-"))
        student_km, student_kc, runtime_dir = self._start_student_kernel(resources, scratch)
        student = NotebookClient(nb, km=student_km, timeout=self.timeout,
                                 allow_errors=True, interrupt_on_timeout=True,
                                 record_timing=False)
        # nbclient needs an asynchronous client: a blocking one would stall its event loop
        # (and every timeout with it) on a kernel that stops answering.
        student.kc = AsyncKernelClient()
        student.kc.load_connection_info(student_km.get_connection_info())
        student.kc.start_channels()
        # The grader kernel talks over unix sockets in its private folder: with TCP, a port
        # picked free could be taken by a parallel grading job before the kernel bound it
        # ("Address already in use", the kernel died before replying; seen with make grade J=4).
        grader = NotebookClient(nb, kernel_name="python3", timeout=self.timeout,
                                allow_errors=True, interrupt_on_timeout=True,
                                record_timing=False,
                                resources={"metadata": {"path": str(private)}},
                                config=Config({"KernelManager": {
                                    "transport": "ipc", "ip": str(private / "kernel-ipc")}}))
        sources_file = private / "submission-cells.json"
        sources_file.write_text(json.dumps([
            [cell.metadata.get("nbgrader", {}).get("grade_id") or f"added-{index}",
             cell.source] for index, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and not is_test_cell(cell)]))
        order = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells]
        single = resources.get("nbgrader", {}).get("assignment") in self.single_kernel
        if single:
            self.log.warning("%s: tests run in the sandboxed student kernel (single_kernel)",
                             resources["nbgrader"]["assignment"])
        setup_code, helper_names = grader_setup_code(instructor_cells(resources, order))
        # What any test cell reads: a helper one test defines may be called by a later one.
        test_sources = [static.python_source(cell.source) for cell in nb.cells
                        if is_test_cell(cell)]
        test_names = set().union(*(harness.free_names(source) for source in test_sources))
        reads = function_reads([setup_code, *test_sources])
        try:
            with (contextlib.nullcontext() if single
                  else grader.setup_kernel(env=self._grader_env())):
                if not single:
                    self._run_silently(grader, GRADER_PRELUDE.format(
                        connection_file=student_km.connection_file, scratch=str(scratch),
                        call_timeout=self.call_timeout, sources_file=str(sources_file)),
                        fail=True)
                # The grader imports its libraries and helpers while the student's first
                # cells run (on another core); the first test waits for it.
                setup_id = None if single else grader.kc.execute(setup_code, silent=True)
                student_alive = True
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    started = time.perf_counter()
                    if not student_alive:
                        cell.outputs = [nbformat.from_dict(KERNEL_STOPPED)]
                    elif is_test_cell(cell) and not single:
                        if setup_id is not None:
                            self._wait_for(grader, setup_id)
                            setup_id = None
                        names = sorted(test_names | helper_names)
                        roots = sorted(cell_roots(static.python_source(cell.source), reads))
                        self._run_silently(grader, "_harness.inject(_student, "
                                           f"{names!r}, globals(), _injected)\n"
                                           f"_cell_roots = {roots!r}", cell)
                        grader.execute_cell(cell, index)
                    else:
                        student_alive = self._run_student_cell(student, cell, index)
                    self.log.debug("cell %s (%s): %.2f s", index, cell.metadata.get(
                        "nbgrader", {}).get("grade_id", "added"),
                        time.perf_counter() - started)
        finally:
            shutil.rmtree(private, ignore_errors=True)
            student.kc.stop_channels()
            student_kc.stop_channels()
            student_km.shutdown_kernel(now=True)
            shutil.rmtree(scratch, ignore_errors=True)
            if runtime_dir is not None:
                shutil.rmtree(runtime_dir, ignore_errors=True)
        return nb, resources

    def _run_student_cell(self, student: NotebookClient, cell, index: int) -> bool:
        """Run one cell in the student kernel; False once that kernel has stopped answering
        (it crashed, exited, or broke its own machinery): later cells then score nothing."""
        try:
            student.execute_cell(cell, index)
            return True
        except DeadKernelError:
            cell.outputs.append(nbformat.from_dict(KERNEL_STOPPED))
            return False

    @staticmethod
    def _grader_env() -> dict:
        """The grader kernel imports course_grading from the course folder it runs in."""
        path = os.pathsep.join(filter(None, [str(Path.cwd()), os.environ.get("PYTHONPATH")]))
        return {**os.environ, "PYTHONPATH": path}

    def _wait_for(self, grader: NotebookClient, msg_id: str) -> None:
        """Wait for the grader's reply to ``msg_id``; stop grading if it failed."""
        while True:
            reply = run_sync(grader.kc._async_get_shell_msg)(timeout=max(self.timeout, 120))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the grader kernel failed to set up the tests: "
                               f"{reply['content'].get('ename')}: "
                               f"{reply['content'].get('evalue')}")

    def _run_silently(self, grader: NotebookClient, code: str, cell=None, *,
                      fail: bool = False) -> None:
        """Run grader-side glue code; a failure shows in ``cell`` (the test then fails), or
        stops grading with ``fail`` (the grader itself is broken: nothing to score)."""
        reply = run_sync(grader.kc.execute_interactive)(code, silent=True,
                                                         timeout=self.timeout)
        if reply["content"]["status"] != "ok" and fail:
            raise RuntimeError(f"the grader kernel failed to start grading: "
                               f"{reply['content'].get('ename')}: "
                               f"{reply['content'].get('evalue')}")
        if reply["content"]["status"] != "ok" and cell is not None:
            error = reply["content"]
            cell.outputs.append(nbformat.from_dict({
                "output_type": "error", "ename": error["ename"], "evalue": error["evalue"],
                "traceback": [f"{error['ename']}: {error['evalue']}"]}))

    def _start_student_kernel(self, resources, scratch: Path):
        import course_lib

        course_root, library = Path.cwd(), Path(course_lib.__file__).resolve().parent
        assignment = resources.get("nbgrader", {}).get("assignment", "")
        # course_grading holds no answers; its testing helpers run in setup cells there too.
        grading = Path(harness.__file__).resolve().parent
        visible = [library, grading, Path(sys.prefix), *(Path(p) for p in self.visible_paths)]
        policy = sandbox.SandboxPolicy(
            hidden_roots=(course_root, library.parent), scratch=scratch, visible=tuple(visible),
            blocked_modules={library.parent / path: (
                f"{path} is not available while {assignment} is graded: it holds that "
                "assignment's reference answers; write the code yourself")
                for path in self.answer_modules.get(assignment, [])
                if (library.parent / path).is_file()},
            memory_bytes=self.memory_bytes, cpu_seconds=self.cpu_seconds,
            max_processes=self.max_processes)
        try:
            return sandbox.start_sandboxed_kernel(policy)
        except sandbox.SandboxUnavailable as error:
            if not self.allow_unsandboxed:
                raise RuntimeError(
                    f"{error}. Grading refuses to run student code unsandboxed; install "
                    "bubblewrap, or set c.SandboxedExecute.allow_unsandboxed = True in "
                    "nbgrader_config.py (UNSAFE: the submission can then read solutions/ "
                    "and gradebook.db)") from error
            self.log.warning("UNSAFE: grading without a sandbox (%s)", error)
            manager = KernelManager(kernel_name="python3")
            manager.start_kernel(cwd=str(scratch))
            client = manager.client()
            client.start_channels()
            client.wait_for_ready(timeout=60)
            return manager, client, None
