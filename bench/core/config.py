"""Run configuration and the three scales."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bench.core.paths import REPO_ROOT


@dataclass(frozen=True)
class Scale:
    name: str
    n_conditional: int  # clips for conditional generation (one per song)
    n_pairs: int  # blending pairs: clip i with clip i + n_pairs
    dataset_clips: int  # clips the embedded dataset renders (the FAD reference set)
    vocoder: str
    fad_aggregate: str  # "mean-over-bands" or "pooled"
    sampling_steps: int  # diffusion sampler steps (the paper: 100)


SCALES = {
    "smoke": Scale("smoke", 3, 3, 8, "griffin-lim:16", "pooled", 8),
    "quick": Scale("quick", 32, 32, 64, "griffin-lim:32", "mean-over-bands", 25),
    # quick's evaluation set and settings on fewer items: make table-ablations' default (6 LatentFT rows)
    "small": Scale("small", 12, 12, 64, "griffin-lim:32", "mean-over-bands", 25),
    "paper": Scale("paper", 1024, 1024, 2048, "griffin-lim:32", "mean-over-bands", 100),
}

DEFAULT_SYSTEMS = (
    "reference",
    "shuffled",
    "spectrogram",
    "cross-synthesis",
    "latentft-mlp",
    "latentft-unet",
    "latentft-dac",
    "ilvr",
    "ilvr-paper",
    "guidance",
    "dac",
    "rave",
)


@dataclass(frozen=True)
class RunConfig:
    scale: str = "quick"
    seed: int = 0
    data_seed: int = 0  # the embedded dataset's render seed
    data: str | None = None  # a folder of audio; None = the embedded music21 set
    split_file: str | None = None
    systems: tuple[str, ...] = DEFAULT_SYSTEMS
    tasks: tuple[str, ...] = ("conditional", "blend")
    embedder: str = "melstats"
    descriptors: str = "fast"  # "fast" (batched torch) or "reference" (librosa)
    vocoder: str | None = None  # None = the scale's
    batch_size: int = 8
    strict: bool = False
    retry_failed: bool = False
    system_options: dict = field(default_factory=dict)  # {system: {key: value}}
    out_dir: str = str(REPO_ROOT / "results")
    cache_dir: str = str(REPO_ROOT / "results" / "cache")
    data_cache_dir: str = str(REPO_ROOT / "datasets" / "cache")
    device: str = "cpu"
    progress: bool = True

    @property
    def scale_spec(self) -> Scale:
        try:
            return SCALES[self.scale]
        except KeyError:
            raise ValueError(f"unknown scale {self.scale!r}; choose from {', '.join(SCALES)}") from None

    @property
    def vocoder_spec(self) -> str:
        return self.vocoder or self.scale_spec.vocoder

    def replace(self, **changes) -> "RunConfig":
        return replace(self, **changes)

    def public(self) -> dict:
        """The settings that define the results (no paths, no display options)."""
        d = asdict(self)
        for private in (
            "out_dir",
            "cache_dir",
            "data_cache_dir",
            "progress",
            "batch_size",
            "retry_failed",
            "device",
        ):
            d.pop(private)
        if d["data"]:
            d["data"] = Path(d["data"]).name
        d["scale_spec"] = asdict(self.scale_spec)
        d["vocoder"] = self.vocoder_spec
        return d


def parse_system_options(pairs: list[str]) -> dict:
    """``SYSTEM.KEY=VALUE`` pairs (``--system-option``) as {system: {key: value}}, values as given."""
    options: dict[str, dict] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        system, dot, option = key.partition(".")
        if not sep or not dot:
            raise SystemExit(f"--system-option {pair!r}: expected SYSTEM.KEY=VALUE")
        options.setdefault(system, {})[option] = value
    return options
