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

The student side of the channel (``course_grading/student_side.py``) is source sent into the
kernel once it starts: student code may break it, and then its own answers fail, nothing else.
"""

from __future__ import annotations

import ast
import builtins
import queue
import secrets
import socket
import sys
from pathlib import Path

import numpy as np

from course_grading import wire

CALL_TIMEOUT = 60.0  # seconds one call into the student kernel may take
CALLBACK = "<grader callback>"  # type name of a handle to a grader function
TRANSFER = "<grader transfer>"  # a grader module/optimizer copied into the student kernel
TRANSFERRED_OBJECT = "<transferred object>"  # ... and referred to in a result
TRANSFERRED_PARAMETER = "<transferred parameter>"  # one of its parameters in a result
# Classes whose instances may be copied into the student kernel: library code it can import.
TRANSFERABLE_PACKAGES = ("torch", "torchvision", "course_lib")
SHARED_TENSOR = "__course_shared_tensor__"  # a student parameter/buffer, kept in sync
KERAS_SPEC = "__course_keras_spec__"  # a student Keras model: configuration and weights
MODULE_SPEC = "__course_module_spec__"  # a student module made of library classes only
MAX_REPLY_BYTES = wire.MAX_MESSAGE_BYTES
STUDENT_SIDE = Path(__file__).with_name("student_side.py")  # source run in the student kernel



class StudentError(Exception):
    """An exception of a type that is not a Python built-in, raised by student code."""


class StudentKernelError(RuntimeError):
    """The student kernel did not answer a request (it died, hung or broke the channel)."""


class StudentKernel:
    """Requests to one student kernel over a unix socket in its scratch folder.

    :meth:`install` starts, inside the kernel, a thread that answers requests on the socket
    (no Jupyter message per call: a call costs a fraction of a millisecond). A request that
    runs past ``timeout`` is stopped by raising ``KeyboardInterrupt`` in that thread, from the
    kernel's main thread.
    """

    def __init__(self, client, scratch: Path, *, timeout: float = CALL_TIMEOUT):
        self.client, self.scratch, self.timeout = client, Path(scratch), timeout
        self.socket_path = self.scratch / f"channel-{secrets.token_hex(6)}.sock"
        self._stream = None
        self._grader_objects: dict[int, object] = {}  # passed in by tests, kept while grading
        # student parameters/buffers seen here: handle id -> (the grader's copy, its version
        # when last in sync); changes the test makes are sent back (_push_shared). Kept for
        # the kernel's lifetime, as the student side keeps the originals: a test may change
        # the parameters of a module it then drops, and the change must still reach it.
        self._shared: dict[int, tuple] = {}
        self._pushing = False

    def install(self) -> None:
        """Send the student side of the channel (wire + server) into the kernel, start it."""
        source = Path(wire.__file__).read_text()
        self._execute("import sys, types\n"
                      "_m = types.ModuleType('course_grading_wire')\n"
                      f"exec({source!r}, _m.__dict__)\n"
                      "sys.modules['course_grading_wire'] = _m\n"
                      "del _m\n" + STUDENT_SIDE.read_text() +
                      f"\n_course_channel = _course_start_server({str(self.socket_path)!r})")

    def _connect(self):
        if self._stream is None:
            if not self.socket_path.is_socket():
                raise StudentKernelError("the student kernel's grading channel is gone (did "
                                         "the submission delete or replace it?)")
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.settimeout(self.timeout)
            try:
                connection.connect(str(self.socket_path))
            except OSError as error:
                raise StudentKernelError(f"cannot reach the student kernel: {error}")
            self._stream = connection.makefile("rwb")
            self._socket = connection
        return self._stream

    def _send(self, text: str) -> None:
        data = text.encode()
        self._stream.write(b"%d\n" % len(data) + data)
        self._stream.flush()

    def _receive(self):
        header = self._stream.readline(32)
        if not header.endswith(b"\n") or not header[:-1].isdigit():
            raise StudentKernelError("the student kernel broke the grading channel")
        size = int(header)
        if size > MAX_REPLY_BYTES:
            raise StudentKernelError("the student kernel's answer is too large")
        body = self._stream.read(size)
        if len(body) != size:
            raise StudentKernelError("the student kernel closed the grading channel")
        try:
            return wire.decode(body)
        except wire.WireError as error:
            raise StudentKernelError(f"the student kernel's answer is not data: {error}")

    def request(self, op: str, target=None, **fields):
        """Run one request in the student kernel; its result as data or :class:`Remote`.

        Grader functions and objects among call arguments (a test's ``lambda``) stay here:
        the student side gets stubs whose uses come back as callback requests, answered here
        on data (:meth:`_callback`). After a call, arguments the student code changed in
        place (arrays, lists, dicts) are changed the same way here, so ``check_no_mutation``
        sees what the student code did.
        """
        self._push_shared()
        target = target.handle if isinstance(target, Remote) else target
        callbacks = self._grader_objects  # a student object may keep one for a later call
        transfers: list = []  # the grader's modules and optimizers among the arguments
        if isinstance(target, InStudentKernel):
            transfers.append(target.function)
            target = wire.Handle(0, TRANSFER)
        message = {"op": op, "target": target, **_unwrap(fields, callbacks, transfers)}
        if transfers:
            message["transfer"] = _pickled(transfers)
            torch = _loaded("torch")
            if torch is not None:  # dropout in the student's call draws from the grader's stream
                message["torch_rng"] = torch.get_rng_state()
        if op == "call" and _grad_disabled():
            message["no_grad"] = True
        try:
            self._connect()
            self._send(wire.encode(message))
            while True:
                reply = self._receive()
                if type(reply) is dict and "callback" in reply:
                    self._send(self._callback(reply, callbacks))
                    continue
                break
        except (TimeoutError, socket.timeout):
            self._stop_running_call()
            raise StudentKernelError(f"the student kernel did not finish within "
                                     f"{self.timeout:.0f} s") from None
        except OSError as error:
            self._drop_connection()
            raise StudentKernelError(f"the grading channel failed: {error}") from None
        except StudentKernelError:
            self._drop_connection()
            raise
        except BaseException:  # e.g. the grader cell interrupted on its own time limit
            self._stop_running_call()
            raise
        if type(reply) is not dict or not ({"ok", "error"} & set(reply)) \
                or not set(reply) <= {"ok", "after", "error", "transferred", "torch_rng"}:
            self._drop_connection()
            raise StudentKernelError("the student kernel sent a reply that is not a result")
        if "error" in reply:
            raise _exception(reply["error"])
        if transfers:
            _load_transferred(transfers, reply.get("transferred"), self)
            if "torch_rng" in reply:
                import torch

                torch.set_rng_state(_same_shape(reply["torch_rng"], torch.get_rng_state(),
                                                "the random state"))
        if op == "call" and type(reply.get("after")) is list and len(reply["after"]) == 2:
            _mirror_changes([fields.get("args"), fields.get("kwargs")], reply["after"])
        return _wrap(reply["ok"], self, transfers)

    def run(self, function, *args, **kwargs):
        """Call ``function``, a module-level function of a library the student kernel can
        import (``course_grading.testing``, say), IN the student kernel, with these
        arguments (student objects among them stay there). For a test helper that must
        run next to student code, e.g. building a Keras model from a student's block."""
        return self.request("call", InStudentKernel(function), args=list(args), kwargs=kwargs)

    def _push_shared(self) -> None:
        """Send the student kernel the shared tensors a test changed in place since they
        arrived (``p.zero_()``, ``p.copy_(w)``, an optimizer step on them)."""
        if self._pushing:
            return
        changed = []
        for handle_id, (tensor, version) in list(self._shared.items()):
            if tensor._version != version:
                changed.append([wire.Handle(handle_id, "Tensor"), tensor.detach()])
                self._shared[handle_id] = (tensor, tensor._version)
        if changed:
            self._pushing = True
            try:
                self.request("sync", None, values=changed)
            finally:
                self._pushing = False

    def shared_tensor(self, handle, value, is_parameter: bool, requires_grad: bool):
        """The grader's copy of a student parameter or buffer: the same object each time
        the same student tensor arrives, its values refreshed."""
        import torch

        if not isinstance(handle, wire.Handle) or not _is_tensor(value):
            raise StudentKernelError("malformed shared tensor")
        known = self._shared.get(handle.id)
        tensor = known[0] if known else None
        if tensor is not None and tuple(tensor.shape) == tuple(value.shape) \
                and tensor.dtype == value.dtype:
            with torch.no_grad():
                if not torch.equal(tensor, value):
                    tensor.copy_(value)
        else:
            value = value.detach()
            tensor = torch.nn.Parameter(value, requires_grad=requires_grad is True) \
                if is_parameter is True else value
        self._shared[handle.id] = (tensor, tensor._version)
        return tensor

    def _callback(self, message: dict, callbacks: dict) -> str:
        """Answer the student side's use of a grader object passed in by a test (a call or
        an attribute read, with data in and data or another grader handle out)."""
        def handle_for(value):
            callbacks[id(value)] = value
            return wire.Handle(id(value), CALLBACK, callable_=callable(value))

        try:
            handle = message.get("callback")
            target = callbacks.get(handle.id) if isinstance(handle, wire.Handle) else None
            if target is None:
                raise StudentKernelError("unknown grader object")
            if message.get("op") == "getattr" and type(message.get("name")) is str \
                    and not message["name"].startswith("_"):
                result = getattr(target, message["name"])
            elif message.get("op") == "call":
                args, kwargs = _wrap(message.get("args"), self), \
                    _wrap(message.get("kwargs"), self)
                if type(args) is not list or type(kwargs) is not dict:
                    raise StudentKernelError("malformed callback arguments")
                result = target(*args, **kwargs)
            else:
                raise StudentKernelError("unknown callback request")
            return wire.encode({"ok": result}, handle_for=handle_for)
        except Exception as error:  # the error goes back to the student code that asked
            return wire.encode({"error": wire.RemoteError(type(error).__name__, str(error))})

    def _stop_running_call(self) -> None:
        """Raise KeyboardInterrupt in the channel thread (from the kernel's main thread);
        the connection is dropped, so a late reply can never answer a later request."""
        self._drop_connection()
        try:
            self._execute("_course_interrupt(_course_channel)", timeout=10)
        except StudentKernelError:
            pass

    def _drop_connection(self) -> None:
        if self._stream is not None:
            try:
                self._stream.close()
                self._socket.close()
            except OSError:
                pass
        self._stream = None

    def _execute(self, code: str, timeout: float | None = None) -> None:
        """Execute ``code`` silently in the kernel's main thread and wait for it."""
        msg_id = self.client.execute(code, silent=True, store_history=False)
        try:
            reply = self.client.get_shell_msg(timeout=timeout or self.timeout)
            while reply["parent_header"].get("msg_id") != msg_id:
                reply = self.client.get_shell_msg(timeout=timeout or self.timeout)
        except queue.Empty:
            raise StudentKernelError("the student kernel did not answer") from None
        if reply["content"].get("status") != "ok":
            raise StudentKernelError("the grading channel failed in the student kernel: "
                                     f"{reply['content'].get('ename')}")


class InStudentKernel:
    """A grader library function to be called in the student kernel (:meth:`StudentKernel.run`)."""

    def __init__(self, function):
        self.function = function


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

    @property
    def __class__(self):
        """The library class the student object says it derives from (``nn.Module``,
        ``nn.Conv2d``, a Keras layer), so ``isinstance(model, nn.Module)`` works in a test;
        :class:`Remote` when none (``type()`` is always :class:`Remote`)."""
        return library_class(self.handle.bases) or type(self)


class RemoteIterator(Remote):
    """A student iterator (a generator, say): ``next()`` works on it, as on the original, so
    ``isinstance(x, collections.abc.Iterator)`` holds."""

    def __iter__(self):
        return self

    def __next__(self):
        return self._kernel.request("next", self)


# Classes a proxy may claim through isinstance: modules, layers, optimizers (never data types:
# a proxy that passed for a tensor or an array would reach code that expects real numbers).
LIBRARY_CLASS_PREFIXES = ("torch.nn.modules.", "torch.optim.", "torchvision.models.",
                          "torchvision.ops.", "keras.")


def library_class(bases) -> type | None:
    """The first of ``bases`` (``module.qualname`` strings) that names a class of a library in
    :data:`LIBRARY_CLASS_PREFIXES` already imported here (nothing is imported for it)."""
    for base in bases:
        if not base.startswith(LIBRARY_CLASS_PREFIXES):
            continue
        module_name, _, qualname = base.rpartition(".")
        while module_name and module_name not in sys.modules:
            module_name, _, outer = module_name.rpartition(".")
            qualname = f"{outer}.{qualname}"
        found = sys.modules.get(module_name)
        for part in qualname.split(".") if found is not None else ():
            found = getattr(found, part, None)
        if isinstance(found, type) and found.__module__.startswith(
                tuple(prefix.split(".")[0] for prefix in LIBRARY_CLASS_PREFIXES)) \
                and not _is_data_type(found):
            return found
    return None


def _is_data_type(kind: type) -> bool:
    torch = _loaded("torch")
    return issubclass(kind, np.ndarray) or (torch is not None and issubclass(kind, torch.Tensor))


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
            found[name] = type(value)(kernel, value.handle, name)
        elif kind == "object" and _is_module(value):  # rebuilt here from its description
            found[name] = value
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


def _wrap(value, kernel: StudentKernel, transfers=()):
    """Handles in a decoded result become :class:`Remote` proxies; references to the
    grader's transferred objects (``transfers``) and their parameters become those objects."""
    if isinstance(value, wire.Handle):
        if value.type_name == CALLBACK:  # only the student side resolves these
            raise StudentKernelError("the student kernel sent a callback handle")
        if value.type_name in (TRANSFERRED_OBJECT, TRANSFERRED_PARAMETER):
            originals = list(transfers) if value.type_name == TRANSFERRED_OBJECT \
                else _parameters_of(transfers)
            if not 0 <= value.id < len(originals):
                raise StudentKernelError("the student kernel sent an unknown reference")
            return originals[value.id]
        return RemoteIterator(kernel, value) if value.iterator else Remote(kernel, value)
    if type(value) in (list, tuple):
        return type(value)(_wrap(v, kernel, transfers) for v in value)
    if type(value) is dict and set(value) == {SHARED_TENSOR} \
            and type(value[SHARED_TENSOR]) is list and len(value[SHARED_TENSOR]) == 4:
        return kernel.shared_tensor(*value[SHARED_TENSOR])
    if type(value) is dict and set(value) == {MODULE_SPEC}:
        return rebuild_module(value[MODULE_SPEC], kernel)
    if type(value) is dict and set(value) == {KERAS_SPEC}:
        return rebuild_keras(value[KERAS_SPEC])
    if type(value) is dict:
        return {k: _wrap(v, kernel, transfers) for k, v in value.items()}
    return value


def rebuild_keras(spec):
    """A Keras model here from a student model's configuration and weights: deserialized
    in Keras's safe mode (no lambdas), from Keras's own classes only."""
    import keras

    if type(spec) is not dict or type(spec.get("weights")) is not list:
        raise StudentKernelError("malformed Keras model description")
    _check_keras_config(spec.get("config"))
    try:
        model = keras.saving.deserialize_keras_object(spec["config"], safe_mode=True)
    except Exception as error:
        raise StudentKernelError(f"cannot rebuild the Keras model: {error}") from None
    if not isinstance(model, keras.Model) or len(model.weights) != len(spec["weights"]):
        raise StudentKernelError("the Keras model's description does not match its weights")
    _assign_keras_weights(model, spec["weights"])
    return model


# Keras layers that load files or run code given by name: never rebuilt from a student's data.
KERAS_REFUSED = {"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"}


def _check_keras_config(config, depth: int = 0) -> None:
    """Every class a Keras configuration names comes from Keras itself, and none of them
    loads a file or runs code named in the configuration."""
    if depth > 200:
        raise StudentKernelError("Keras configuration nested too deeply")
    if type(config) is dict:
        if config.get("class_name") in KERAS_REFUSED or "filepath" in config:
            raise StudentKernelError(f"a Keras model with {config.get('class_name')!r} "
                                     "cannot be checked; use Keras's built-in layers")
        for key, value in config.items():
            if key == "module" and not (type(value) is str and (
                    value == "keras" or value.startswith("keras."))):
                raise StudentKernelError(f"a Keras configuration names module {value!r}")
            if key == "registered_name" and value is not None and (
                    type(value) is not str or "/" in value or ">" in value):
                raise StudentKernelError(f"a Keras configuration names {value!r}")
            _check_keras_config(value, depth + 1)
    elif type(config) in (list, tuple):
        for value in config:
            _check_keras_config(value, depth + 1)


def _assign_keras_weights(model, weights) -> None:
    for variable, value in zip(model.weights, weights):
        if not isinstance(value, np.ndarray) or tuple(value.shape) != tuple(variable.shape):
            raise StudentKernelError(f"weight {variable.path} changed shape or type")
        variable.assign(value)


def rebuild_module(spec, kernel: StudentKernel):
    """A real module here from a student module's description (``module_spec`` in
    ``student_side.py``): only PyTorch/torchvision classes, built without their
    ``__init__``, given the data attributes, parameters and buffers the student side sent.
    Its forward is the library's own code; nothing of the student's runs here."""
    import torch

    if type(spec) is not dict or type(spec.get("class")) is not str:
        raise StudentKernelError("malformed module description")
    kind = library_class([spec["class"]])
    if kind is None or not issubclass(kind, torch.nn.Module) \
            or not spec["class"].startswith(("torch.nn.modules.", "torchvision.")):
        raise StudentKernelError(f"cannot rebuild a module of class {spec['class']!r}")
    module = kind.__new__(kind)
    torch.nn.Module.__init__(module)
    attrs, params, buffers, children = (spec.get(key) for key in (
        "attrs", "params", "buffers", "children"))
    if not all(type(part) is dict for part in (attrs, params, buffers, children)):
        raise StudentKernelError("malformed module description")
    internals = set(vars(torch.nn.Module()))  # parameters, buffers, hooks: set below or never
    for key, value in attrs.items():
        if type(key) is not str or not key.isidentifier() or key.startswith("__"):
            raise StudentKernelError(f"bad attribute name {key!r}")
        if key in internals or "hook" in key:
            continue  # Module.__init__ made them; a description never sets them
        object.__setattr__(module, key, value)
    for name, value in params.items():
        value = _wrap(value, kernel)
        if value is not None and not isinstance(value, torch.nn.Parameter):
            raise StudentKernelError(f"parameter {name!r} is not a tensor")
        module._parameters[str(name)] = value
    non_persistent = spec.get("non_persistent", [])
    for name, value in buffers.items():
        value = _wrap(value, kernel)
        if value is not None and not _is_tensor(value):
            raise StudentKernelError(f"buffer {name!r} is not a tensor")
        module._buffers[str(name)] = value
        if type(non_persistent) is list and name in non_persistent:
            module._non_persistent_buffers_set.add(str(name))
    for name, child in children.items():
        module._modules[str(name)] = None if child is None else rebuild_module(child, kernel)
    module.training = spec.get("training") is not False
    return module


def _unwrap(value, callbacks: dict, transfers: list | None = None):
    """Proxies in request arguments become the handles the student side resolves; the
    grader's PyTorch modules and optimizers are copied over (``transfers``, see
    :func:`_transferable`); other grader functions and objects become grader handles
    (registered in ``callbacks``)."""
    if isinstance(value, Remote):
        return value.handle
    if type(value) in (list, tuple):
        return type(value)(_unwrap(v, callbacks, transfers) for v in value)
    if type(value) is dict:
        return {k: _unwrap(v, callbacks, transfers) for k, v in value.items()}
    if transfers is not None and _transferable(value):
        for index, known in enumerate(transfers):
            if known is value:
                return wire.Handle(index, TRANSFER)
        transfers.append(value)
        return wire.Handle(len(transfers) - 1, TRANSFER)
    if not _is_data_leaf(value):
        callbacks[id(value)] = value
        return wire.Handle(id(value), CALLBACK, callable_=callable(value))
    return value


def _is_data_leaf(value) -> bool:
    """Whether ``value`` (not a container) crosses as data; else as a grader handle."""
    if isinstance(value, (np.ndarray, np.generic, wire.Handle)) or _is_tensor(value):
        return True
    try:
        wire.encode(value)
        return True
    except wire.WireError:
        return False


def _mirror_changes(sent, after) -> None:
    """Apply to the grader's call arguments ``sent`` (``[args, kwargs]``) the in-place
    changes the student code made; ``after`` holds the same arguments as the call left them."""
    for old, new in zip(sent, after):
        _mirror_one(old, new)


def _mirror_one(old, new) -> None:
    """Make the mutable ``old`` (array, tensor, list, dict) equal to ``new``, in place."""
    if type(old) is np.ndarray and type(new) is np.ndarray:
        if old.shape == new.shape and old.dtype == new.dtype and old.flags.writeable \
                and not np.array_equal(old, new, equal_nan=True):
            old[...] = new
    elif type(old) is list and type(new) is list and _is_data(new):
        if len(old) == len(new):
            for index, (o, n) in enumerate(zip(old, new)):
                if type(o) in (np.ndarray, list, dict) and type(n) is type(o):
                    _mirror_one(o, n)
                elif not _same(o, n):
                    old[index] = n
        else:
            old[:] = new
    elif type(old) is dict and type(new) is dict and _is_data(new):
        for key in old.keys() - new.keys():
            del old[key]
        for key, value in new.items():
            if key in old and type(old[key]) in (np.ndarray, list, dict) \
                    and type(value) is type(old[key]):
                _mirror_one(old[key], value)
            elif key not in old or not _same(old[key], value):
                old[key] = value
    elif _is_tensor(old) and _is_tensor(new) and tuple(old.shape) == tuple(new.shape):
        import torch

        with torch.no_grad():
            if not torch.equal(old.detach().cpu(), new.detach().cpu().to(old.dtype)):
                old.copy_(new)


def _is_data(value) -> bool:
    """No handles inside (what the student side could not send as data)."""
    if isinstance(value, wire.Handle):
        return False
    if type(value) in (list, tuple):
        return all(_is_data(v) for v in value)
    if type(value) is dict:
        return all(_is_data(v) for v in value.values())
    return True


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is np.ndarray:
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
    try:
        return bool(a == b)
    except Exception:
        return False


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "shape") \
        and hasattr(value, "copy_")




