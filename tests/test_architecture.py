"""The shape of the package: layers, no cycles, no dodged imports, declared interfaces.

``lint-imports`` (import-linter, contracts in pyproject.toml) checks the layers and
that strategies are reached only through their registry; the checks below walk the
source for what import-linter does not see: cycles between modules of one package,
imports hidden inside functions, and type tests on concrete strategies or tasks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sktransformers"
STRATEGIES = {"Adapters", "Frozen", "FullFinetuning", "LoRA", "PrefixTuning", "PromptTuning"}
TASKS = {"SingleLabel", "MultiLabel", "Regression", "PairwisePreference", "DirectPreference"}


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = (path, ast.parse(path.read_text()))
    return found


def _target(module: str, path: Path, node: ast.ImportFrom | ast.Import, known) -> list[str]:
    """The modules of ours an import statement reaches (``from . import x`` included)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        if node.level:
            base = base[: len(base) - node.level + 1]
        else:
            base = []
        stem = ".".join(base + ([node.module] if node.module else []))
        names = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in known else stem for a in node.names]
    out = []
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            out.append(name)
    return out


def _imports(inside_functions: bool) -> dict[str, set[str]]:
    modules = _modules()
    graph = {name: set() for name in modules}
    for name, (path, tree) in modules.items():
        nested = {id(n) for f in ast.walk(tree)
                  if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and (
                    (id(node) in nested) == inside_functions):
                graph[name].update(_target(name, path, node, modules))
    return graph


def test_import_linter_contracts_hold():
    cli = pytest.importorskip("importlinter.cli")  # the test extra installs it
    assert cli.lint_imports(config_filename=str(PACKAGE.parent / "pyproject.toml"),
                            no_cache=True, no_logo=True) == 0


def test_no_import_cycles_between_modules():
    graph = _imports(inside_functions=False)
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(trail[trail.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])


def test_no_imports_of_our_modules_inside_functions():
    hidden = {name: sorted(targets) for name, targets in _imports(inside_functions=True).items()
              if targets}
    assert hidden == {}


def test_only_the_public_face_imports_the_root_package():
    graph = _imports(inside_functions=False)
    assert sorted(name for name, targets in graph.items() if "sktransformers" in targets) == []


def test_no_type_tests_on_concrete_strategies_or_tasks_outside_their_packages():
    offenders = []
    for name, (_path, tree) in _modules().items():
        own = {"sktransformers.adaptation": STRATEGIES, "sktransformers.core": TASKS}
        allowed = set().union(*(v for k, v in own.items() if name.startswith(k)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
                    "isinstance", "issubclass", "type") and len(node.args) == 2:
                named = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                if (named & (STRATEGIES | TASKS)) - allowed:
                    offenders.append(f"{name}:{node.lineno}")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and (
                    isinstance(node.args[0], ast.Name) and "adaptation" in node.args[0].id):
                offenders.append(f"{name}:{node.lineno} getattr on a strategy")
    assert offenders == []
