"""What a worker holds across work units (:class:`UnitContext`: the evaluation set, vocoder,
embedder, descriptor backend, each system's model, each loaded once) and the timers of a unit's
phases."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench.core.config import RunConfig
from bench.core.item_cache import DescriptorBackend, FeatureCache, OutputStore, ScoreStore
from bench.core.system import RunContext
from bench.datasets.clipset import ClipSet
from bench.metrics.descriptors import Descriptors


class Phases:
    """Wall seconds spent in each phase of a unit, summed."""

    def __init__(self, into: dict):
        self.into = into

    def __call__(self, name: str):
        return PhaseTimer(self.into, name)


class PhaseTimer:
    def __init__(self, into: dict, name: str):
        self.into, self.name = into, name

    def __enter__(self):
        self.began = time.perf_counter()

    def __exit__(self, *exc):
        self.into[self.name] = self.into.get(self.name, 0.0) + time.perf_counter() - self.began


class UnitContext:
    """What a worker holds across units: the evaluation set, vocoder, embedder, descriptor
    backend and each system's model, each loaded once."""

    def __init__(
        self,
        config: RunConfig,
        clipset: ClipSet,
        features: FeatureCache,
        vocoder,
        cache_root: Path | None = None,
    ):
        self.config = config
        self.clipset = clipset
        self.features = features
        self.vocoder = vocoder
        self.cache_root = Path(cache_root or config.cache_dir)
        self.systems: dict[str, object] = {}
        self.phase = Phases({})
        self._clip_descriptors: dict[str, Descriptors] = {}

    @classmethod
    def build(cls, config: RunConfig, cache_root: Path | None = None) -> "UnitContext":
        from bench.core.evalset import load_dataset
        from bench.core.registry import make_embedder, make_vocoder

        clipset = load_dataset(config, False)
        root = Path(cache_root or config.cache_dir)
        features = FeatureCache(
            root,
            make_embedder(config.embedder, config.device),
            DescriptorBackend(config.descriptors, config.device),
        )
        return cls(config, clipset, features, make_vocoder(config.vocoder_spec, config.device), root)

    def system(self, name: str):
        if name not in self.systems:
            from bench.core.registry import get_system_class

            self.systems[name] = get_system_class(name)(self.run_context(name))
        return self.systems[name]

    def run_context(self, name: str) -> RunContext:
        return RunContext(
            np.asarray(self.clipset.clips),
            list(self.clipset.ids),
            self.vocoder,
            self.config.device,
            dict(self.config.system_options.get(name, {})),
            self.config.scale_spec.sampling_steps,
        )

    def outputs(self, system: str) -> OutputStore:
        return OutputStore(self.cache_root, system)

    def scores(self, system: str) -> ScoreStore:
        return ScoreStore(
            self.cache_root, system, self.features.backend.cache_id, self.features.embedder_cache_id
        )

    def clip_descriptors(self, clip_id: str) -> Descriptors:
        index = self.clipset.index(clip_id)
        sha = self.clipset.manifest["clips"][index]["sha256"]
        if sha not in self._clip_descriptors:
            self._clip_descriptors[sha] = self.features.descriptors(self.clipset.clips[index], sha)
        return self._clip_descriptors[sha]
