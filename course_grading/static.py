"""What a submission's code uses, read from its source in the grader: a check no cell can undo.

Some parts of the exercises must be computed by the student's own numpy code: no automatic
differentiation (``torch``, ``tensorflow``), no ready-made copy of the answer
(``course_lib.layers``, ``scipy.special.expit``). In the student's own notebook
``course_grading.testing.forbid_calls`` switches those functions off while a test runs; during
grading the student's code runs in another process, so the grader reads the source instead:

- the **code a test reaches**: the definitions (functions, classes, assignments) of the names the
  test uses, and of every name they use in turn, in any cell that ran in the student kernel;
  plus every top-level statement that changes an attribute (``np.sum = ...``), which could
  change what that code does;
- in it, any reference to a forbidden module: an import, a global bound to it by any cell's
  import (the setup cell's ``import torch`` included), or a dotted path into it;
- and any dynamic lookup the reading cannot follow (``eval``, ``exec``, ``__import__``,
  ``importlib``, ``getattr`` with a computed name, ``globals()``, ``sys.modules``,
  ``__dict__`` ...): honest numpy answers need none of them.

Taught in: the instructor guide (grading security model).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

DYNAMIC_NAMES = frozenset({"eval", "exec", "compile", "__import__", "importlib", "globals",
                           "locals", "vars", "get_ipython", "__builtins__", "builtins"})
DYNAMIC_ATTRIBUTES = frozenset({"__dict__", "__globals__", "__builtins__", "__code__",
                                "__subclasses__", "__getattribute__", "__import__",
                                "modules", "f_globals", "f_locals", "f_back"})


@dataclass(frozen=True)
class Use:
    """One forbidden use: where it is and what it refers to."""

    cell: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.what} (cell {self.cell}, line {self.line})"


def python_source(source: str) -> str:
    """A notebook cell's source as plain Python (IPython magics turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _parse(source: str):
    try:
        return ast.parse(python_source(source))
    except SyntaxError:
        return None


def _module_bindings(trees) -> dict[str, str]:
    """Global name -> the dotted module path an import bound it to, over every cell."""
    bound: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        bound[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def _definitions(cells) -> dict[str, list[tuple[str, ast.AST]]]:
    """Name -> the top-level statements that define it (def, class, assignment)."""
    found: dict[str, list[tuple[str, ast.AST]]] = {}
    for cell_id, tree in cells:
        for node in tree.body:
            names = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
            for name in names:
                found.setdefault(name, []).append((cell_id, node))
    return found


def _patches(cells) -> list[tuple[str, ast.AST]]:
    """Top-level statements that assign to an attribute or call setattr (monkeypatching)."""
    found = []
    for cell_id, tree in cells:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue  # runs only when called: reached through its name, if at all
            if any(isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
                   for n in ast.walk(node)) or any(
                    isinstance(n, ast.Name) and n.id == "setattr" for n in ast.walk(node)):
                found.append((cell_id, node))
    return found


def reachable(cells, roots) -> list[tuple[str, ast.AST]]:
    """The statements of ``cells`` (``[(cell_id, source)]``) that the names ``roots`` reach."""
    parsed = [(cell_id, tree) for cell_id, source in cells
              if (tree := _parse(source)) is not None]
    definitions = _definitions(parsed)
    todo, seen, statements = list(roots), set(), list(_patches(parsed))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for cell_id, node in definitions.get(name, []):
            statements.append((cell_id, node))
            todo += sorted(_free_names(node))
    return statements


def _free_names(node: ast.AST) -> set[str]:
    """Names a statement reads from the global scope (not its own arguments and locals)."""
    loaded, local = set(), set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            (loaded if isinstance(child.ctx, ast.Load) else local).add(child.id)
        elif isinstance(child, ast.arg):
            local.add(child.arg)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return loaded - local  # a global read before any local binding is rare in answers
    return loaded


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _inside(path: str, modules) -> str | None:
    for module in modules:
        if path == module or path.startswith(module + "."):
            return module
    return None


def forbidden_uses(cells, roots, modules) -> list[Use]:
    """Uses of ``modules`` (dotted names) and of dynamic lookups in the code ``roots`` reach.

    Args:
        cells: ``[(cell_id, source)]`` of every cell that ran in the student kernel.
        roots: the names a test uses (the student's functions and classes).
        modules: forbidden modules, e.g. ``{"torch", "scipy.special", "course_lib.layers"}``.
    """
    trees = [tree for _, source in cells if (tree := _parse(source)) is not None]
    bindings = _module_bindings(trees)
    uses = []
    for cell_id, statement in reachable(cells, roots):
        for node in ast.walk(statement):
            what = _forbidden_node(node, bindings, modules)
            if what:
                uses.append(Use(cell_id, getattr(node, "lineno", 0), what))
    return sorted(set(uses), key=lambda use: (use.cell, use.line, use.what))


def _forbidden_node(node, bindings, modules) -> str | None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if _inside(alias.name, modules):
                return f"import {alias.name}"
    if isinstance(node, ast.ImportFrom) and node.module:
        for alias in node.names:
            if _inside(f"{node.module}.{alias.name}", modules) or _inside(node.module, modules):
                return f"from {node.module} import {alias.name}"
    if isinstance(node, ast.Attribute) and node.attr in DYNAMIC_ATTRIBUTES:
        return f"the dynamic lookup .{node.attr}"
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        if node.id in DYNAMIC_NAMES:
            return f"the dynamic lookup {node.id}"
        if node.id in bindings and _inside(bindings[node.id], modules):
            return f"{node.id} ({bindings[node.id]})"
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
        path = _dotted(node)
        if path:
            head, _, rest = path.partition(".")
            full = f"{bindings.get(head, head)}.{rest}" if rest else bindings.get(head, head)
            if head in bindings and _inside(full, modules):
                return full
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr") \
            and (len(node.args) < 2 or not isinstance(node.args[1], ast.Constant)):
        return f"{node.func.id} with a computed name"
    return None
