"""The package's import graph: no cycle, and layers that only look down.

Every `import` counts, the ones inside functions too: a lazy import hides a cycle from
Python's loader, not from a reader who has to know both modules to change either.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "e3d2_hf"

LAYERS = (
    ("utils", "data"),
    ("models", "evaluation", "export", "cards", "preferences"),
    ("training",),
    ("reports",),
    ("recipes",),
)
"""From the bottom: a module may import its own layer and those below. Everything else
(the CLI, the demo, the app, `e3d2 push`) sits above all of them."""


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "hub_metrics" in path.parts:  # evaluate's scripts, loaded by path, not imported
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for path in (REPO / "recipes").glob("*.py"):  # shipped as e3d2_hf.recipes (setup.py)
        name = "e3d2_hf.recipes" + ("" if path.stem == "__init__" else f".{path.stem}")
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets += [f"{base}.{alias.name}" for alias in node.names]
    found = set()
    for target in targets:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> int:
    if module == "e3d2_hf":  # `__version__` and the models it re-exports
        return 1
    parts = module.split(".")
    for level, names in enumerate(LAYERS):
        if len(parts) > 1 and parts[1] in names:
            return level
    return len(LAYERS)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_whole():
    graph = _graph()
    assert {"e3d2_hf.cards", "e3d2_hf.hub", "e3d2_hf.preferences"} <= set(graph)
    assert "e3d2_hf.training.ppo_trainer" in graph["e3d2_hf.recipes.ppo"]
    assert "e3d2_hf.cards" in graph["e3d2_hf.preferences"]  # a lazy import counts


def test_no_module_imports_itself_through_others():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_layers_only_import_downwards():
    upward = [
        f"{module} -> {target}"
        for module, targets in _graph().items()
        for target in targets
        if _layer(target) > _layer(module)
    ]
    assert upward == []


USERS_OF_SAVED_MODELS = ("inference", "scoring", "hub", "app", "convert_bailando")
"""Modules that find, load and push saved models without training anything."""


def test_using_saved_models_needs_nothing_from_training():
    graph = _graph()
    reached = {
        f"e3d2_hf.{name} -> {target}"
        for name in USERS_OF_SAVED_MODELS
        for target in _reachable(graph, f"e3d2_hf.{name}")
        if target.startswith("e3d2_hf.training")
    }
    assert not reached, sorted(reached)


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


FOREIGN_DOCUMENTS = re.compile(
    r"bailando-facts|smpl-skeleton\.md|hf-notes|architecture\.md|shared/design|(?<![\w/])method\.md"
)
"""The design notes the project was started from, which live outside the repository."""


def test_the_repository_cites_only_documents_it_holds():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    foreign, missing = [], []
    for name in tracked:
        path = REPO / name
        if path == Path(__file__):  # the patterns above
            continue
        if path.suffix not in (".py", ".md", ".yaml", ".toml", ".j2", ".sh") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        foreign += [f"{name}: {m[0]}" for m in FOREIGN_DOCUMENTS.finditer(text)]
        for cited in re.findall(r"\bdocs/[\w./-]+\.md\b", text):
            if not (REPO / cited).is_file() and cited != "docs/results/gpu.md":
                missing.append(f"{name}: {cited}")
    assert not foreign, foreign
    assert not missing, missing
