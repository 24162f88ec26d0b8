"""The plugin API: what a system is, what it can do and what it needs.

A system is one file in ``systems/`` (or an entry point in the ``latentft_bench.systems``
group of an installed package) defining a subclass of :class:`System` decorated with
:func:`bench.registry.register`. Importing that file must be cheap: import heavy packages
inside ``load`` or the generation methods.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench import REPO_ROOT
from bench.bands import Band

CONDITIONAL = "conditional"
BLEND = "blend"


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""
    fix: str = ""


@dataclass(frozen=True)
class Needs:
    """Python packages (import names) and weight files a system requires."""

    packages: tuple[str, ...] = ()
    install_hint: str = ""


@dataclass
class ConditionalBatch:
    """Conditional generation: one reference clip and one band per item."""

    references: np.ndarray          # [B, T] at 22050 Hz
    bands: list[Band]
    seeds: list[int]
    reference_ids: list[str] = field(default_factory=list)


@dataclass
class BlendBatch:
    """Blending: band1 taken from references1, band2 from references2, per item."""

    references1: np.ndarray         # [B, T]
    references2: np.ndarray         # [B, T]
    bands1: list[Band]
    bands2: list[Band]
    seeds: list[int]
    reference_ids1: list[str] = field(default_factory=list)
    reference_ids2: list[str] = field(default_factory=list)


@dataclass
class RunContext:
    """What the runner hands every system: the clip pool, vocoder and device."""

    pool: np.ndarray                # [N, T] all clips of the evaluation set
    pool_ids: list[str]
    vocoder: object = None
    device: str = "cpu"
    options: dict = field(default_factory=dict)
    sampling_steps: int = 100


class System:
    """Base class. Subclasses set the class attributes and implement the ``_`` methods."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    needs: ClassVar[Needs] = Needs()
    uses_vocoder: ClassVar[bool] = False
    # bump when something the code hash cannot see changes the outputs (an outside package, data)
    version: ClassVar[int | str] = 1

    def __init__(self, context: RunContext):
        self.context = context

    @classmethod
    def availability(cls, options: dict | None = None) -> Availability:
        """Checks ``needs``; subclasses add weight-file checks and call super()."""
        missing = [p for p in cls.needs.packages if importlib.util.find_spec(p) is None]
        if missing:
            return Availability(False, f"missing Python package(s): {', '.join(missing)}",
                                cls.needs.install_hint or f"pip install {' '.join(missing)}")
        return Availability(True)

    @staticmethod
    def weights_availability(path: str | None, what: str, option: str) -> Availability:
        if not path:
            return Availability(False, f"no {what} given", f"pass --system-option {option}=/path")
        if not Path(path).exists():
            return Availability(False, f"{what} not found: {path}", f"check --system-option {option}")
        return Availability(True)

    def fingerprint(self) -> dict:
        """Everything that changes this system's outputs: settings, vocoder, ``version`` and the
        hash of its code (its file and the project modules it imports, bench/code_identity.py);
        subclasses add their weights' hash."""
        from bench.code_identity import system_code

        vocoder = getattr(self.context.vocoder, "id", None) if self.uses_vocoder else None
        return {"system": self.name, "vocoder": vocoder, "options": self.context.options,
                **system_code(type(self))}

    def info(self) -> dict:
        """Facts for ``bench systems --verbose`` (latent rate, channels, parameters...)."""
        return {}

    def conditional(self, batch: ConditionalBatch) -> np.ndarray:
        if CONDITIONAL not in self.capabilities:
            raise NotImplementedError(f"{self.name} does not do conditional generation")
        return np.asarray(self._conditional(batch))

    def blend(self, batch: BlendBatch) -> np.ndarray:
        if BLEND not in self.capabilities:
            raise NotImplementedError(f"{self.name} does not do blending")
        return np.asarray(self._blend(batch))

    def _conditional(self, batch: ConditionalBatch) -> np.ndarray:
        raise NotImplementedError

    def _blend(self, batch: BlendBatch) -> np.ndarray:
        raise NotImplementedError


class TrainedSystem(System):
    """A system whose weights the harness trains (``make train SYSTEM=<trained_by>``).

    The checkpoint is ``--system-option <name>.checkpoint=PATH``, else the tiny one trained on this
    machine (results/checkpoints/), else the shipped one (models/weights/); see
    models/checkpoint_store.py.
    """

    trained_by: ClassVar[str] = ""
    needs = Needs(packages=("torch",))

    @classmethod
    def checkpoint(cls, options: dict | None) -> Path:
        from bench.models.checkpoint_store import resolve

        return resolve(cls.trained_by or cls.name, "tiny", (options or {}).get("checkpoint"))

    @classmethod
    def availability(cls, options=None) -> Availability:
        base = super().availability(options)
        if not base.ok:
            return base
        path = cls.checkpoint(options)
        if not path.is_file():
            return Availability(False, f"no checkpoint at {path}",
                                f"restore the shipped weights (git checkout models/weights), or "
                                f"make train SYSTEM={cls.trained_by or cls.name} CONFIG=tiny (about 10 min on 2 CPU "
                                f"cores, plus rendering the training set), "
                                f"or --system-option {cls.name}.checkpoint=/path/to/checkpoint.pt")
        return Availability(True)

    def _steps(self) -> int:
        """Diffusion sampler steps: ``--system-option NAME.steps=N``, else the scale's."""
        return int(self.context.options.get("steps", self.context.sampling_steps))

    def load_checkpoint(self) -> dict:
        """The checkpoint's state (hash-checked when shipped; read once per process)."""
        from bench.models.checkpoint_store import load_state

        return load_state(self.checkpoint(self.context.options))

    def checkpoint_fingerprint(self, state: dict) -> dict:
        """The weights' own hash: a training checkpoint and the inference file shipped from it
        produce the same outputs and share the cache."""
        from bench.models.checkpoint_store import weights_sha256

        return {"weights_sha256": weights_sha256(state), "trained_steps": state["step"]}

    def checkpoint_info(self, state: dict) -> dict:
        """Where the weights came from, for the record (repository-relative when inside it)."""
        from bench.models.checkpoint_store import source
        from bench.storage import file_sha256

        path = self.checkpoint(self.context.options).resolve()
        try:
            shown = str(path.relative_to(REPO_ROOT))
        except ValueError:
            shown = str(path)
        return {"checkpoint": shown, "weights": source(path), "checkpoint_sha256": file_sha256(str(path)),
                "trained_steps": state["step"], "trained_on": state["meta"].get("dataset")}