def _transferable(value) -> bool:
    """A PyTorch module or optimizer of the grader's that the student code should use as a
    real object (``training_step(model, optimizer=...)``): copied into the student kernel
    for the call, and what the call did to it copied back (:func:`_load_transferred`).

    Only objects made of classes the student kernel can import (PyTorch, torchvision,
    course_lib) qualify; a module class a test defines itself stays a callback.
    """
    torch, keras = _loaded("torch"), _loaded("keras")
    if keras is not None and isinstance(value, keras.Model):
        return type(value).__module__.startswith("keras.")  # a Functional or Sequential
    if torch is None or not isinstance(value, (torch.nn.Module, torch.optim.Optimizer)):
        return False
    classes = [type(m) for m in value.modules()] if isinstance(value, torch.nn.Module) \
        else [type(value)]
    return all(kind.__module__.split(".")[0] in TRANSFERABLE_PACKAGES for kind in classes)


def _pickled(objects: list) -> str:
    """The grader's own objects as one pickle (shared parameters stay shared), base64.
    Pickles only ever go from the grader to the student kernel, never back."""
    import base64
    import pickle

    return base64.b64encode(pickle.dumps(objects)).decode()


def _parameters_of(transfers) -> list:
    import torch

    return [p for obj in transfers if isinstance(obj, torch.nn.Module) for p in obj.parameters()]


