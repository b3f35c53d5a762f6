"""The grader's view of a student kernel: proxies that send calls over and get data back.

A test cell runs in the grader, never in the student kernel. Libraries and test helpers
(``np``, ``torch``, ``course_lib.checks``) are the grader's own: it runs the import statements
of the instructor's setup cells itself (:func:`import_statements`), so a student object can
never stand in for one. Every other name a test reads (the student's functions and classes,
data the notebook computed) is looked up in the student kernel (:func:`student_names`) and
arrives as

- its value, if it is data (numbers, strings, containers, numpy arrays, tensors:
  ``course_grading.wire``), rebuilt as real objects here;
- otherwise a :class:`Remote` proxy: calling it, reading an attribute, iterating or indexing
  it sends a request to the student kernel and returns data again (or another proxy).

An exception in student code comes back as its type name and message and is raised here as
the built-in exception of that name (so ``except ValueError`` works) or as
:class:`StudentError`. Every comparison and every verdict happens on this side.

The student side of the channel (:data:`STUDENT_SIDE`) is plain source sent into the kernel
once it starts: student code may break it, and then its own answers fail, nothing else.
"""

from __future__ import annotations

import ast
import builtins
import os
import secrets
from pathlib import Path

from course_grading import wire

CALL_TIMEOUT = 60.0  # seconds one call into the student kernel may take
MAX_REPLY_BYTES = wire.MAX_MESSAGE_BYTES

STUDENT_SIDE = '''
def _course_serve(request_path, reply_path, _handles={}):
    from IPython import get_ipython
    from course_grading_wire import Handle, RemoteError, decode, encode
    namespace = get_ipython().user_ns

    def handle_for(obj):
        _handles[id(obj)] = obj
        return Handle(id(obj), type(obj).__qualname__, callable_=callable(obj))

    def resolve(value):
        if isinstance(value, Handle):
            return _handles[value.id]
        if type(value) in (list, tuple):
            return type(value)(resolve(v) for v in value)
        if type(value) is dict:
            return {k: resolve(v) for k, v in value.items()}
        return value

    def describe(name):
        if name not in namespace or type(namespace[name]).__name__ == "module":
            return {"kind": "missing"}
        obj = namespace[name]
        try:
            encode(obj)  # raises unless obj is plain data
            return {"kind": "data", "value": obj}
        except Exception:
            return {"kind": "object", "value": handle_for(obj)}

    try:
        request = resolve(decode(open(request_path).read()))
        op, target = request["op"], request.get("target")
        if op == "describe":
            result = describe(target)
        elif op == "call":
            result = target(*request["args"], **request["kwargs"])
        elif op == "getattr":
            result = getattr(target, request["name"])
        elif op == "getitem":
            result = target[request["key"]]
        elif op == "len":
            result = len(target)
        elif op == "iter":
            result = iter(target)
        elif op == "next":
            result = next(target)
        else:
            raise ValueError("unknown request " + repr(op))
        reply = encode({"ok": result}, handle_for=handle_for)
    except BaseException as error:
        reply = encode({"error": RemoteError(type(error).__name__, str(error))})
    with open(reply_path + ".part", "w") as file:
        file.write(reply)
    import os
    os.replace(reply_path + ".part", reply_path)
'''


class StudentError(Exception):
    """An exception of a type that is not a Python built-in, raised by student code."""


class StudentKernelError(RuntimeError):
    """The student kernel did not answer a request (it died, hung or broke the channel)."""


class StudentKernel:
    """Requests to one student kernel through files in its scratch folder."""

    def __init__(self, client, scratch: Path, *, timeout: float = CALL_TIMEOUT,
                 interrupt=None):
        self.client, self.scratch, self.timeout = client, Path(scratch), timeout
        self.interrupt = interrupt  # e.g. KernelManager.interrupt_kernel, used on a timeout

    def install(self) -> None:
        """Send the student side of the channel (wire + server) into the kernel."""
        source = Path(wire.__file__).read_text()
        self._run("import sys, types\n"
                  "_m = types.ModuleType('course_grading_wire')\n"
                  f"exec({source!r}, _m.__dict__)\n"
                  "sys.modules['course_grading_wire'] = _m\n"
                  "del _m\n" + STUDENT_SIDE)

    def request(self, op: str, target=None, **fields):
        """Run one request in the student kernel; its result as data or :class:`Remote`."""
        nonce = secrets.token_hex(8)
        request_path = self.scratch / f"request-{nonce}.json"
        reply_path = self.scratch / f"reply-{nonce}.json"
        target = target.handle if isinstance(target, Remote) else target
        request_path.write_text(wire.encode({"op": op, "target": target, **_unwrap(fields)}))
        os.chmod(request_path, 0o644)
        try:
            self._run(f"_course_serve({str(request_path)!r}, {str(reply_path)!r})")
            reply = self._read_reply(reply_path)
        finally:
            for path in (request_path, reply_path):
                path.unlink(missing_ok=True)
        if type(reply) is not dict or len(reply) != 1 or not ({"ok", "error"} & set(reply)):
            raise StudentKernelError("the student kernel sent a reply that is not a result")
        if "error" in reply:
            raise _exception(reply["error"])
        return _wrap(reply["ok"], self)

    def _read_reply(self, path: Path):
        if not path.is_file() or path.is_symlink():
            raise StudentKernelError("the student kernel did not answer (did the submission "
                                     "delete or replace the grading channel?)")
        if path.stat().st_size > MAX_REPLY_BYTES:
            raise StudentKernelError("the student kernel's answer is too large")
        try:
            return wire.decode(path.read_bytes())
        except wire.WireError as error:
            raise StudentKernelError(f"the student kernel's answer is not data: {error}")

    def _run(self, code: str) -> None:
        """Execute ``code`` silently in the kernel and wait; interrupt it past the timeout."""
        msg_id = self.client.execute(code, silent=True, store_history=False)
        try:
            reply = self.client.get_shell_msg(timeout=self.timeout)
            while reply["parent_header"].get("msg_id") != msg_id:
                reply = self.client.get_shell_msg(timeout=self.timeout)
        except Exception as error:  # queue.Empty on timeout
            if self.interrupt is not None:
                self.interrupt()
            raise StudentKernelError(f"the student kernel did not finish within "
                                     f"{self.timeout:.0f} s") from error
        if reply["content"].get("status") != "ok":
            raise StudentKernelError("the grading channel failed in the student kernel: "
                                     f"{reply['content'].get('ename')}")


