"""Helpers for exercise test cells: parts that must be the student's own numpy code.

A test cell writes, on both sides of the grading pipeline::

    with forbid_calls(*course_lib_copies("affine_backward", modules=["course_lib.layers"]),
                      *autodiff_targets(), namespace=globals()):
        dx, dw, db = affine_backward(dout, cache)

- **In the student's notebook** (the visible tests a student runs as a self-check) the
  functions named are switched off while the block runs, as before: calling one fails with a
  message that says what to do instead.
- **During grading** the student's code runs in another process
  (``course_grading.twoprocess``), so switching functions off here would change nothing there.
  Instead the block reads the submission's source (``course_grading.static``): if the code the
  test reaches refers to a forbidden module, or hides what it calls behind a dynamic lookup,
  the block raises ``AssertionError`` naming the line, before anything runs. The modules are
  also absent from the student's sandbox (``answer_modules`` in ``nbgrader_config.py``).

Targets are ``(owner, name)`` pairs: ``owner`` a module, a class, or a module's dotted name.

Taught in: the instructor guide (writing a test cell).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import sys
from pathlib import Path

from course_grading import static

AUTODIFF_MODULES = ("torch", "tensorflow", "keras", "jax")
_GRADING: dict = {}  # set by start_grading in the grader kernel only


def start_grading(sources_file: str | Path) -> None:
    """Grader kernel only: the submission's cells that ran in the student kernel
    (``[[cell_id, source], ...]`` as JSON), which :func:`forbid_calls` reads."""
    cells = json.loads(Path(sources_file).read_text())
    _GRADING["cells"] = tuple((str(cell_id), str(source)) for cell_id, source in cells)


def optional_module(name: str):
    """The module called ``name`` if it can be imported, else None."""
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - missing or removed in the sandbox: nothing to switch off
        return None


def course_lib_copies(*names: str, modules) -> list[tuple[str, str]]:
    """``(module, name)`` pairs for course_lib's own copies of a notebook's answers."""
    return [(module, name) for module in modules for name in names]


def autodiff_targets() -> list[tuple[object, str]]:
    """``(owner, name)`` pairs of the automatic-differentiation entry points."""
    targets: list[tuple[object, str]] = [("torch.autograd", "backward"),
                                         ("torch.autograd", "grad")]
    torch = sys.modules.get("torch")
    if torch is not None:
        targets.append((torch.Tensor, "backward"))
    tensorflow = sys.modules.get("tensorflow")  # only if some cell imported it
    if tensorflow is not None:
        targets.append((getattr(tensorflow, "GradientTape", None), "gradient"))
    return targets


def _module_of(owner) -> str | None:
    if owner is None:
        return None
    if isinstance(owner, str):
        name = owner
    elif isinstance(owner, type):
        name = owner.__module__
    else:
        name = getattr(owner, "__name__", None)
    if not name:
        return None
    top = name.split(".")[0]
    return top if top in AUTODIFF_MODULES else name


def forbidden_modules(targets) -> set[str]:
    """The modules whose use ``targets`` forbid (a framework as a whole for autodiff)."""
    modules = {_module_of(owner) for owner, _ in targets} - {None}
    if modules & set(AUTODIFF_MODULES):
        modules |= set(AUTODIFF_MODULES)
    return modules


@functools.lru_cache(maxsize=256)
def _forbidden_uses(cells, roots, modules):
    """The submission does not change while it is graded: read it once per question."""
    return static.forbidden_uses(cells, roots, modules)


def _refuse(*args, **kwargs):
    raise AssertionError(
        "this test switched off automatic differentiation (torch.autograd, "
        "Tensor.backward, tf.GradientTape) and the course's ready-made copies of the "
        "answer: compute it yourself with numpy")


@contextlib.contextmanager
def forbid_calls(*targets, namespace: dict):
    """Inside the block, the functions of ``targets`` may not be used (module docstring)."""
    if "cells" in _GRADING:
        # the student's names this test cell reads, itself or through the grader's helpers
        # (twoprocess.py); the helpers are the grader's, never the submission's copies
        injected = set(namespace.get("_injected", ()))
        roots = (set(namespace.get("_cell_roots", injected)) & injected) \
            | set(namespace.get("_student_roots", ()))
        uses = _forbidden_uses(_GRADING["cells"], frozenset(roots),
                               frozenset(forbidden_modules(targets)))
        if uses:
            raise AssertionError(
                "this part must be your own numpy code; the code it runs uses "
                + "; ".join(str(use) for use in uses[:5]))
        yield
        return
    with _switched_off(targets, namespace):
        yield


@contextlib.contextmanager
def _switched_off(targets, namespace: dict):
    """Replace each target (and its aliases in ``namespace``) by a function that fails."""
    saved = []
    for owner, name in targets:
        if isinstance(owner, str):
            owner = optional_module(owner)
        if owner is not None and hasattr(owner, name):
            saved.append((owner, name, getattr(owner, name)))
    originals = [function for _, _, function in saved]
    aliases = {key: value for key, value in namespace.items()
               if any(value is function for function in originals)}
    codes = [(function, function.__code__) for function in originals
             if hasattr(function, "__code__") and not function.__code__.co_freevars]
    try:
        for owner, name, _ in saved:
            setattr(owner, name, _refuse)
        namespace.update(dict.fromkeys(aliases, _refuse))
        for function, _ in codes:
            function.__code__ = _refuse.__code__
        yield
    finally:
        for function, original_code in codes:
            function.__code__ = original_code
        namespace.update(aliases)
        for owner, name, function in saved:
            setattr(owner, name, function)


def keras_block_model(function, input_shape, *args, **kwargs):
    """``keras.Model(inputs, function(inputs, *args, **kwargs))`` for a ``function`` that
    stacks layers on a Keras tensor (a block of Chapter 7), with ``inputs`` of
    ``input_shape`` (no batch axis).

    In two-process grading ``function`` is the student's: the model is built in the student
    kernel, next to it, and arrives here rebuilt from its configuration and weights
    (``course_grading.harness.rebuild_keras``), so the test runs it with its own Keras.
    """
    from course_grading import harness

    if type(function) is harness.Remote:
        return function._kernel.run(keras_block_model, function, input_shape, *args,
                                    **kwargs)
    import keras

    inputs = keras.Input(input_shape)
    outputs = function(inputs, *args, **kwargs)
    if not isinstance(outputs, keras.KerasTensor):
        raise AssertionError(
            f"{getattr(function, '__name__', 'the block')} must return the output tensor of "
            f"the block (a KerasTensor), got {type(outputs).__name__}")
    return keras.Model(inputs, outputs)
