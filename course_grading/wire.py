"""Data-only messages between the student kernel and the grader: nothing executes on load.

A value crosses from the student's side to the grader only as *data*: JSON for the structure
and ``.npy`` bytes (``allow_pickle=False``) for arrays and tensors. Decoding builds exact
built-in and numpy/torch types, never a class the sender chose, so a result that "equals
everything" (a custom ``__eq__``, ``__array__`` or ``__float__``, an ndarray subclass) arrives
as the plain numbers it converts to, or not at all. Anything that is not data (a model, a
generator) stays where it is and crosses as a *handle*: a number the grader can send back.

Format: ``{"v": <tree>, "blobs": [<base64 .npy>, ...]}`` where a tree node is a JSON scalar
(``null``, ``true``, a string) or a tagged object ``{"t": tag, ...}``:
``int`` ``float`` ``complex`` ``list`` ``tuple`` ``dict`` (key/value pairs) ``slice``
``ellipsis`` ``ndarray`` ``npscalar`` ``tensor`` ``dtype`` (numpy) ``torch_dtype`` ``type``
(``int``, ``float``, ``bool``, ``complex``, ``str``) ``handle`` ``error``.

This module has no dependencies beyond numpy (torch optional), so its source can be sent into
the student kernel as it is: see ``course_grading.harness``.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections import OrderedDict

import numpy as np

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a reply larger than this is refused, not parsed
MAX_DEPTH = 64
MAX_BASES = 32  # classes named in a handle's ``bases``
BUILTIN_SCALARS = (type(None), bool, str)
BUILTIN_TYPES = {t.__name__: t for t in (int, float, bool, complex, str)}


class WireError(ValueError):
    """A message that is not well-formed data (refused whole)."""


class Handle:
    """A reference to an object that stays on the other side (``id`` only).

    ``bases`` names the classes of the object's type, ``module.qualname`` each, most derived
    first, as the other side reports them (a claim, not a fact: used only to let
    ``isinstance`` recognise library classes, never to run anything).
    """

    def __init__(self, handle_id: int, type_name: str = "", *, callable_: bool = False,
                 iterator: bool = False, bases: tuple[str, ...] = ()):
        self.id, self.type_name, self.callable = int(handle_id), str(type_name), callable_
        self.iterator = iterator
        self.bases = tuple(str(base) for base in bases)[:MAX_BASES]

    def __repr__(self) -> str:
        return f"<remote {self.type_name or 'object'} #{self.id}>"


class RemoteError:
    """An exception raised on the other side, as its type name and message only."""

    def __init__(self, type_name: str, message: str):
        self.type_name, self.message = str(type_name), str(message)


def encode(value, *, handle_for=None) -> str:
    """``value`` as a JSON string; objects that are not data go through ``handle_for(obj)``
    (which returns a :class:`Handle`), or raise :class:`WireError` without it."""
    blobs: list[str] = []
    tree = _encode(value, blobs, handle_for, 0)
    return json.dumps({"v": tree, "blobs": blobs}, allow_nan=False)


def _encode(value, blobs, handle_for, depth):
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if type(value) in BUILTIN_SCALARS:
        return value
    if type(value) is int:
        return {"t": "int", "v": str(value)}
    if type(value) is float:
        return {"t": "float", "v": repr(value)}
    if type(value) is complex:
        return {"t": "complex", "v": [repr(value.real), repr(value.imag)]}
    if value is Ellipsis:
        return {"t": "ellipsis"}
    if type(value) is slice:
        return {"t": "slice", "v": [_encode(part, blobs, handle_for, depth + 1)
                                    for part in (value.start, value.stop, value.step)]}
    if type(value) is type and value in BUILTIN_TYPES.values():
        return {"t": "type", "v": value.__name__}
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)
                                       and value.__module__ == "numpy"):
        return {"t": "dtype", "v": np.dtype(value).str}
    if type(value).__module__ == "torch" and type(value).__name__ == "dtype":
        return {"t": "torch_dtype", "v": str(value).removeprefix("torch.")}
    if type(value) in (list, tuple) or _is_torch_size(value):  # torch.Size: a tuple
        items = [_encode(item, blobs, handle_for, depth + 1) for item in value]
        return {"t": "list" if type(value) is list else "tuple", "v": items}
    if type(value) is dict or _is_ordered_dict(value):  # a state_dict() is an OrderedDict
        return {"t": "dict", "v": [[_encode(k, blobs, handle_for, depth + 1),
                                    _encode(v, blobs, handle_for, depth + 1)]
                                   for k, v in value.items()]}
    if isinstance(value, Handle):
        return {"t": "handle", "id": value.id, "type": value.type_name,
                "callable": value.callable, "iterator": value.iterator,
                "bases": list(value.bases)}
    if isinstance(value, RemoteError):
        return {"t": "error", "type": value.type_name, "message": value.message}
    is_numpy_scalar = isinstance(value, np.generic) and type(value).__module__ == "numpy"
    if type(value) is np.ndarray or is_numpy_scalar:
        tag = "ndarray" if type(value) is np.ndarray else "npscalar"
        return {"t": tag, "blob": _add_blob(np.asarray(value), blobs)}
    if _is_torch_tensor(value):
        array = value.detach().cpu().numpy()
        return {"t": "tensor", "blob": _add_blob(array, blobs),
                "requires_grad": bool(value.requires_grad)}
    if _is_tf_tensor(value):  # Keras 3 on TensorFlow returns these
        return {"t": "tftensor", "blob": _add_blob(np.asarray(value.numpy()), blobs)}
    if handle_for is None:
        raise WireError(f"{type(value).__name__} is not data and no handle can be made")
    return _encode(handle_for(value), blobs, handle_for, depth)


def _is_tf_tensor(value) -> bool:
    return type(value).__module__.startswith("tensorflow") \
        and type(value).__name__ == "EagerTensor"


def _is_torch_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and type(value).__name__ in (
        "Tensor", "Parameter")


def _add_blob(array: np.ndarray, blobs: list[str]) -> int:
    if array.dtype.hasobject:
        raise WireError("arrays of Python objects are not data")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    blobs.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return len(blobs) - 1


def decode(message: str | bytes):
    """The value of a message made by :func:`encode`; :class:`WireError` if malformed.

    Only exact built-in types, ``numpy.ndarray``/numpy scalars, ``torch.Tensor`` (if torch is
    importable), :class:`Handle` and :class:`RemoteError` come out.
    """
    if len(message) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(message)} bytes is over the {MAX_MESSAGE_BYTES} limit")
    try:
        document = json.loads(message)
    except (ValueError, RecursionError) as error:
        raise WireError(f"not JSON: {error}") from None
    if type(document) is not dict or set(document) != {"v", "blobs"} \
            or type(document["blobs"]) is not list:
        raise WireError("a message is {'v': ..., 'blobs': [...]}")
    try:
        return _decode(document["v"], document["blobs"], 0)
    except WireError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as error:
        raise WireError(f"malformed message: {type(error).__name__}: {error}") from None


def _decode(node, blobs, depth):
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if node is None or type(node) in (bool, str):
        return node
    if type(node) is not dict or type(node.get("t")) is not str:
        raise WireError(f"unexpected node {str(node)[:80]!r}")
    tag = node["t"]
    if tag == "int":
        return int(_string(node["v"]))
    if tag == "float":
        return _float(_string(node["v"]))
    if tag == "complex":
        real, imag = _list(node["v"])
        return complex(_float(_string(real)), _float(_string(imag)))
    if tag == "ellipsis":
        return Ellipsis
    if tag == "slice":
        parts = [_decode(part, blobs, depth + 1) for part in _list(node["v"])]
        if len(parts) != 3 or any(p is not None and type(p) is not int for p in parts):
            raise WireError("a slice is three ints or nulls")
        return slice(*parts)
    if tag == "type":
        return BUILTIN_TYPES[_string(node["v"])]
    if tag == "dtype":
        dtype = np.dtype(_string(node["v"]))
        if dtype.hasobject:
            raise WireError("object dtypes are not data")
        return dtype
    if tag == "torch_dtype":
        import torch

        dtype = getattr(torch, _string(node["v"]), None)
        if not isinstance(dtype, torch.dtype):
            raise WireError(f"unknown torch dtype {node['v']!r}")
        return dtype
    if tag in ("list", "tuple"):
        items = [_decode(item, blobs, depth + 1) for item in _list(node["v"])]
        return items if tag == "list" else tuple(items)
    if tag == "dict":
        pairs = [_list(pair) for pair in _list(node["v"])]
        if any(len(pair) != 2 for pair in pairs):
            raise WireError("a dict is a list of [key, value] pairs")
        return {_decode(k, blobs, depth + 1): _decode(v, blobs, depth + 1) for k, v in pairs}
    if tag in ("ndarray", "npscalar", "tensor", "tftensor"):
        array = _array(blobs, node.get("blob"))
        if tag == "ndarray":
            return array
        if tag == "tftensor":  # a TensorFlow tensor where TensorFlow is loaded, else numpy
            import sys

            tf = sys.modules.get("tensorflow")
            return array if tf is None else tf.constant(array)
        if tag == "npscalar":
            return array[()]
        import torch

        tensor = torch.from_numpy(array.copy())
        return tensor.requires_grad_(True) if node.get("requires_grad") is True \
            and tensor.is_floating_point() else tensor
    if tag == "handle":
        return Handle(int(node["id"]), _string(node.get("type", "")),
                      callable_=node.get("callable") is True,
                      iterator=node.get("iterator") is True,
                      bases=tuple(_string(base) for base in node.get("bases", [])
                                  if isinstance(base, str))[:MAX_BASES]
                      if isinstance(node.get("bases", []), list) else ())
    if tag == "error":
        return RemoteError(_string(node.get("type", "Exception")),
                           _string(node.get("message", "")))
    raise WireError(f"unknown tag {tag!r}")


def _string(value) -> str:
    if type(value) is not str:
        raise WireError("expected a string")
    return value


def _list(value) -> list:
    if type(value) is not list:
        raise WireError("expected a list")
    return value


def _float(text: str) -> float:
    value = float(text)  # repr of a float, 'nan', 'inf' or '-inf'
    if not (math.isfinite(value) or text in ("nan", "inf", "-inf")):
        raise WireError(f"bad float {text!r}")
    return value


def _array(blobs: list, index) -> np.ndarray:
    if type(index) is not int or not 0 <= index < len(blobs) or type(blobs[index]) is not str:
        raise WireError("bad blob reference")
    try:
        raw = base64.b64decode(blobs[index], validate=True)
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError) as error:
        raise WireError(f"blob is not a plain .npy array: {error}") from None


def _is_ordered_dict(value) -> bool:
    return type(value) is OrderedDict


def _is_torch_size(value) -> bool:
    return type(value).__module__ == "torch" and type(value).__name__ == "Size"