class Remote:
    """A student object that stays in the student kernel; uses of it become requests."""

    def __init__(self, kernel: StudentKernel, handle: wire.Handle, name: str = ""):
        object.__setattr__(self, "_kernel", kernel)
        object.__setattr__(self, "handle", handle)
        object.__setattr__(self, "_name", name or handle.type_name)

    def __call__(self, *args, **kwargs):
        return self._kernel.request("call", self, args=list(args), kwargs=kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._kernel.request("getattr", self, name=name)

    def __getitem__(self, key):
        return self._kernel.request("getitem", self, key=key)

    def __len__(self) -> int:
        length = self._kernel.request("len", self)
        if type(length) is not int:
            raise StudentKernelError("len() of a student object did not give an int")
        return length

    def __iter__(self):
        iterator = self._kernel.request("iter", self)
        while True:
            try:
                yield self._kernel.request("next", iterator)
            except StopIteration:
                return

    def __repr__(self) -> str:
        return f"<student {self._name}>"


def student_names(kernel: StudentKernel, names, namespace: dict) -> dict:
    """Data or proxies for the ``names`` that ``namespace`` lacks and the student defined."""
    found = {}
    for name in sorted(set(names) - set(namespace) - set(dir(builtins))):
        description = kernel.request("describe", name)
        if type(description) is not dict:
            raise StudentKernelError(f"bad description of {name!r}")
        kind, value = description.get("kind"), description.get("value")
        if kind == "data":
            found[name] = value
        elif kind == "object" and isinstance(value, Remote):
            found[name] = Remote(kernel, value.handle, name)
    return found


def import_statements(sources) -> str:
    """The top-level ``import`` statements of ``sources`` (instructor code), as one cell."""
    lines = []
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        lines += [ast.unparse(node) for node in tree.body
                  if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(dict.fromkeys(lines))


def inject(kernel: StudentKernel, names, namespace: dict, injected: set) -> None:
    """Put the student's ``names`` into ``namespace`` afresh (what :func:`student_names` finds).

    Names injected for an earlier test cell are dropped first, so each test sees the student
    kernel's current values; names the grader's own cells defined are never replaced.
    """
    for name in injected:
        namespace.pop(name, None)
    injected.clear()
    found = student_names(kernel, names, namespace)
    namespace.update(found)
    injected.update(found)


def interrupt_by_message(client) -> None:
    """Interrupt a kernel through its control channel (how the sandboxed kernel listens)."""
    client.control_channel.send(client.session.msg("interrupt_request", {}))


def free_names(source: str) -> set[str]:
    """Names a cell reads that it does not itself assign or import (syntax errors: none)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return loaded - bound


def _exception(error: wire.RemoteError) -> BaseException:
    kind = getattr(builtins, error.type_name, None)
    if isinstance(kind, type) and issubclass(kind, Exception) and kind.__module__ == "builtins":
        return kind(error.message)
    return StudentError(f"{error.type_name}: {error.message}")


def _wrap(value, kernel: StudentKernel):
    """Handles in a decoded result become :class:`Remote` proxies."""
    if isinstance(value, wire.Handle):
        return Remote(kernel, value)
    if type(value) in (list, tuple):
        return type(value)(_wrap(v, kernel) for v in value)
    if type(value) is dict:
        return {k: _wrap(v, kernel) for k, v in value.items()}
    return value


def _unwrap(value):
    """Proxies in request arguments become the handles the student side resolves."""
    if isinstance(value, Remote):
        return value.handle
    if type(value) in (list, tuple):
        return type(value)(_unwrap(v) for v in value)
    if type(value) is dict:
        return {k: _unwrap(v) for k, v in value.items()}
    return value
