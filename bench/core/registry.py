"""The typed registries: systems, embedders and vocoders, each a name -> class map whose entries may
be lazy ``"module:Class"`` strings, imported only when that entry is used.

Systems are plugin files in ``systems/``, extra plugin folders and entry points: importing each
module of ``bench.systems`` (and of every folder named in the ``BENCH_PLUGIN_PATH`` environment
variable, ``:``-separated) runs its ``@register``; installed packages can declare
``[project.entry-points."latentft_bench.systems"] name = "module:Class"``, registered lazily. A
plugin that fails to import is listed as broken with its error; it never stops the others.
Embedders and vocoders are lazy entries into bench/adapters/, built from a ``NAME[:ARGUMENT]`` spec
by the class's ``from_spec``. An unknown name is refused with the closest known ones.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import pkgutil
import sys
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core.system import Availability, OptionError, System, validate_options

ENTRY_POINT_GROUP = "latentft_bench.systems"


class UnknownNameError(ValueError):
    """A name no entry of a registry has; the message suggests close names."""


class Registry:
    """Named classes of one kind; an entry is a class or a lazy ``"module:Class"`` string."""

    def __init__(self, kind: str, base: type | None = None, entries: dict[str, object] | None = None):
        self.kind = kind
        self.base = base
        self.entries: dict[str, object] = dict(entries or {})

    def add(self, name: str, target) -> None:
        """Register ``target`` (a class or ``"module:Class"``) under ``name``; one name, one class."""
        existing = self.entries.get(name)
        if existing is not None and _qualname(existing) != _qualname(target):
            raise ValueError(
                f"{self.kind} name {name!r} is used by both {_qualname(existing)} and {_qualname(target)}"
            )
        self.entries[name] = target

    def names(self) -> list[str]:
        return sorted(self.entries)

    def unknown(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self.entries), n=3)
        return f"unknown {self.kind} {name!r}" + (f"; did you mean {', '.join(close)}?" if close else "")

    def load(self, name: str) -> Any:
        """The class registered as ``name``, importing a lazy entry (and keeping it loaded)."""
        if name not in self.entries:
            raise UnknownNameError(f"{self.unknown(name)} (known: {', '.join(self.names())})")
        target = self.entries[name]
        if isinstance(target, str):
            module_name, _, attribute = target.partition(":")
            target = getattr(importlib.import_module(module_name), attribute)
            if self.base is not None and not (isinstance(target, type) and issubclass(target, self.base)):
                raise TypeError(f"{self.kind} {name!r} ({self.entries[name]}) is not a {self.base.__name__}")
            self.entries[name] = target
        return target

    @contextmanager
    def isolated(self):
        """Registrations made inside the block are undone when it ends (tests)."""
        saved = dict(self.entries)
        try:
            yield self
        finally:
            self.entries.clear()
            self.entries.update(saved)


def _qualname(target) -> str:
    return target if isinstance(target, str) else f"{target.__module__}.{target.__qualname__}"


class SystemRegistry(Registry):
    """The systems: discovered from the plugin folders and entry points on first use."""

    def __init__(self):
        super().__init__("system", System)
        self.broken: dict[str, str] = {}
        self.discovered = False

    def discover(self, force: bool = False) -> None:
        if self.discovered and not force:
            return
        self.discovered = True
        package = importlib.import_module("bench.systems")  # discovered at run time, not a layer edge

        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if info.name.startswith("_") or info.ispkg:
                continue
            try:
                importlib.import_module(f"bench.systems.{info.name}")
            except Exception as error:  # a broken plugin is reported, not fatal
                plugin = Path(package.__path__[0]) / f"{info.name}.py"
                self.broken[f"systems/{info.name}.py"] = describe_error(error, plugin)
        for folder in filter(None, os.environ.get("BENCH_PLUGIN_PATH", "").split(os.pathsep)):
            for path in sorted(Path(folder).glob("*.py")):
                try:
                    _import_file(path)
                except Exception as error:
                    self.broken[str(path)] = describe_error(error, path)
        from importlib.metadata import entry_points

        for entry in entry_points(group=ENTRY_POINT_GROUP):
            self.entries.setdefault(entry.name, entry.value)

    def names(self) -> list[str]:
        self.discover()
        return super().names()

    def load(self, name: str) -> type[System]:
        self.discover()
        try:
            cls = super().load(name)
        except UnknownNameError:
            raise
        except Exception as error:  # an entry point that does not load
            self.broken[f"entry point {name} ({self.entries[name]})"] = describe_error(error)
            raise UnknownNameError(f"system {name!r} failed to load: {describe_error(error)}") from None
        if cls.name != name:
            raise ValueError(f"entry point {name!r} loads a system named {cls.name!r}")
        return cls


SYSTEMS = SystemRegistry()
EMBEDDERS = Registry(
    "embedder",
    entries={
        "melstats": "bench.adapters.embedders:MelStatsEmbedder",
        "melstats-fast": "bench.adapters.embedders:MelStatsFastEmbedder",
        "crepe-tiny": "bench.adapters.embedders:CrepeEmbedder",
        "crepe-full": "bench.adapters.embedders:CrepeEmbedder",
        "vggish": "bench.adapters.embedders:VGGishEmbedder",
        "clap": "bench.adapters.embedders:ClapEmbedder",
    },
)
VOCODERS = Registry(
    "vocoder",
    entries={
        "griffin-lim": "bench.adapters.vocoders:GriffinLim",
        "bigvgan": "bench.adapters.vocoders:BigVGANVocoder",
    },
)
_REGISTRY = SYSTEMS.entries  # the systems' name -> class map (tests restore it with SYSTEMS.isolated())


def make_embedder(spec: str = "melstats", device: str = "cpu"):
    """``melstats``, ``crepe-tiny``, ``crepe-full``, ``vggish[:/path/to/weights]`` or
    ``clap[:/path/to/folder]``."""
    name, _, argument = spec.partition(":")
    return EMBEDDERS.load(name).from_spec(name, argument, device)


def make_vocoder(spec: str = "griffin-lim", device: str = "cpu"):
    """``griffin-lim``, ``griffin-lim:N`` (iterations) or ``bigvgan:/path/to/dir``."""
    name, _, argument = spec.partition(":")
    return VOCODERS.load(name).from_spec(name, argument, device)


def register(cls: type[System]) -> type[System]:
    """Class decorator: add a System subclass to the registry under ``cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, System)):
        raise TypeError(f"@register expects a System subclass, got {cls!r}")
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} must set a non-empty `name`")
    SYSTEMS.add(cls.name, cls)
    return cls


