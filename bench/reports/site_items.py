"""The items a run's report shows, and what it shows of them: for every system and task, the items
that score worst on each adherence metric (the run's ``<stem>_items.csv``) and on distance to the
reference distribution (metrics/item_distance.py: the squared Mahalanobis distance of the item's
embedding under the Gaussian of the reference set's embeddings, the one FAD fits), with the
generated clip (the run's content cache, bench/core/item_cache.py ``OutputStore``), the reference
clips (the evaluation set, bench/core/evalset.py) and their descriptor curves (the cache's, else
computed with the run's descriptor implementation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.item_cache import DescriptorBackend, OutputStore, embedder_cache_id
from bench.core.system import BLEND, CONDITIONAL
from bench.core.tasks import Selection, blend_items, conditional_items, item_seed
from bench.core.units import output_key
from bench.metrics.descriptors import Descriptors
from bench.metrics.item_distance import ItemDistanceError, mahalanobis_sq, reference_gaussian
from bench.metrics.specs import ADHERENCE_SPECS

DISTANCE = "ref_distance"  # the column of the per-item distance to the reference distribution
DISTANCE_LABEL = "Mahalanobis D²/d to the reference Gaussian"


class SiteInputError(ValueError):
    """A run whose report cannot be made; the message names the file and what was wrong."""


@dataclass
class ShownItem:
    system: str
    task: str
    key: str  # the item's key (bench/core/tasks.py)
    item: object  # ConditionalItem / BlendItem
    output: np.ndarray
    scores: dict
    worst_on: list[str] = field(default_factory=list)  # "loudness (#1)", ...


def load_clipset(record: dict, run: Path, data: str | None, data_cache: str | None):
    """The run's evaluation set, checked against its manifest hash (bench/reports/results.py)."""
    from bench.reports.results import ResultsError, run_clipset

    try:
        return run_clipset(record, run, data, data_cache)
    except ResultsError as error:
        raise SiteInputError(str(error)) from None


def run_items(record: dict) -> dict[str, dict]:
    """{task: {item key: item}} of the run's selection."""
    chosen = record["selection"]
    selection = Selection(
        chosen["seed"], tuple(chosen["conditional"]), tuple(tuple(p) for p in chosen["pairs"])
    )
    return {
        CONDITIONAL: {i.key: i for i in conditional_items(selection)},
        BLEND: {i.key: i for i in blend_items(selection)},
    }


class RunCache:
    """A run's cached outputs, embeddings and descriptors (bench/core/item_cache.py's layout)."""

    def __init__(self, record: dict, run: Path, cache_dir: Path, clipset):
        self.record, self.run, self.root, self.clipset = record, run, Path(cache_dir), clipset
        self.items = run_items(record)
        self._embedder = None
        self._backend = None

    def output(self, system: str, task: str, key: str) -> tuple[np.ndarray, str]:
        """The generated clip and its hash, verified against its record."""
        row = self.record["rows"][system]
        item = self.items[task][key]
        out_key = output_key(
            row["fingerprint"], task, item, self.clipset, item_seed(self.record["config"]["seed"], task, item)
        )
        store = OutputStore(self.root, system)
        meta = store.record(out_key)
        audio = store.verified_audio(out_key, meta["sha256"]) if meta and meta.get("ok") else None
        if audio is None:
            raise SiteInputError(
                f"{self.run}: the output of {system!r} on {task} item {key!r} is not in the cache "
                f"{self.root} (run the table again with this cache, or pass --cache)"
            )
        return np.asarray(audio, dtype=np.float64), meta["sha256"]

    def clip(self, clip_id: str) -> tuple[np.ndarray, str]:
        index = self.clipset.index(clip_id)
        return np.asarray(self.clipset.clips[index], dtype=np.float64), self.clipset.manifest["clips"][index][
            "sha256"
        ]

    def embedding(self, audio: np.ndarray, sha: str) -> np.ndarray:
        """The cached embedding under the run's embedder cache id; computed when absent."""
        path = self.root / "embeddings" / self.record["embedder"]["cache_id"] / sha[:2] / f"{sha}.npy"
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            pass
        if self._embedder is None:
            from bench.core.registry import make_embedder

            self._embedder = make_embedder(self.record["config"]["embedder"])
            if embedder_cache_id(self._embedder) != self.record["embedder"]["cache_id"]:
                raise SiteInputError(
                    f"{self.run}: embeddings missing from the cache and the embedder's code changed since "
                    f"the run ({embedder_cache_id(self._embedder)} vs {self.record['embedder']['cache_id']})"
                )
        return np.asarray(self._embedder.embed(audio), dtype=np.float64)

    def descriptors(self, audio: np.ndarray, sha: str) -> Descriptors:
        path = self.root / "descriptors" / self.record["descriptors_cache_id"] / sha[:2] / f"{sha}.npz"
        try:
            with np.load(path, allow_pickle=False) as data:
                return Descriptors(data["loudness"], data["onset"], data["mfcc"], data["tonnetz"])
        except (OSError, ValueError, KeyError):
            pass
        if self._backend is None:
            self._backend = DescriptorBackend(self.record["config"].get("descriptors", "fast"))
        return self._backend([audio])[0]

    def reference_gaussian(self):
        rows = [self.embedding(*self.clip(clip_id)) for clip_id in self.clipset.ids]
        return reference_gaussian(np.concatenate([np.atleast_2d(r) for r in rows]))


def distances(cache: RunCache, items: pd.DataFrame) -> pd.Series:
    """D^2 / d of every successful item of ``items`` (rows: system, task, item); NaN for an item whose
    embedding cannot be scored (it is then not ranked on distance)."""
    try:
        mu, cholesky = cache.reference_gaussian()
    except ItemDistanceError as error:
        raise SiteInputError(
            f"{cache.run}: the reference embeddings cannot be summarised ({error})"
        ) from None
    values = []
    for row in items.itertuples(index=False):
        audio, sha = cache.output(row.system, row.task, row.item)
        try:
            values.append(mahalanobis_sq(cache.embedding(audio, sha), mu, cholesky) / mu.shape[0])
        except ItemDistanceError:
            values.append(float("nan"))
    return pd.Series(values, index=items.index, dtype=float)


def worst_items(items: pd.DataFrame, n: int) -> dict[tuple[str, str], dict[str, list[str]]]:
    """{(system, task): {metric: the n worst item keys, worst first}} over the successful items."""
    order = [(spec.key, spec.higher_is_better) for spec in ADHERENCE_SPECS] + [(DISTANCE, False)]
    chosen = {}
    for (system, task), group in items.groupby(["system", "task"], sort=False):
        picks = {}
        for metric, higher in order:
            if metric not in group:
                continue
            ranked = group.dropna(subset=[metric]).sort_values(
                [metric, "item"], ascending=[higher, True], kind="stable"
            )
            picks[metric] = list(ranked["item"].head(n))
        chosen[(system, task)] = picks
    return chosen
