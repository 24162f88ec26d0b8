"""The plugin API: what a system is, what it can do and what it needs.

A system is one file in ``systems/`` (or an entry point in the ``latentft_bench.systems``
group of an installed package) defining a subclass of :class:`System` decorated with
:func:`bench.core.registry.register`. Importing that file must be cheap: import heavy packages
inside ``load`` or the generation methods.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.core.bands import Band

CONDITIONAL = "conditional"
BLEND = "blend"


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""
    fix: str = ""


@dataclass(frozen=True)
class WeightFile:
    """A weights file a system reads from one of its options (``--system-option NAME.OPTION=PATH``)."""

    option: str
    what: str
    required: bool = True  # False: the system finds a default (a library's cache) when none is given


@dataclass(frozen=True)
class Needs:
    """Python packages (import names) and weight files a system requires."""

    packages: tuple[str, ...] = ()
    install_hint: str = ""
    weights: tuple[WeightFile, ...] = ()


@dataclass(frozen=True)
class NoOptions:
    """A system without options."""


class OptionError(ValueError):
    """A ``--system-option`` a system does not have, or a value it cannot take."""


def _option_type(annotation):
    """(the type a value is converted to, whether None is allowed) of a field annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    optional = type(None) in typing.get_args(annotation)
    return (args[0] if optional and len(args) == 1 else annotation), optional


def _type_name(annotation) -> str:
    kind, optional = _option_type(annotation)
    name = getattr(kind, "__name__", str(kind))
    return f"{name} or none" if optional else name


def _convert(value, annotation):
    kind, optional = _option_type(annotation)
    if optional and (value is None or (isinstance(value, str) and value.lower() in ("", "none"))):
        return None
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true or false")
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ValueError("expected a whole number")
    if kind in (int, float, str):
        return kind(value)
    raise TypeError(f"unsupported option type {annotation!r}")


def option_fields(cls) -> list[tuple[str, object, object]]:
    """(name, annotation, default) of every option of system class ``cls``."""
    hints = typing.get_type_hints(cls.Options)
    return [(f.name, hints[f.name], f.default) for f in dataclasses.fields(cls.Options)]


def describe_options(cls) -> str:
    fields = option_fields(cls)
    if not fields:
        return f"{cls.name} takes no options"
    return f"valid options of {cls.name}: " + ", ".join(
        f"{name} ({_type_name(annotation)}, default {default!r})" for name, annotation, default in fields
    )