def _import_file(path: Path) -> None:
    module_name = f"bench_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)


def discover(force: bool = False) -> None:
    SYSTEMS.discover(force)


def describe_error(error: Exception, plugin: Path | None = None) -> str:
    """The error with where it happened: in the plugin's own file when the traceback passes
    through it (not the importlib frame it ends in), else the last frame outside importlib."""
    where = ""
    if isinstance(error, SyntaxError) and error.filename:
        where = f" at {Path(error.filename).name}:{error.lineno}"
    elif error.__traceback__:
        frames = traceback.extract_tb(error.__traceback__)
        own = [
            f for f in frames if plugin is not None and Path(f.filename).resolve() == Path(plugin).resolve()
        ]
        outside = [f for f in frames if not f.filename.startswith("<frozen importlib")]
        frame = (own or outside or frames)[-1]
        where = f" at {Path(frame.filename).name}:{frame.lineno}"
    return f"{type(error).__name__}: {error}{where}"


def system_names() -> list[str]:
    return SYSTEMS.names()


def broken_plugins() -> dict[str, str]:
    SYSTEMS.discover()
    return dict(SYSTEMS.broken)


def get_system_class(name: str) -> type[System]:
    return SYSTEMS.load(name)


class UnknownSystemError(UnknownNameError):
    """A system name no plugin registers, or options a system refuses; the message suggests close
    names, lists the valid options and names broken plugins."""


def check_system_names(names, options: dict | None = None) -> None:
    """Raise :class:`UnknownSystemError` for every name no plugin registers, and for every
    ``--system-option`` a system does not have or cannot parse, before any work."""
    SYSTEMS.discover()
    names = list(names)
    lines = [SYSTEMS.unknown(name) for name in names if name not in SYSTEMS.entries]
    if lines and SYSTEMS.broken:
        lines.append("plugin(s) that failed to import, which may define it:")
        lines.extend(f"  {where}: {error}" for where, error in sorted(SYSTEMS.broken.items()))
    if lines:
        lines.append(f"known systems: {', '.join(SYSTEMS.names())} (python -m bench systems)")
    for system, raw in sorted((options or {}).items()):
        if system not in names:
            if system not in SYSTEMS.entries:
                lines.append(f"--system-option for {SYSTEMS.unknown(system)}")
            continue
        try:
            validate_options(SYSTEMS.load(system), raw)
        except OptionError as error:
            lines.append(str(error))
    if lines:
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
        availability = cls.availability(validate_options(cls, options))
    except OptionError as error:
        availability = Availability(False, str(error), "fix the --system-option")
    except Exception as error:
        availability = Availability(False, f"availability check failed: {describe_error(error)}")
    return SystemStatus(name, tuple(sorted(cls.capabilities)), cls.description, availability)
