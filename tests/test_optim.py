"""course_lib.optim: every numpy rule matches torch.optim step for step and never mutates."""

import numpy as np
import pytest
import torch

from course_lib import optim

NUM_STEPS = 100
SHAPE = (4, 3)

# (numpy rule, its keywords, torch optimizer class, the same settings in torch's names)
CASES = {
    "sgd": (optim.sgd, {"lr": 0.1}, torch.optim.SGD, {"lr": 0.1}),
    "momentum-default": (optim.momentum, {"lr": 0.05}, torch.optim.SGD,
                         {"lr": 0.05, "momentum": 0.9}),
    "momentum-beta": (optim.momentum, {"lr": 0.02, "beta": 0.5}, torch.optim.SGD,
                      {"lr": 0.02, "momentum": 0.5}),
    "nesterov-default": (optim.momentum, {"lr": 0.05, "nesterov": True}, torch.optim.SGD,
                         {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    "nesterov-beta": (optim.momentum, {"lr": 0.01, "beta": 0.99, "nesterov": True},
                      torch.optim.SGD, {"lr": 0.01, "momentum": 0.99, "nesterov": True}),
    "adagrad-default": (optim.adagrad, {"lr": 0.1}, torch.optim.Adagrad, {"lr": 0.1}),
    "adagrad-keras-like": (
        optim.adagrad, {"lr": 0.3, "eps": 1e-3, "initial_accumulator_value": 0.1},
        torch.optim.Adagrad, {"lr": 0.3, "eps": 1e-3, "initial_accumulator_value": 0.1},
    ),
    "rmsprop-default": (optim.rmsprop, {"lr": 0.01}, torch.optim.RMSprop, {"lr": 0.01}),
    "rmsprop-rho": (optim.rmsprop, {"lr": 0.003, "rho": 0.9, "eps": 1e-3}, torch.optim.RMSprop,
                    {"lr": 0.003, "alpha": 0.9, "eps": 1e-3}),
    "adam-default": (optim.adam, {"lr": 0.001}, torch.optim.Adam, {"lr": 0.001}),
    "adam-betas": (optim.adam, {"lr": 0.02, "beta1": 0.5, "beta2": 0.9, "eps": 1e-3},
                   torch.optim.Adam, {"lr": 0.02, "betas": (0.5, 0.9), "eps": 1e-3}),
    "adamw-default": (optim.adamw, {"lr": 0.001}, torch.optim.AdamW, {"lr": 0.001}),
    "adamw-decay": (optim.adamw, {"lr": 0.01, "beta2": 0.99, "weight_decay": 0.1},
                    torch.optim.AdamW, {"lr": 0.01, "betas": (0.9, 0.99), "weight_decay": 0.1}),
}
RULES = [optim.sgd, optim.momentum, optim.adagrad, optim.rmsprop, optim.adam, optim.adamw]


@pytest.fixture(scope="module", autouse=True)
def _warm_up_torch_optim():
    """torch.optim's first step loads lazily (about 2 s); pay it once, outside the tests."""
    parameter = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    parameter.grad = torch.ones(1, dtype=torch.float64)
    torch.optim.SGD([parameter], lr=0.1).step()


def _numpy_path(rule, w, gradients, **hyper):
    state, path = None, []
    for dw in gradients:
        w, state = rule(w, dw, state, **hyper)
        path.append(w)
    return np.stack(path)


def _torch_path(optimizer_class, w, gradients, **hyper):
    parameter = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_class([parameter], **hyper)
    path = []
    for dw in gradients:
        parameter.grad = torch.tensor(dw, dtype=torch.float64)
        optimizer.step()
        path.append(parameter.detach().numpy().copy())
    return np.stack(path)


@pytest.mark.parametrize("case", CASES)
def test_rule_matches_torch_optim_for_100_steps(case, rng):
    rule, hyper, optimizer_class, torch_hyper = CASES[case]
    w = rng.normal(size=SHAPE)
    gradients = rng.normal(size=(NUM_STEPS, *SHAPE)) * rng.uniform(0.01, 10, size=(NUM_STEPS, 1, 1))
    ours = _numpy_path(rule, w, gradients, **hyper)
    theirs = _torch_path(optimizer_class, w, gradients, **torch_hyper)
    assert np.max(np.abs(ours - theirs)) < 1e-6


@pytest.mark.parametrize("case", CASES)
def test_rule_mutates_neither_inputs_nor_state(case, rng):
    rule, hyper, _, _ = CASES[case]
    w, dw = rng.normal(size=SHAPE), rng.normal(size=SHAPE)
    _, state = rule(w, dw, None, **hyper)
    state_copy = {key: np.array(value, copy=True) for key, value in state.items()}
    w_copy, dw_copy = w.copy(), dw.copy()
    w_next, new_state = rule(w, dw, state, **hyper)
    assert np.array_equal(w, w_copy) and np.array_equal(dw, dw_copy)
    assert set(state) == set(state_copy)
    assert all(np.array_equal(state[key], state_copy[key]) for key in state)
    assert w_next is not w and new_state is not state
    assert all(new_state[key] is not state[key] for key in new_state)


@pytest.mark.parametrize("rule", RULES)
def test_rule_returns_new_array_and_dict_of_arrays(rule, rng):
    w, dw = rng.normal(size=(5,)), rng.normal(size=(5,))
    w_next, state = rule(w, dw, None, lr=0.1)
    assert isinstance(w_next, np.ndarray) and w_next.shape == w.shape
    assert w_next.dtype == np.float64
    assert isinstance(state, dict)
    assert all(isinstance(value, np.ndarray) for value in state.values())
    # the state must not alias the gradient: changing dw afterwards must not change it
    before = {key: value.copy() for key, value in state.items()}
    dw[:] = 123.0
    assert all(np.array_equal(state[key], before[key]) for key in state)


@pytest.mark.parametrize("rule", RULES)
def test_zero_learning_rate_keeps_weights(rule, rng):
    w, dw = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    w_next, _ = rule(w, dw, None, lr=0.0)
    assert np.array_equal(w_next, w)


def test_adam_first_step_has_length_lr_per_coordinate(rng):
    # bias correction makes m_hat / sqrt(v_hat) = sign(dw) on the first step
    w, dw = rng.normal(size=10), rng.normal(size=10) * 1e3
    w_next, state = optim.adam(w, dw, None, lr=0.01)
    assert np.allclose(w - w_next, 0.01 * np.sign(dw), rtol=1e-6)
    assert int(state["step"]) == 1


def test_adagrad_step_shrinks_like_one_over_sqrt_t():
    w, state, steps = np.zeros(1), None, []
    for _ in range(100):
        w_next, state = optim.adagrad(w, np.ones(1), state, lr=1.0)
        steps.append(float(w[0] - w_next[0]))
        w = w_next
    assert np.allclose(steps, 1 / np.sqrt(np.arange(1, 101)), rtol=1e-8)


def test_momentum_velocity_tends_to_gradient_over_one_minus_beta():
    w, state = np.zeros(1), None
    for _ in range(300):
        w, state = optim.momentum(w, np.ones(1), state, lr=0.1, beta=0.9)
    assert state["velocity"][0] == pytest.approx(10.0, rel=1e-6)


def test_integer_weights_are_promoted_to_float():
    w_next, _ = optim.sgd(np.array([1, 2]), np.array([1, 1]), None, lr=0.5)
    assert w_next.dtype.kind == "f" and np.allclose(w_next, [0.5, 1.5])


@pytest.mark.parametrize("rule", RULES)
def test_bad_inputs_raise_clear_errors(rule):
    w = np.zeros(3)
    with pytest.raises(ValueError, match="same shape"):
        rule(w, np.zeros(4), None, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        rule(w, w, None, lr=-0.1)
    with pytest.raises(TypeError, match="state"):
        rule(w, w, [1.0], lr=0.1)
    with pytest.raises(TypeError, match="numeric"):
        rule(np.array(["a", "b", "c"]), w, None, lr=0.1)


@pytest.mark.parametrize("rule", [optim.momentum, optim.adagrad, optim.rmsprop, optim.adam])
def test_state_from_another_rule_is_rejected(rule):
    w = np.zeros(3)
    with pytest.raises(ValueError, match="state lacks"):
        rule(w, w, {"unrelated": w}, lr=0.1)


@pytest.mark.parametrize(("rule", "name"), [(optim.momentum, "beta"), (optim.rmsprop, "rho"),
                                            (optim.adam, "beta1"), (optim.adam, "beta2")])
def test_decay_outside_zero_one_is_rejected(rule, name):
    with pytest.raises(ValueError, match=name):
        rule(np.zeros(2), np.zeros(2), None, lr=0.1, **{name: 1.0})