def validate_options(cls, raw) -> object:
    """``raw`` ({key: value}, values as strings from the command line or typed from Python; or an
    instance already) as an instance of ``cls.Options``; unknown keys and bad values raise
    :class:`OptionError` naming the system, the key and the valid options with their types."""
    if isinstance(raw, cls.Options):
        return raw
    raw = dict(raw or {})
    fields = {name: annotation for name, annotation, _ in option_fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise OptionError(f"{cls.name}: unknown option(s) {', '.join(unknown)}; {describe_options(cls)}")
    values = {}
    for key, value in raw.items():
        try:
            values[key] = _convert(value, fields[key])
        except (TypeError, ValueError) as error:
            raise OptionError(
                f"{cls.name}.{key}={value!r}: expected {_type_name(fields[key])} ({error}); "
                f"{describe_options(cls)}"
            ) from None
    try:
        return cls.Options(**values)
    except (TypeError, ValueError) as error:
        raise OptionError(f"{cls.name}: {error}; {describe_options(cls)}") from None


@dataclass
class ConditionalBatch:
    """Conditional generation: one reference clip and one band per item."""

    references: np.ndarray  # [B, T] at 22050 Hz
    bands: list[Band]
    seeds: list[int]
    reference_ids: list[str] = field(default_factory=list)


@dataclass
class BlendBatch:
    """Blending: band1 taken from references1, band2 from references2, per item."""

    references1: np.ndarray  # [B, T]
    references2: np.ndarray  # [B, T]
    bands1: list[Band]
    bands2: list[Band]
    seeds: list[int]
    reference_ids1: list[str] = field(default_factory=list)
    reference_ids2: list[str] = field(default_factory=list)


def _item_batches(batch):
    """The single-item batches of a ConditionalBatch or BlendBatch, in order."""

    def pick(value, i):
        if isinstance(value, np.ndarray):
            return value[i : i + 1]
        return value[i : i + 1] if isinstance(value, list) and value else value

    return [
        dataclasses.replace(
            batch, **{f.name: pick(getattr(batch, f.name), i) for f in dataclasses.fields(batch)}
        )
        for i in range(len(batch.seeds))
    ]


def one_item_at_a_time_on_cpu(method):
    """Run a batched ``conditional`` / ``blend`` hook one item at a time when the system is on CPU.
    MKL's CPU GEMM and FFT choose their kernels by problem size on some processors (measured on an
    AVX-512 host: a batch of two differed from each item alone by up to 3e-4 for every diffusion
    row and 4e-7 for Griffin-Lim), so an item's bits would depend on what it is batched with
    (--batch-size, the unit split). On a GPU the batch is kept (README, "Caching, resuming,
    determinism"; tests/test_thread_invariance.py)."""

    @functools.wraps(method)
    def per_item(self, batch):
        if self.context.device != "cpu" or len(batch.seeds) <= 1:
            return method(self, batch)
        return np.concatenate([method(self, item) for item in _item_batches(batch)])

    return per_item


@dataclass
class RunContext:
    """What the runner hands every system: the clip pool, vocoder and device."""

    pool: np.ndarray  # [N, T] all clips of the evaluation set
    pool_ids: list[str]
    vocoder: object = None
    device: str = "cpu"
    options: dict = field(default_factory=dict)
    sampling_steps: int = 100


class System:
    """Base class. A plugin sets ``name`` and ``description``, overrides the hooks it implements
    (``conditional``, ``blend``: its capabilities follow from which), puts heavy set-up in
    ``load`` (called once, its result is ``self.loaded``) and declares its options as a dataclass
    ``Options`` (typed, validated before any work; ``self.options`` holds the instance)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()  # set from the hooks a class overrides
    needs: ClassVar[Needs] = Needs()
    Options: ClassVar[type] = NoOptions
    uses_vocoder: ClassVar[bool] = False
    # bump when something the code hash cannot see changes the outputs (an outside package, data)
    version: ClassVar[int | str] = 1

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.capabilities = frozenset(
            task
            for task, hook in ((CONDITIONAL, "conditional"), (BLEND, "blend"))
            if getattr(cls, hook) is not getattr(System, hook)
        )
        if not dataclasses.is_dataclass(cls.Options):
            raise TypeError(f"{cls.__qualname__}.Options must be a dataclass")

    def __init__(self, context: RunContext):
        self.context = context
        self.options = validate_options(type(self), context.options)

    @classmethod
    def availability(cls, options=None) -> Availability:
        """Checks ``needs`` (packages, then the weight files named by the options); subclasses add
        their own checks and call super()."""
        missing = [p for p in cls.needs.packages if importlib.util.find_spec(p) is None]
        if missing:
            return Availability(
                False,
                f"missing Python package(s): {', '.join(missing)}",
                cls.needs.install_hint or f"pip install {' '.join(missing)}",
            )
        options = validate_options(cls, options)
        for weight in cls.needs.weights:
            path = getattr(options, weight.option)
            if path is None and weight.required:
                return Availability(
                    False, f"no {weight.what} given", f"pass --system-option {cls.name}.{weight.option}=/path"
                )
            if path is not None and not Path(path).exists():
                return Availability(
                    False,
                    f"{weight.what} not found: {path}",
                    f"check --system-option {cls.name}.{weight.option}",
                )
        return Availability(True)

    @property
    def loaded(self):
        """What ``load`` returns, computed on first use and kept for the system's lifetime."""
        if "_loaded" not in self.__dict__:
            self.__dict__["_loaded"] = self.load()
        return self.__dict__["_loaded"]

    def load(self):
        """Heavy set-up (weights, models), run once per instance; its result is ``self.loaded``."""
        return None

    def fingerprint(self) -> dict:
        """Everything that changes this system's outputs: the validated options, vocoder, ``version``
        and the hash of its code (its file and the project modules it imports,
        bench/core/code_identity.py); subclasses add their weights' hash."""
        from bench.core.code_identity import system_code

        vocoder = getattr(self.context.vocoder, "id", None) if self.uses_vocoder else None
        return {
            "system": self.name,
            "vocoder": vocoder,
            "options": dataclasses.asdict(self.options),
            **system_code(type(self)),
        }

    def info(self) -> dict:
        """Facts for ``bench systems --verbose`` (latent rate, channels, parameters...)."""
        return {}

    def conditional(self, batch: ConditionalBatch) -> np.ndarray:
        """Generate one clip [T] per item: like ``batch.references[i]`` in ``batch.bands[i]``."""
        raise NotImplementedError(f"{self.name} does not do conditional generation")

    def blend(self, batch: BlendBatch) -> np.ndarray:
        """Generate one clip per item: band1 of references1[i] with band2 of references2[i]."""
        raise NotImplementedError(f"{self.name} does not do blending")
