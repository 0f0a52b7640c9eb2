"""The engine's one-way import rule (docs/DESIGN.md), checked on the real import graph.

Every `import` and `from … import` in every engine module counts, also those inside functions: a lazy import
is still a dependency. Packages may import only downwards:

    core ← inspector, lessons, data ← train ← sweep, landscape ← cli;  inspector, lessons ← teach;
    inspector ← export ← cli;
    store stands alone (train and above use it).

Two leaf modules import nothing from the engine and may be imported by every package: `engine.settings`
(where data lives, operator settings — read from the environment) and `engine.safe_io` (opening a user's file
within bounds). Every import counts, `if TYPE_CHECKING:` ones too.
The engine never imports streamlit or plotly.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1] / "engine"

# package → the engine packages it may import directly (besides itself and engine.settings)
DIRECT = {
    "core": set(),
    "store": set(),
    "inspector": {"core"},
    "lessons": {"core"},
    "teach": {"inspector", "lessons"},
    "data": {"core"},
    "train": {"core", "data", "store"},
    "sweep": {"train"},
    "export": {"inspector"},
    "landscape": {"train"},
    "cli": {"core", "inspector", "lessons", "data", "store", "train", "sweep", "export", "landscape"},
}
SHARED = {"settings", "safe_io"}  # leaf modules anyone may import (environment settings; opening user files)
TOP = {"__init__", "__main__"}  # engine/__main__.py only calls cli.main


def allowed(package: str) -> set[str]:
    """What `package` may import: its direct dependencies and, transitively, theirs (layers are layers)."""
    out, todo = set(), [package]
    while todo:
        for dep in DIRECT[todo.pop()]:
            if dep not in out:
                out.add(dep)
                todo.append(dep)
    return out | {package} | SHARED


def module_name(path: Path) -> str:
    rel = path.relative_to(ENGINE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    return imports_in(path.read_text(), module_name(path), is_package=path.name == "__init__.py")


def imports_in(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Absolute names of every module imported anywhere in `source` (relative imports resolved)."""
    tree = ast.parse(source)
    here = module.split(".")
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names.add(mod)
            names.update(f"{mod}.{alias.name}" for alias in node.names)  # `from engine.core import ops`
    return names


def engine_files() -> list[Path]:
    return sorted(p for p in ENGINE.rglob("*.py") if "__pycache__" not in p.parts)


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "engine" else None


def existing_modules() -> set[str]:
    return {module_name(p) for p in engine_files()}


def engine_edges() -> dict[str, set[str]]:
    """module → engine modules it imports (names that are not modules, e.g. classes, are dropped)."""
    known = existing_modules()
    return {module_name(p): {n for n in imports_of(p) if n in known} - {module_name(p)} for p in engine_files()}


def test_the_engine_is_laid_out_in_packages():
    top_level = {p.stem for p in ENGINE.glob("*.py")}
    assert top_level <= TOP | SHARED, f"flat modules left in engine/: {sorted(top_level - TOP - SHARED)}"
    packages = {p.name for p in ENGINE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert packages == set(DIRECT), f"unexpected packages {sorted(packages ^ set(DIRECT))}"


@pytest.mark.parametrize("path", engine_files(), ids=lambda p: str(p.relative_to(ENGINE)))
def test_every_import_points_down(path: Path):
    me = module_name(path)
    package = package_of(me)
    if package in SHARED:
        bad = {n for n in imports_of(path) if package_of(n) and n.startswith("engine.")}
        assert not bad, f"{me} must import nothing from the engine, imports {sorted(bad)}"
        return
    if package is None or package == "__main__":  # engine/__init__.py; engine/__main__.py only calls cli.main
        return
    bad = sorted(n for n in imports_of(path) if package_of(n) and package_of(n) not in allowed(package))
    assert not bad, f"{me} ({package}) may import only {sorted(allowed(package))}; it imports {bad}"


@pytest.mark.parametrize("path", engine_files(), ids=lambda p: str(p.relative_to(ENGINE)))
def test_the_engine_never_draws(path: Path):
    drawing = sorted(n for n in imports_of(path) if n.split(".")[0] in {"streamlit", "plotly", "hiplot", "graphviz"})
    assert not drawing, f"{module_name(path)} imports {drawing}: engine computes, ui/ draws"


def test_no_import_cycles():
    """Tarjan's strongly connected components over the module graph: every component is a single module."""
    edges = engine_edges()
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            # a package's __init__ re-exporting its own submodules is not a cycle between ideas
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_lazy_and_relative_imports():
    """The checker itself: an upward import hidden in a function, and a relative one, are both seen."""
    source = ("def f():\n    from engine.train.loop import train\n\nfrom ..store import runs\n"
              "if TYPE_CHECKING:\n    from engine.cli import main\n")
    names = imports_in(source, "engine.core.probe")
    assert {"engine.train.loop", "engine.store.runs", "engine.cli"} <= names
    assert "train" not in allowed("core") and "store" not in allowed("core")
    assert "store" in allowed("sweep") and "cli" not in allowed("sweep")
