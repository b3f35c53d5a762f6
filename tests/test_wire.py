"""Data-only messages (course_grading.wire): round trips, and nothing but data comes out."""

import base64
import io
import json

import numpy as np
import pytest
import torch

from course_grading.wire import Handle, RemoteError, WireError, decode, encode


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2**80, 1.5, float("inf"), "text", [1, [2.0, "x"]], (1, (2,)),
    {"a": 1, 2: [3], (1, 2): None}, np.float32(1.25), np.int64(3), 1 + 2j, Ellipsis,
    slice(1, None, 2), float, int, np.dtype("float32"), torch.float64,
])
def test_plain_data_round_trips_with_its_exact_type(value):
    back = decode(encode(value))
    assert back == value and type(back) is type(value)


def test_numpy_scalar_types_cross_as_dtypes():
    assert decode(encode(np.float32)) == np.dtype("float32")
    assert decode(encode([np.int64, np.dtype("<u2")])) == [np.dtype("int64"), np.dtype("<u2")]


def test_nan_round_trips():
    assert np.isnan(decode(encode(float("nan"))))


@pytest.mark.parametrize("array", [
    np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros((0, 4)), np.array(3.0),
    np.array([True, False]), np.arange(5, dtype=np.int8)[::2],
])
def test_arrays_keep_dtype_shape_and_values(array):
    back = decode(encode(array))
    assert type(back) is np.ndarray and back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_tensors_come_back_as_real_tensors():
    tensor = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    back = decode(encode(tensor))
    assert type(back) is torch.Tensor and back.dtype == torch.float64 and back.requires_grad
    torch.testing.assert_close(back, tensor.detach())


def test_objects_that_claim_equality_never_cross_as_themselves():
    class Sneaky(np.ndarray):
        def __eq__(self, other):
            return True

    class AlwaysEqual:
        def __eq__(self, other):
            return True

    with pytest.raises(WireError, match="not data"):
        encode(AlwaysEqual())
    handles = []
    back = decode(encode(AlwaysEqual(), handle_for=lambda o: handles.append(o) or Handle(7, "X")))
    assert isinstance(back, Handle) and back.id == 7 and handles
    sneaky = np.zeros(3).view(Sneaky)
    assert type(decode(encode(sneaky, handle_for=lambda o: Handle(1)))) is Handle


def test_errors_cross_as_type_name_and_message():
    back = decode(encode(RemoteError("ValueError", "bad shape")))
    assert isinstance(back, RemoteError) and (back.type_name, back.message) == (
        "ValueError", "bad shape")


def _message(tree, blobs=()):
    return json.dumps({"v": tree, "blobs": list(blobs)})


@pytest.mark.parametrize("message", [
    "not json", "[]", _message({"t": "pickle", "v": "x"}), _message({"t": "int", "v": 3}),
    _message({"t": "int", "v": "9" * 10_000}), _message({"t": "ndarray", "blob": 0}),
    _message({"t": "dict", "v": [[{"t": "list", "v": []}, 1]]}),
    _message({"t": "float", "v": "1e999"}), _message([1, 2]),
    _message({"t": "type", "v": "object"}), _message({"t": "dtype", "v": "O"}),
    _message({"t": "torch_dtype", "v": "nn"}), _message({"t": "slice", "v": [1, 2]}),
    '{"v": ' + '{"t": "list", "v": [' * 200 + ']}' * 200 + ', "blobs": []}',
])
def test_malformed_messages_are_refused(message):
    with pytest.raises(WireError):
        decode(message)


def test_a_pickled_blob_is_refused_and_never_unpickled():
    class Boom:
        def __reduce__(self):
            return (print, ("unpickled!",))

    raw = io.BytesIO()
    np.save(raw, np.array([Boom()], dtype=object), allow_pickle=True)
    blob = base64.b64encode(raw.getvalue()).decode()
    with pytest.raises(WireError, match="plain .npy"):
        decode(_message({"t": "ndarray", "blob": 0}, [blob]))
    with pytest.raises(WireError, match="not a plain|not data"):
        encode(np.array([object()], dtype=object))


def test_oversized_messages_are_refused_before_parsing(monkeypatch):
    monkeypatch.setattr("course_grading.wire.MAX_MESSAGE_BYTES", 100)
    with pytest.raises(WireError, match="limit"):
        decode(encode(list(range(100))))