def _loaded(name: str):
    """The module ``name`` if something here imported it: the grader never imports a
    framework just to test a value's type."""
    return sys.modules.get(name)


def _grad_disabled() -> bool:
    torch = _loaded("torch")
    return torch is not None and not torch.is_grad_enabled()


def _load_transferred(transfers: list, states, kernel: StudentKernel) -> None:
    """Copy into the grader's ``transfers`` what the student code did to their copies:
    parameters, gradients, ``requires_grad``, buffers, train/eval modes, optimizer state,
    modules it put in (rebuilt here), Keras weights and ``trainable`` flags."""
    if type(states) is not list or len(states) != len(transfers):
        raise StudentKernelError("the student kernel did not report the objects it was given")
    torch, keras = _loaded("torch"), _loaded("keras")
    for obj, state in zip(transfers, states):
        if type(state) is not dict:
            raise StudentKernelError("malformed state of a transferred object")
        if keras is not None and isinstance(obj, keras.layers.Layer):
            layers, flags = list(obj._flatten_layers()), state.get("trainable")
            if type(flags) is not list or len(flags) != len(layers) \
                    or type(state.get("keras_weights")) is not list:
                raise StudentKernelError("the code changed the layers of the Keras model "
                                         "passed in by the test")
            for layer, flag in zip(layers, flags):
                layer.trainable = flag is True
            if len(state["keras_weights"]) != len(obj.weights):
                raise StudentKernelError("the Keras model passed in changed its weights")
            _assign_keras_weights(obj, state["keras_weights"])
            continue
        if torch is None or not isinstance(obj, (torch.nn.Module, torch.optim.Optimizer)):
            continue  # a library function run there
        if isinstance(obj, torch.optim.Optimizer):
            obj.load_state_dict(state.get("optimizer"))
            continue
        new_modules = state.get("new_modules")
        if type(new_modules) is not dict:
            raise StudentKernelError("malformed state of a transferred module")
        for path in sorted(new_modules, key=lambda p: (str(p).count("."), str(p))):
            parent_path, _, child = str(path).rpartition(".")
            if any(str(path).startswith(f"{other}.") for other in new_modules if other != path):
                continue  # inside a module put in whole
            parent = obj.get_submodule(parent_path) if parent_path else obj
            setattr(parent, child, rebuild_module(new_modules[path], kernel))
        params = dict(obj.named_parameters())
        fields = [state.get(key) for key in ("params", "grads", "requires_grad", "buffers",
                                             "training")]
        if any(type(field) is not dict for field in fields) or set(fields[0]) != set(params):
            raise StudentKernelError(
                f"the code changed which parameters the {type(obj).__name__} passed in by "
                "the test has (the test expects them changed in place, not replaced)")
        new_params, grads, requires_grad, buffers, training = fields
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(_same_shape(new_params[name], param, name))
                param.requires_grad_(requires_grad.get(name) is True)
                grad = grads.get(name)
                param.grad = None if grad is None else \
                    _same_shape(grad, param, f"{name}.grad").detach().to(param.dtype).clone()
            for name, buffer in obj.named_buffers():
                if buffers.get(name) is not None:
                    buffer.copy_(_same_shape(buffers[name], buffer, name))
        for name, module in obj.named_modules():
            if type(training.get(name)) is bool:
                module.training = training[name]


def _same_shape(value, like, name: str):
    if not _is_tensor(value) or tuple(value.shape) != tuple(like.shape):
        raise StudentKernelError(f"{name} changed shape or type in the student's code")
    return value


def _is_module(value) -> bool:
    torch = _loaded("torch")
    return torch is not None and isinstance(value, torch.nn.Module)
