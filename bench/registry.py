"""Registry of systems: plugin files in ``systems/``, extra plugin folders, and entry points.

Plugins are found by importing each module of ``bench.systems`` (and of every folder named in
the ``BENCH_PLUGIN_PATH`` environment variable, ``:``-separated); installed packages can
declare ``[project.entry-points."latentft_bench.systems"] name = "module:Class"``, loaded only
when that system is used or listed. A plugin that fails to import is listed as broken with its
error; it never stops the others.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import pkgutil
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from bench.system import Availability, System

ENTRY_POINT_GROUP = "latentft_bench.systems"
_REGISTRY: dict[str, type[System]] = {}
_BROKEN: dict[str, str] = {}
_DISCOVERED = False


def register(cls: type[System]) -> type[System]:
    """Class decorator: add a System subclass to the registry under ``cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, System)):
        raise TypeError(f"@register expects a System subclass, got {cls!r}")
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} must set a non-empty `name`")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"system name {cls.name!r} is used by both {existing.__module__} "
                         f"and {cls.__module__}")
    _REGISTRY[cls.name] = cls
    return cls


def _import_file(path: Path) -> None:
    module_name = f"bench_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)


def discover(force: bool = False) -> None:
    global _DISCOVERED
    if _DISCOVERED and not force:
        return
    import bench.systems as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"bench.systems.{info.name}")
        except Exception as error:  # a broken plugin is reported, not fatal
            plugin = Path(package.__path__[0]) / f"{info.name}.py"
            _BROKEN[f"systems/{info.name}.py"] = _describe(error, plugin)
    for folder in filter(None, os.environ.get("BENCH_PLUGIN_PATH", "").split(os.pathsep)):
        for path in sorted(Path(folder).glob("*.py")):
            try:
                _import_file(path)
            except Exception as error:
                _BROKEN[str(path)] = _describe(error, path)
    _load_entry_points()
    _DISCOVERED = True


def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in _REGISTRY:
            continue
        try:
            cls = entry.load()
            if cls.name != entry.name:
                raise ValueError(f"entry point {entry.name!r} loads a system named {cls.name!r}")
            register(cls)
        except Exception as error:
            _BROKEN[f"entry point {entry.name} ({entry.value})"] = _describe(error)


def _describe(error: Exception, plugin: Path | None = None) -> str:
    """The error with where it happened: in the plugin's own file when the traceback passes
    through it (not the importlib frame it ends in), else the last frame outside importlib."""
    where = ""
    if isinstance(error, SyntaxError) and error.filename:
        where = f" at {Path(error.filename).name}:{error.lineno}"
    elif error.__traceback__:
        frames = traceback.extract_tb(error.__traceback__)
        own = [f for f in frames
               if plugin is not None and Path(f.filename).resolve() == Path(plugin).resolve()]
        outside = [f for f in frames if not f.filename.startswith("<frozen importlib")]
        frame = (own or outside or frames)[-1]
        where = f" at {Path(frame.filename).name}:{frame.lineno}"
    return f"{type(error).__name__}: {error}{where}"


def system_names() -> list[str]:
    discover()
    return sorted(_REGISTRY)


def broken_plugins() -> dict[str, str]:
    discover()
    return dict(_BROKEN)


def get_system_class(name: str) -> type[System]:
    discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown system {name!r}{hint} (known: {', '.join(sorted(_REGISTRY))})") from None


class UnknownSystemError(ValueError):
    """A system name no plugin registers; the message suggests close names and names broken plugins."""


def check_system_names(names) -> None:
    """Raise :class:`UnknownSystemError` for every name no plugin registers, before any work."""
    discover()
    unknown = [name for name in names if name not in _REGISTRY]
    if not unknown:
        return
    lines = []
    for name in unknown:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        lines.append(f"unknown system {name!r}" + (f"; did you mean {', '.join(close)}?" if close else ""))
    if _BROKEN:
        lines.append("plugin(s) that failed to import, which may define it:")
        lines.extend(f"  {where}: {error}" for where, error in sorted(_BROKEN.items()))
    lines.append(f"known systems: {', '.join(sorted(_REGISTRY))} (python -m bench systems)")
    raise UnknownSystemError("\n".join(lines))


@dataclass(frozen=True)
class SystemStatus:
    name: str
    capabilities: tuple[str, ...]
    description: str
    availability: Availability


def system_status(name: str, options: dict | None = None) -> SystemStatus:
    cls = get_system_class(name)
    try:
        availability = cls.availability(options or {})
    except Exception as error:
        availability = Availability(False, f"availability check failed: {_describe(error)}")
    return SystemStatus(name, tuple(sorted(cls.capabilities)), cls.description, availability)
