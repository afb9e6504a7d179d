"""The import rules of issue 20 (Build 2), checked by reading the source: which part may import which, and no
import cycles.

Every ``.py`` file of the repository (outside ``.venv``, ``tests`` and hidden folders) is parsed with :mod:`ast`;
an import is every ``import``/``from ... import`` statement anywhere in the file (inside functions and
``if TYPE_CHECKING:`` blocks too) and every ``importlib.import_module("...")``/``__import__("...")`` call with a
literal name. ``from a.b import c`` is an edge to the module ``a.b.c`` when that is a module of the repository, else
to ``a.b``; ``import a.b.c`` is an edge to ``a.b.c`` (not to its parent packages). Imports of modules that are not
in the repository (torch, numpy, ...) are ignored.

The rules are data, to be extended:

* :data:`FORBIDDEN`: ``(importer prefix, forbidden prefix, reason)``: no module under the importer prefix may import
  a module under the forbidden prefix (:data:`OTHER_PARTS` = any repository module outside the importer prefix).
* :data:`CYCLE_SCOPES`: prefixes whose modules must not import each other through a chain (Tarjan's strongly
  connected components over the import graph restricted to the modules under these prefixes).
* :data:`NAME_RULES`: ``(package prefix, forbidden substrings, reason)``: identifiers (names, attributes, arguments,
  function/class names, imported aliases) and non-docstring string constants of the package's modules must not
  contain these substrings (case-insensitive).
"""
from __future__ import annotations

import ast
import sys
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Set, Tuple

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Folders (relative to the repository root) that hold no modules of the project.
SKIPPED_DIRS = {".venv", "tests", "downloads", "results", "node_modules", "__pycache__", "build", "dist"}

#: Sentinel for :data:`FORBIDDEN`: any repository module that is not under the importer prefix.
OTHER_PARTS = "<any other part>"

#: ``(importer prefix, forbidden prefix, reason)``.
_PRETRAINING = "pre-training (steve1/, goal_prior/) imports nothing of the high level (issue 20, Build 2)"
_PLUGINS = ("simulator plugins (tasks/<sim>/) use the pipeline's interfaces but import neither goal_prior/ nor the "
            "high level (issue 20, Build 2)")
FORBIDDEN: List[Tuple[str, str, str]] = [
    ("VPT", OTHER_PARTS, "VPT/ is the model and the action mapping: it imports no other part (issue 20, Build 2)"),
    *[(part, high, _PRETRAINING) for part in ("steve1", "goal_prior") for high in ("hierarchical", "sb3_vpt",
                                                                                    "ppo_highlevel")],
    *[("tasks", other, _PLUGINS) for other in ("goal_prior", "hierarchical", "sb3_vpt", "ppo_highlevel")],
]

#: Module prefixes inside which no two modules may import each other, directly or through a chain: every part.
CYCLE_SCOPES: Tuple[str, ...] = ("VPT", "steve1", "goal_prior", "hierarchical", "sb3_vpt", "tasks", "ppo_highlevel",
                                 "bench")

#: ``(package prefix, forbidden substrings, reason)`` for identifiers and non-docstring strings.
NAME_RULES: List[Tuple[str, Tuple[str, ...], str]] = [
    ("VPT", ("goal", "mineclip", "steve"),
     "VPT/ knows nothing of goals: conditioning is an extension point (MinecraftPolicy.condition, net_class)"),
]


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=1)
def repository_modules() -> Dict[str, Path]:
    """``{dotted module name: file}`` for every module of the repository (packages by their ``__init__.py``)."""
    modules = {}
    for path in sorted(REPO_ROOT.rglob("*.py")):
        rel = path.relative_to(REPO_ROOT).parts
        if any(part in SKIPPED_DIRS or part.startswith(".") for part in rel[:-1]):
            continue
        name = _module_name(path)
        if name:
            modules[name] = path
    return modules


