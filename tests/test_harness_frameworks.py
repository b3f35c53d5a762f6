"""PyTorch objects across the grading channel (course_grading.harness), against a real
sandboxed student kernel: what lets Chapters 4, 5, 7 and 8 grade in two processes.

- a student module made only of library classes arrives as a real module, rebuilt here;
- a student module of the student's own class stays a proxy, but ``isinstance(m, nn.Module)``
  holds and its parameters arrive as tensors that stay in sync both ways;
- a grader model and optimizer passed to a student function are copied in, and what the
  student's code did to them is copied back;
- ``torch.no_grad()`` in the test applies to the student's call.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from course_grading import harness  # noqa: E402
from student_kernel import names, start_student  # noqa: E402

pytestmark = pytest.mark.slow

STUDENT_CODE = r'''
import torch
from torch import nn

class Block(nn.Module):
    def __init__(self, channels=3):
        super().__init__()
        self.branch = nn.Sequential(nn.Linear(channels, channels), nn.BatchNorm1d(channels))
    def forward(self, x):
        return torch.relu(x + self.branch(x))

def build_mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

def training_step(model, x, y, *, loss_fn, optimizer):
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()

def trainable(model):
    return [p for p in model.parameters() if p.requires_grad]

def forward(model, x):
    return model(x)
'''


@pytest.fixture(scope="module")
def student(grading_sized_kernel):
    return start_student(grading_sized_kernel, STUDENT_CODE, timeout=30)


def test_a_module_of_library_classes_arrives_as_a_real_module(student):
    model = names(student, "build_mlp")["build_mlp"]()
    assert type(model) is nn.Sequential and isinstance(model[0], nn.Linear)
    x = torch.randn(5, 4)
    with torch.no_grad():
        expected = model[2](torch.relu(model[0](x)))
        torch.testing.assert_close(model(x), expected)
    # the grader can train it with its own loop: a real graph on real parameters
    loss = model(x).sum()
    loss.backward()
    assert model[0].weight.grad is not None


def test_an_own_class_stays_a_proxy_that_isinstance_recognises(student):
    block = names(student, "Block")["Block"](3)
    assert type(block) is harness.Remote and isinstance(block, nn.Module)
    assert not isinstance(block, nn.Linear)
    assert all(isinstance(m, nn.Module) for m in block.modules())
    assert sum(p.numel() for p in block.parameters()) == 3 * 3 + 3 + 3 + 3


def test_parameters_changed_here_are_changed_there(student):
    block = names(student, "Block")["Block"](3)
    block.eval()
    with torch.no_grad():  # block.branch is rebuilt here, sharing the student's parameters
        for module in block.branch.modules():  # (and dropped before the forward below)
            if isinstance(module, nn.Linear):
                module.weight.zero_()
                module.bias.zero_()
            elif isinstance(module, nn.BatchNorm1d):
                module.bias.fill_(-0.5)
    x = torch.randn(4, 3)
    with torch.no_grad():
        got = block(x)
    torch.testing.assert_close(got, torch.relu(x - 0.5))
    with torch.no_grad():  # buffers too: eval-mode batch norm uses the running statistics
        for module in block.branch.modules():
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.fill_(1.0)
                module.running_var.fill_(4.0)
                module.bias.zero_()
        got = block(x)
    torch.testing.assert_close(got, torch.relu(x - 1.0 / (4.0 + 1e-5) ** 0.5))
    # the same student parameter arrives as the same tensor each time
    assert next(iter(block.parameters())) is next(iter(block.parameters()))


def test_no_grad_in_the_test_applies_to_the_students_call(student):
    block = names(student, "Block")["Block"](3)
    with torch.no_grad():
        out = block.eval()(torch.randn(2, 3))
    assert not out.requires_grad
    assert block.eval()(torch.randn(2, 3)).requires_grad


def test_a_grader_model_and_optimizer_come_back_trained(student):
    step = names(student, "training_step")["training_step"]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).eval()
    reference = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    reference.load_state_dict(model.state_dict())
    optimizers = [torch.optim.Adam(m.parameters(), lr=0.1) for m in (model, reference)]
    x, y = torch.randn(6, 3), torch.tensor([0, 1, 0, 1, 1, 0])
    for _ in range(2):
        loss = step(model, x, y, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizers[0])
        reference.train()
        optimizers[1].zero_grad()
        expected = nn.CrossEntropyLoss()(reference(x), y)
        expected.backward()
        optimizers[1].step()
        assert loss == pytest.approx(expected.item(), rel=1e-6)
    assert model.training  # the student's model.train() came back
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)
        torch.testing.assert_close(p.grad, q.grad)
    torch.testing.assert_close(model[1].running_mean, reference[1].running_mean)
    assert optimizers[0].state_dict()["state"][0]["step"] == 2


def test_parameters_of_a_grader_model_come_back_as_the_same_objects(student):
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    model[0].requires_grad_(False)
    got = names(student, "trainable")["trainable"](model)
    assert len(got) == 2 and all(any(p is q for q in model[1].parameters()) for p in got)


def test_a_module_the_test_defines_stays_a_callback(student):
    class Doubler(nn.Module):  # not importable in the student kernel
        def forward(self, x):
            return 2 * x

    assert not harness._transferable(Doubler())
    out = names(student, "forward")["forward"](Doubler(), torch.ones(2))
    torch.testing.assert_close(out, torch.full((2,), 2.0))


KERAS_STUDENT_CODE = r'''
import keras

def build_keras():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden))

def freeze_hidden(model):
    model.get_layer("hidden").trainable = False
    return model

def block(x, units):
    return keras.layers.Dense(units)(x)

def replace_head(model, classes):
    model.head = nn.Linear(model.head.in_features, classes)
    return model

def noisy(model, x):
    return torch.nn.functional.dropout(x, 0.5, training=True)
'''


@pytest.fixture(scope="module")
def keras_student(student):
    pytest.importorskip("keras")
    student._execute(KERAS_STUDENT_CODE, timeout=120)
    return student


def test_a_student_keras_model_arrives_rebuilt_with_its_weights(keras_student):
    import keras
    import numpy as np

    model = names(keras_student, "build_keras")["build_keras"]()
    assert isinstance(model, keras.Model) and type(model) is not harness.Remote
    x = np.random.default_rng(0).random((3, 4)).astype("float32")
    hidden, head = (layer.get_weights() for layer in model.layers[1:])
    expected = np.maximum(x @ hidden[0] + hidden[1], 0) @ head[0] + head[1]
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-6)


def test_a_grader_keras_model_comes_back_changed_in_place(keras_student):
    import keras

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden))
    result = names(keras_student, "freeze_hidden")["freeze_hidden"](model)
    assert result is model and not model.get_layer("hidden").trainable
    assert len(model.trainable_weights) == 2


def test_a_keras_block_is_built_next_to_the_student_code(keras_student):
    from course_grading import testing

    model = testing.keras_block_model(names(keras_student, "block")["block"], (5,), 7)
    assert tuple(model.output.shape) == (None, 7) and model.count_params() == 5 * 7 + 7


def test_a_layer_the_student_code_puts_in_is_rebuilt_here(keras_student):
    model = nn.Sequential()
    model.body, model.head = nn.Linear(3, 4), nn.Linear(4, 2)
    result = names(keras_student, "replace_head")["replace_head"](model, 5)
    assert result is model and type(model.head) is nn.Linear
    assert tuple(model.head.weight.shape) == (5, 4)


def test_the_grader_random_stream_goes_on_in_the_student_call(keras_student):
    noisy = names(keras_student, "noisy")["noisy"]
    model = nn.Linear(2, 2)  # a grader module passed in: the random state travels with it
    torch.manual_seed(3)
    got = noisy(model, torch.ones(1000))
    after_call = torch.rand(3)
    torch.manual_seed(3)
    expected = torch.nn.functional.dropout(torch.ones(1000), 0.5, training=True)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(after_call, torch.rand(3))  # and comes back advanced


def test_module_descriptions_cannot_name_hooks_or_foreign_classes(student):
    spec = {"class": "torch.nn.modules.linear.Identity",
            "attrs": {"_forward_hooks": {1: 2}, "_parameters": 3},
            "params": {}, "buffers": {}, "children": {}, "training": True}
    rebuilt = harness.rebuild_module(spec, student)  # internals are never taken from data
    assert rebuilt._forward_hooks == {} and rebuilt._parameters == {}
    with pytest.raises(harness.StudentKernelError, match="bad attribute"):
        harness.rebuild_module({**spec, "attrs": {"__class__": 1}}, student)
    with pytest.raises(harness.StudentKernelError, match="cannot rebuild"):
        harness.rebuild_module({**spec, "attrs": {}, "class": "builtins.object"}, student)
    with pytest.raises(harness.StudentKernelError, match="cannot rebuild"):
        harness.rebuild_module({**spec, "attrs": {}, "class": "course_lib.blocks.SmallVGG"},
                               student)


def test_keras_descriptions_that_load_files_or_run_code_are_refused():
    for config in ({"class_name": "TFSMLayer", "config": {"filepath": "/x"}},
                   {"class_name": "Dense", "module": "os", "config": {}},
                   {"class_name": "Lambda", "module": "keras.layers", "config": {}}):
        with pytest.raises(harness.StudentKernelError):
            harness._check_keras_config({"config": {"layers": [config]}})
