"""The layers the folders show (README "Layout"), read from every module's import statements
(module level and inside functions) without running them: a module imports only from its own
layer or the layers below it, nothing imports the commands layer, and no group of modules imports
itself round in a cycle."""

from __future__ import annotations

import re
from pathlib import Path

from bench.core.code_identity import imported_names
from bench.core.paths import REPO_ROOT

# lowest first; a module's layer is that of the longest prefix of its dotted name
LAYERS = (
    ("metrics", ("bench.metrics",)),
    ("core", ("bench.core", "bench.datasets")),
    ("adapters", ("bench.adapters",)),
    ("models", ("bench.models",)),
    ("systems", ("bench.systems",)),
    ("reports", ("bench.reports",)),
    ("commands", ("bench.commands", "bench.__main__", "bench")),
)
RANK = {prefix: rank for rank, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes}
FOLDERS = ("bench", "systems", "models", "metrics", "datasets")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts if parts[0] == "bench" else ["bench", *parts])


def project_modules() -> dict[str, Path]:
    modules = {}
    for folder in FOLDERS:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            if "__pycache__" not in path.parts:
                modules[module_name(path)] = path
    return modules


MODULES = project_modules()


def layer_of(name: str) -> int:
    prefix = max((p for p in RANK if name == p or name.startswith(p + ".")), key=len)
    return RANK[prefix]


def imports_of(name: str) -> set[str]:
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    # ``import bench.x`` also names the package root ``bench``, loaded before anything else: not an edge
    return {
        other
        for other in imported_names(path.read_text(), package)
        if other in MODULES and other not in (name, "bench")
    }


GRAPH = {name: imports_of(name) for name in MODULES}


def test_the_layers_cover_every_module():
    assert {
        "bench.core.runner",
        "bench.adapters.embedders",
        "bench.reports.tables",
        "bench.commands.cli",
        "bench.metrics.adherence",
        "bench.systems.families.latent_filter",
        "bench.models.edm",
    } <= set(MODULES)


def test_no_module_imports_a_layer_above_its_own():
    upward = [
        f"{name} ({LAYERS[layer_of(name)][0]}) imports {other} ({LAYERS[layer_of(other)][0]})"
        for name, others in GRAPH.items()
        for other in sorted(others)
        if layer_of(other) > layer_of(name)
    ]
    assert not upward, "\n".join(upward)


def test_nothing_outside_the_commands_imports_them():
    users = [
        f"{name} imports {other}"
        for name, others in GRAPH.items()
        for other in others
        if other.startswith("bench.commands") and not name.startswith(("bench.commands", "bench.__main__"))
    ]
    assert not users, "\n".join(users)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, " -> ".join(cycle)


def test_the_checks_catch_a_cycle_and_an_upward_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert (
        layer_of("bench.metrics.adherence") < layer_of("bench.core.bands") < layer_of("bench.reports.tables")
    )


CITED = re.compile(r"(?<![\w/.-])((?:bench|systems|models|metrics|datasets|tests|scripts|docs)/[\w./-]*\w)")


GENERATED = ("datasets/cache",)  # made by the first run, not in a checkout


def test_every_path_cited_in_docs_and_docstrings_exists():
    sources = [
        REPO_ROOT / "README.md",
        REPO_ROOT / "Makefile",
        *(REPO_ROOT / "docs").rglob("*.md"),
        *MODULES.values(),
        *(REPO_ROOT / "tests").glob("*.py"),
    ]
    missing = sorted(
        {
            f"{cited} (in {source.relative_to(REPO_ROOT)})"
            for source in sources
            for cited in CITED.findall(source.read_text())
            if not any(c in cited for c in "<*{")
            and not cited.startswith(GENERATED)
            and not (REPO_ROOT / cited.rstrip(".")).exists()
        }
    )
    assert not missing, "\n".join(missing)
