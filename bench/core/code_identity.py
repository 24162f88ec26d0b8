"""The code behind a system's outputs, hashed, so that editing it invalidates its cached outputs.

The identity of a system class is a sha256 over the contents of its own source file and of every
project module it imports, transitively: each file's ``import`` and ``from ... import`` statements
(module level and inside functions, read from its syntax tree without running it) are followed
into ``bench/``, ``systems/``, ``models/``, ``metrics/`` and ``datasets/`` under the repository
root. Contents are hashed with line endings normalised, labelled by their path relative to the
root (the plugin's own file by ``<system>``), so the identity is the same on every machine and
checkout and does not change when a file is only touched or moved with the repository.

Not followed: the harness's orchestration modules (:data:`HARNESS_MODULES`: the runner, the
commands, the tables), which decide what runs and how it is scored, not what a system returns;
their effect on outputs is versioned by the runner's own constants (``OUTPUT_PREPARATION``), and
the vocoder carries an id of its own. The descriptor and embedder caches are keyed by their ids and
by this identity of their modules (bench/core/item_cache.py ``code_tag``). Modules outside the
project (numpy, torch, a plugin's private helpers) are not hashed: bump the class attribute
``version`` when they change what the system returns.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

from bench.core.paths import REPO_ROOT

PROJECT_FOLDERS = ("systems", "models", "metrics", "datasets")  # bench.<folder> -> <root>/<folder>
# what decides how a run is scored, not what a system returns: the reports and commands layers
HARNESS_LAYERS = ("bench.reports", "bench.commands")
HARNESS_MODULES = frozenset(
    {"bench.core.runner", "bench.core.progress", "bench.core.provenance", "bench.__main__"}
)
IDENTITY_VERSION = 1


def is_harness_module(name: str) -> bool:
    return name in HARNESS_MODULES or any(
        name == layer or name.startswith(layer + ".") for layer in HARNESS_LAYERS
    )


def module_file(name: str, root: Path = REPO_ROOT) -> Path | None:
    """The file of project module ``name`` (``bench.x``, ``bench.models.y`` ...), or None."""
    parts = name.split(".")
    if parts[0] != "bench" or is_harness_module(name):
        return None
    if len(parts) > 1 and parts[1] in PROJECT_FOLDERS:
        base, rest = root / parts[1], parts[2:]
    else:
        base, rest = root / "bench", parts[1:]
    target = base.joinpath(*rest)
    if target.with_suffix(".py").is_file() and rest:
        return target.with_suffix(".py")
    if (target / "__init__.py").is_file():
        return target / "__init__.py"
    return None


def module_name(path: Path, root: Path = REPO_ROOT) -> str | None:
    """The dotted name a project file imports under, or None for a file outside the project."""
    try:
        relative = path.resolve().relative_to(root.resolve()).with_suffix("")
    except ValueError:
        return None
    parts = list(relative.parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if not parts or parts[0] not in ("bench", *PROJECT_FOLDERS):
        return None
    return ".".join(parts if parts[0] == "bench" else ["bench", *parts])


def imported_names(source: str, package: str | None) -> set[str]:
    """Every module named by an import statement of ``source`` (``from a import b`` gives both
    ``a`` and ``a.b``: b may be a submodule). Relative imports resolve against ``package``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if package is None:
                    continue
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _read(path: Path) -> bytes:
    return path.read_bytes().replace(b"\r\n", b"\n")


def code_files(source_file: Path, root: Path = REPO_ROOT) -> dict[str, Path]:
    """The files whose code produces a system's outputs: label -> path, label being the path
    relative to ``root`` (``<system>`` for a plugin file outside the project)."""
    source_file = Path(source_file)
    own = module_name(source_file, root)
    label = source_file.resolve().relative_to(root.resolve()).as_posix() if own else "<system>"
    found = {label: source_file}
    queue = [(source_file, own)]
    while queue:
        path, name = queue.pop()
        package = name if path.name == "__init__.py" else (name.rsplit(".", 1)[0] if name else None)
        for imported in sorted(imported_names(_read(path).decode("utf-8"), package)):
            target = module_file(imported, root)
            if target is None:
                continue
            label = target.relative_to(root).as_posix()
            if label not in found:
                found[label] = target
                queue.append((target, imported))
    return found


def code_identity(source_file: str | Path, root: Path = REPO_ROOT) -> dict:
    """``{"sha256", "files"}``: the hash over every (label, content) pair and how many files."""
    files = code_files(Path(source_file), root)
    digest = hashlib.sha256(f"code-identity-v{IDENTITY_VERSION}".encode())
    for label in sorted(files):
        digest.update(f"\0{label}\0".encode())
        digest.update(hashlib.sha256(_read(files[label])).digest())
    return {"sha256": digest.hexdigest(), "files": len(files)}


def class_source_file(cls: type) -> Path | None:
    """The file that defines ``cls`` (None for a class defined interactively)."""
    import inspect

    try:
        return Path(inspect.getsourcefile(cls))
    except (TypeError, OSError):
        return None


def system_code(cls: type) -> dict:
    """What :meth:`bench.core.system.System.fingerprint` records about a system's code: the
    identity of its source file's code and the class's ``version``."""
    source = class_source_file(cls)
    identity = (
        code_identity(source) if source is not None and source.is_file() else {"sha256": None, "files": 0}
    )
    return {
        "code_sha256": identity["sha256"],
        "code_files": identity["files"],
        "version": getattr(cls, "version", None),
    }
