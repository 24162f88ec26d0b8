"""The family of systems whose weights the harness trains itself (``make train``): where their
checkpoint is found (models/checkpoint_store.py) and what of it enters the fingerprint and the
record. Used by systems/latentft.py and systems/families/prior_steered.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bench.core.paths import shown_path
from bench.core.system import Availability, Needs, System, validate_options


class TrainedSystem(System):
    """A system whose weights the harness trains (``make train SYSTEM=<trained_by>``).

    The checkpoint is ``--system-option <name>.checkpoint=PATH``, else the tiny one trained on this
    machine (results/checkpoints/), else the shipped one (models/weights/); see
    models/checkpoint_store.py.
    """

    trained_by: ClassVar[str] = ""
    needs = Needs(packages=("torch",))

    @dataclass(frozen=True)
    class Options:
        checkpoint: str | None = None  # the weights (default: trained here, else shipped)
        steps: int | None = None  # diffusion sampler steps (default: the scale's)

        def __post_init__(self):
            if self.steps is not None and self.steps < 1:
                raise ValueError(f"steps must be at least 1, not {self.steps}")

    @classmethod
    def checkpoint(cls, options=None) -> Path:
        from bench.models.checkpoint_store import resolve

        return resolve(cls.trained_by or cls.name, "tiny", validate_options(cls, options).checkpoint)

    @classmethod
    def availability(cls, options=None) -> Availability:
        base = super().availability(options)
        if not base.ok:
            return base
        from bench.models.checkpoint_store import how_to_get

        path = cls.checkpoint(options)
        if not path.is_file():
            cost = "10-20 min on 2 CPU cores, plus rendering the training set"
            return Availability(
                False,
                f"no checkpoint at {path}",
                f"{how_to_get(cls.trained_by or cls.name, 'tiny', cost)}, "
                f"or --system-option {cls.name}.checkpoint=/path/to/checkpoint.pt",
            )
        return Availability(True)

    def _steps(self) -> int:
        """Diffusion sampler steps: ``--system-option NAME.steps=N``, else the scale's."""
        return self.options.steps or self.context.sampling_steps

    def load_checkpoint(self) -> dict:
        """The checkpoint's state (hash-checked when shipped; read once per process)."""
        from bench.models.checkpoint_store import load_state

        return load_state(self.checkpoint(self.options))

    def checkpoint_fingerprint(self, state: dict) -> dict:
        """The weights' own hash: a training checkpoint and the inference file shipped from it
        produce the same outputs and share the cache."""
        from bench.models.checkpoint_store import weights_sha256

        return {"weights_sha256": weights_sha256(state), "trained_steps": state["step"]}

    def checkpoint_info(self, state: dict) -> dict:
        """Where the weights came from, for the record (repository-relative when inside it)."""
        from bench.core.storage import file_sha256
        from bench.models.checkpoint_store import source

        path = self.checkpoint(self.options).resolve()
        return {
            "checkpoint": shown_path(path),
            "weights": source(path),
            "checkpoint_sha256": file_sha256(str(path)),
            "trained_steps": state["step"],
            "trained_on": state["meta"].get("dataset"),
        }
