"""The student side of the grading channel: source sent into the student kernel, never
imported by the grader.

``harness.StudentKernel.install`` reads this file and runs it in the student kernel, after
``course_grading.wire`` (installed there as the module ``course_grading_wire``).
``_course_start_server`` answers the grader's requests on a unix socket from a thread of its
own; ``_course_interrupt`` stops a request that ran past its time. Everything the grader gets
back is data (``wire``) or a handle to an object that stays here. The type names and the
``__course_*__`` keys below are the ones ``harness`` uses (``CALLBACK``, ``TRANSFER``,
``SHARED_TENSOR`` ...): the student kernel has no access to the grader's module, so they are
written out.

Student code may break these functions; then its own answers fail, nothing else.
"""

def _course_start_server(socket_path):
    import os, socket, sys, threading
    from IPython import get_ipython
    from course_grading_wire import Handle, RemoteError, decode, encode
    namespace, handles = get_ipython().user_ns, {}
    internals = {"_parameters", "_buffers", "_modules", "_non_persistent_buffers_set",
                 "training"}

    def module_spec(obj, depth=0):
        # a torch module whose every class is a library's: its classes, data attributes,
        # parameters and buffers (the grader rebuilds it with its own library code)
        torch = sys.modules.get("torch")
        if torch is None or not isinstance(obj, torch.nn.Module) or depth > 32:
            return None
        kind = type(obj)
        if not kind.__module__.startswith(("torch.nn.modules.", "torchvision.")):
            return None
        attrs = {}
        for key, value in vars(obj).items():
            if key in internals or key.startswith("__") or key.endswith("_hooks") \
                    or key.endswith("_hooks_with_kwargs") or key.endswith("_hooks_always_called"):
                continue
            try:
                encode(value)
            except Exception:
                return None
            attrs[key] = value
        children = {}
        for name, child in obj._modules.items():
            children[name] = None if child is None else module_spec(child, depth + 1)
            if child is not None and children[name] is None:
                return None
        return {"class": kind.__module__ + "." + kind.__qualname__, "attrs": attrs,
                "training": obj.training,
                "params": {k: mark(v) for k, v in obj._parameters.items()},
                "buffers": {k: mark(v) for k, v in obj._buffers.items()},
                "non_persistent": sorted(obj._non_persistent_buffers_set),
                "children": children}

    def keras_spec(obj):
        keras = sys.modules.get("keras")
        if keras is None or not isinstance(obj, keras.Model):
            return None
        try:
            config = keras.saving.serialize_keras_object(obj)
            encode(config)
            return {"config": config, "weights": [w.numpy() for w in obj.weights]}
        except Exception:
            return None

    def mark(value):
        # a parameter (or a module's buffer) the grader may change in place: sent with a
        # handle, so that the grader's changes can be copied back before its next request
        torch = sys.modules.get("torch")
        if torch is None or not isinstance(value, torch.Tensor):
            return value
        handles[id(value)] = value
        return {"__course_shared_tensor__": [
            Handle(id(value), "Tensor"), value.detach(),
            isinstance(value, torch.nn.Parameter), bool(value.requires_grad)]}

    def marked(value, owner=None):
        torch = sys.modules.get("torch")
        if torch is None:
            return value
        if type(value) in (list, tuple):
            return type(value)(marked(v) for v in value)
        if type(value) is dict:
            return {k: marked(v) for k, v in value.items()}
        if isinstance(value, torch.nn.Parameter) or (
                owner is not None and isinstance(value, torch.Tensor)
                and any(value is b for b in owner._buffers.values())):
            return mark(value)
        return value

    def handle_for(obj):
        spec = module_spec(obj)
        if spec is not None:  # a module made of library classes only: sent as data
            return {"__course_module_spec__": spec}
        spec = keras_spec(obj)
        if spec is not None:  # a Keras model: its configuration and weights
            return {"__course_keras_spec__": spec}
        handles[id(obj)] = obj
        return Handle(id(obj), type(obj).__qualname__, callable_=callable(obj),
                      iterator=hasattr(type(obj), "__next__"),
                      bases=[f"{k.__module__}.{k.__qualname__}" for k in type(obj).__mro__])

    def send(stream, text):
        data = text.encode()
        stream.write(b"%d\n" % len(data) + data)
        stream.flush()

    def receive(stream):
        header = stream.readline()
        if not header:
            raise EOFError("the grader closed the channel")
        return stream.read(int(header))

    def serve(stream):
        def ask(handle, op, **fields):
            send(stream, encode({"callback": handle, "op": op, **fields},
                                handle_for=handle_for))
            reply = decode(receive(stream))
            if "error" in reply:
                import builtins
                kind = getattr(builtins, reply["error"].type_name, None)
                if not (isinstance(kind, type) and issubclass(kind, Exception)):
                    kind = RuntimeError
                raise kind(reply["error"].message)
            return resolve(reply["ok"])

        class GraderObject:
            # a function or object of the grader's, passed in by a test: uses go back there
            def __init__(self, handle):
                object.__setattr__(self, "_handle", handle)
            def __call__(self, *args, **kwargs):
                return ask(self._handle, "call", args=list(args), kwargs=kwargs)
            def __getattr__(self, name):
                if name.startswith("__"):
                    raise AttributeError(name)
                return ask(self._handle, "getattr", name=name)
            def __repr__(self):
                return "<grader object>"

        transferred = []  # the grader's modules and optimizers, copied in for this call

        def resolve(value):
            if isinstance(value, Handle):
                if value.type_name == "<grader callback>":
                    return GraderObject(value)
                if value.type_name == "<grader transfer>":
                    return transferred[value.id]
                return handles[value.id]
            if type(value) in (list, tuple):
                return type(value)(resolve(v) for v in value)
            if type(value) is dict:
                return {k: resolve(v) for k, v in value.items()}
            return value

        def state_of(obj, known):
            # what the call did to a transferred module, optimizer or Keras model, as data
            torch, keras = sys.modules.get("torch"), sys.modules.get("keras")
            if keras is not None and isinstance(obj, keras.layers.Layer):
                return {"keras_weights": [w.numpy() for w in obj.weights],
                        "trainable": [layer.trainable for layer in obj._flatten_layers()]}
            if torch is None or not isinstance(obj, (torch.nn.Module, torch.optim.Optimizer)):
                return {}  # a function of the grader's library
            if not isinstance(obj, torch.nn.Module):
                return {"optimizer": obj.state_dict()}
            params = dict(obj.named_parameters())
            new = {}  # modules the call put in (a new head): their descriptions
            for name, module in obj.named_modules():
                if name and id(module) not in known:
                    spec = module_spec(module)
                    if spec is None:
                        raise TypeError(f"{name} is not made of torch.nn modules only")
                    new[name] = spec
            return {"new_modules": new,
                    "params": {k: p.detach() for k, p in params.items()},
                    "grads": {k: p.grad for k, p in params.items()},
                    "requires_grad": {k: p.requires_grad for k, p in params.items()},
                    "buffers": dict(obj.named_buffers()),
                    "training": {k: m.training for k, m in obj.named_modules()}}

        def references(value, params):
            # transferred objects and their parameters in a result: the grader's originals
            if type(value) in (list, tuple):
                return type(value)(references(v, params) for v in value)
            if type(value) is dict:
                return {k: references(v, params) for k, v in value.items()}
            for index, obj in enumerate(transferred):
                if value is obj:
                    return Handle(index, "<transferred object>")
            for index, param in enumerate(params):
                if value is param:
                    return Handle(index, "<transferred parameter>")
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

        while True:
            try:
                request = decode(receive(stream))
                transferred[:] = []
                known, rng = set(), None
                if type(request) is dict and "transfer" in request:
                    import base64, pickle  # the grader's own objects, pickled by the grader
                    transferred[:] = pickle.loads(base64.b64decode(request.pop("transfer")))
                    torch = sys.modules.get("torch")
                    known = {id(m) for obj in transferred if torch is not None
                             and isinstance(obj, torch.nn.Module) for m in obj.modules()}
                    rng = request.pop("torch_rng", None)
                    if rng is not None:  # the grader's random stream goes on here
                        torch.set_rng_state(rng)
                request = resolve(request)
                op, target, after = request["op"], request.get("target"), None
                if op == "describe":
                    result = describe(target)
                elif op == "call":
                    if request.get("no_grad"):  # the test called it under torch.no_grad()
                        import torch
                        with torch.no_grad():
                            result = target(*request["args"], **request["kwargs"])
                    else:
                        result = target(*request["args"], **request["kwargs"])
                    after = [request["args"], request["kwargs"]]  # as the call left them
                elif op == "getattr":
                    result = getattr(target, request["name"])
                    torch = sys.modules.get("torch")
                    if torch is not None and isinstance(target, torch.nn.Module):
                        result = marked(result, owner=target)
                elif op == "sync":  # the grader changed shared tensors in place
                    import torch
                    with torch.no_grad():
                        for tensor, value in request["values"]:
                            tensor.copy_(value)
                    result = None
                elif op == "getitem":
                    result = target[request["key"]]
                elif op == "len":
                    result = len(target)
                elif op == "iter":
                    result = iter(target)
                elif op == "next":
                    result = marked(next(target))
                else:
                    raise ValueError("unknown request " + repr(op))
                extra = {}
                if transferred:
                    import torch
                    params = [p for obj in transferred if isinstance(obj, torch.nn.Module)
                              for p in obj.parameters()]
                    result = references(result, params)
                    extra["transferred"] = [state_of(obj, known) for obj in transferred]
                    if rng is not None:
                        extra["torch_rng"] = torch.get_rng_state()
                if op in ("call", "getitem"):
                    result = marked(result)
                reply = encode({"ok": result, "after": after, **extra},
                               handle_for=handle_for)
            except EOFError:
                return
            except BaseException as error:
                reply = encode({"error": RemoteError(type(error).__name__, str(error))})
            send(stream, reply)

    def accept_forever(server):
        while True:
            connection, _ = server.accept()
            try:
                serve(connection.makefile("rwb"))
            except BaseException:
                pass
            finally:
                connection.close()

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path)
    server.listen(1)
    thread = threading.Thread(target=accept_forever, args=(server,), daemon=True,
                              name="course-grading-channel")
    thread.start()
    return thread


def _course_interrupt(thread):
    import ctypes
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                               ctypes.py_object(KeyboardInterrupt))