def _resolve(name: str, modules: Dict[str, Path]) -> str | None:
    """The repository module ``name`` refers to (its longest prefix that is a module), or None if external."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _absolute(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of a relative ``from`` import (``level`` dots) in ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports_of(module: str) -> Set[str]:
    """The repository modules that ``module`` imports (see the module docstring for what counts)."""
    modules = repository_modules()
    path = modules[module]
    is_package = path.name == "__init__.py"
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: List[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node.level, node.module)
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in ("import_module", "__import__"):
                names = [node.args[0].value]
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target != module:
                found.add(target)
    return found


def import_graph(scope: Iterable[str]) -> Dict[str, Set[str]]:
    """Import edges between the repository modules under the prefixes ``scope``."""
    scope = tuple(scope)
    nodes = [m for m in repository_modules() if any(_under(m, p) for p in scope)]
    node_set = set(nodes)
    return {m: {t for t in imports_of(m) if t in node_set} for m in nodes}


def strongly_connected_components(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Tarjan's algorithm (iterative): every strongly connected component of ``graph``, each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    on_stack: Set[str] = set()
    stack: List[str] = []
    components: List[List[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def import_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The components of ``graph`` with more than one module (a module importing itself is not recorded)."""
    return [c for c in strongly_connected_components(graph) if len(c) > 1]


def _violations(importer: str, forbidden: str) -> List[str]:
    modules = repository_modules()
    found = []
    for module in modules:
        if not _under(module, importer):
            continue
        for target in sorted(imports_of(module)):
            bad = not _under(target, importer) if forbidden == OTHER_PARTS else _under(target, forbidden)
            if bad:
                found.append(f"{module} imports {target}")
    return found


def _docstring_nodes(tree: ast.AST) -> Set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def names_in(path: Path) -> Set[str]:
    """Identifiers and non-docstring string constants of a source file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = _docstring_nodes(tree)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            found.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, ast.alias):
            found.update(filter(None, (node.name, node.asname)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            found.add(node.value)
    return found


# ---- the rules ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("importer, forbidden, reason", FORBIDDEN, ids=[f"{a}-x-{b}" for a, b, _ in FORBIDDEN])
def test_forbidden_imports(importer, forbidden, reason):
    violations = _violations(importer, forbidden)
    assert not violations, f"{reason}:\n  " + "\n  ".join(violations)


def test_no_import_cycles():
    cycles = import_cycles(import_graph(CYCLE_SCOPES))
    assert not cycles, "modules that import each other (directly or through a chain):\n  " + "\n  ".join(
        " <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("package, words, reason", NAME_RULES, ids=[p for p, _, _ in NAME_RULES])
def test_forbidden_names(package, words, reason):
    found = []
    for module, path in repository_modules().items():
        if _under(module, package):
            found += [f"{module}: {name!r}" for name in sorted(names_in(path))
                      if any(word in name.lower() for word in words)]
    assert not found, f"{reason}:\n  " + "\n  ".join(found)


# ---- the checker itself ------------------------------------------------------------------------------------


def test_tarjan_finds_chains_and_ignores_trees():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": set(), "f": {"f"}}
    assert import_cycles(graph) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_imports_are_resolved_inside_functions_and_relative(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from pkg.a import thing\n")
    (pkg / "a.py").write_text("import os\nthing = 1\ndef late():\n    from . import b\n")
    (pkg / "b.py").write_text("import importlib\nmod = importlib.import_module('pkg.c')\n")
    (pkg / "c.py").write_text("from .a import thing\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO_ROOT", tmp_path)
    repository_modules.cache_clear()
    try:
        assert imports_of("pkg") == {"pkg.a"}
        assert imports_of("pkg.a") == {"pkg.b"}
        assert imports_of("pkg.b") == {"pkg.c"}
        assert import_cycles(import_graph(["pkg"])) == [["pkg.a", "pkg.b", "pkg.c"]]
    finally:
        repository_modules.cache_clear()
