"""Intervals of a run's FAD and KAD entries, and the embeddings file ``compare`` reads.

Two percentile bootstraps (metrics/distribution_intervals.py), each with ``RESAMPLES`` resamples:

* over the generated items: within every band (group) its ok items, ordered by item key, are drawn
  with replacement from the stream ``distribution-bootstrap`` (seed, task, band) of
  bench/core/seeds.py; the reference set is held fixed. The draws depend only on the task, the band
  and the number of items, so two systems with the same items get the same resamples (``compare``
  pairs on them). A table entry (mean over bands, or the pooled set at the smoke scale) is
  recomputed from every band's resample r, so its interval is stratified like the adherence ones.
* over the reference set: its clips are drawn with replacement (stream ``reference-bootstrap``:
  one draw per run, shared by every system, task and band); the generated items are held fixed.

KAD's kernel bandwidth stays the full reference set's median pairwise distance in both.

The embeddings file (``CACHE/distribution/KEY.npz``, named with its sha256 in the record as
``distribution_embeddings``) holds the reference set's and every system's per-item embeddings as
float32 (keys ``reference``, ``SYSTEM::TASK::embeddings|rows|items|groups``): what ``compare`` and
the optional distribution metrics need, with no work unit to replan. It is about 3 KiB per item with
the melstats embedder (six 128-d rows), under 1 % of the generated audio kept in the same cache.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.seeds import stream_rng
from bench.core.storage import atomic_write_bytes
from bench.metrics.distribution import DistributionError, gaussian_stats, median_pairwise_distance
from bench.metrics.distribution_intervals import (
    IntervalError,
    bootstrap_counts,
    fad_resampled,
    frechet_resampler,
    gaussian_kernel_block_sums,
    kad_resampled,
    kernel_sums,
    percentile_interval,
)

RESAMPLES, LEVEL, SEED = 1000, 0.95, 0
BUNDLE_VERSION = "distribution-embeddings-v1"
DISTRIBUTION_METRICS = ("fad", "kad")


@dataclass
class Reference:
    """The reference set prepared once per run: its items (one [c, D] array per clip), Gaussian,
    KAD bandwidth and kernel block sums, and its bootstrap draws."""

    items: list
    mean: np.ndarray
    cov: np.ndarray
    bandwidth: float
    kernel_block: np.ndarray
    counts: np.ndarray

    @classmethod
    def prepare(cls, items: list, resamples: int = RESAMPLES, seed: int = SEED) -> "Reference":
        items = [np.asarray(a, dtype=np.float64) for a in items]
        stacked = np.concatenate(items)
        mean, cov = gaussian_stats(stacked, "reference set")
        bandwidth = median_pairwise_distance(stacked)
        if not bandwidth > 0:
            raise IntervalError(
                f"reference set: median pairwise distance {bandwidth} (identical embeddings?)"
            )
        gamma = 1.0 / (2.0 * bandwidth * bandwidth)
        counts = bootstrap_counts(stream_rng(seed, "reference-bootstrap"), len(items), resamples)
        return cls(items, mean, cov, bandwidth, gaussian_kernel_block_sums(items, items, gamma), counts)


def prepare_reference(items: list) -> tuple["Reference | None", str | None]:
    """(Reference, None), or (None, why) when the reference set gives no intervals (too few clips,
    identical embeddings): the run goes on without them."""
    try:
        return Reference.prepare(items), None
    except (DistributionError, IntervalError) as error:
        return None, str(error)


def band_counts(task: str, group: str, n_items: int, resamples: int = RESAMPLES, seed: int = SEED):
    """The [R, n] draws over a band's items (the same for every system: ``compare`` pairs on them)."""
    return bootstrap_counts(stream_rng(seed, "distribution-bootstrap", task, group), n_items, resamples)


def resampled_values(reference: Reference, items: list, counts: np.ndarray) -> dict[str, np.ndarray]:
    """FAD and KAD of the items resampled by ``counts`` [R, n] (reference fixed), and of the
    reference resampled by its own draws (items fixed): four arrays of R values."""
    items = [np.asarray(a, dtype=np.float64) for a in items]
    mean, cov = gaussian_stats(np.concatenate(items), "eval set")
    sums = kernel_sums(items, reference.items, reference.bandwidth, reference.kernel_block)
    return {
        "fad": fad_resampled(frechet_resampler(items, reference.mean, reference.cov), counts),
        "fad_reference": fad_resampled(
            frechet_resampler(reference.items, mean, cov, "reference set"), reference.counts
        ),
        "kad": kad_resampled(sums, counts),
        "kad_reference": kad_resampled(sums, None, reference.counts),
    }


def _intervals(values: dict[str, np.ndarray]) -> dict:
    """{"fad_ci95": [low, high], "fad_ci95_reference": ..., "kad_ci95": ..., "kad_ci95_reference": ...}"""
    out = {}
    for key, array in values.items():
        metric, _, side = key.partition("_")
        interval = percentile_interval(array, LEVEL)
        out[f"{metric}_ci95{'_' + side if side else ''}"] = None if interval is None else list(interval)
    return out


def task_intervals(reference: Reference, task: str, groups: dict, pooled: bool) -> tuple[dict, dict]:
    """({band: intervals}, the entry's intervals) for one system's task; ``groups`` is {band:
    [(item key, embedding)]} of its ok items. Per band only when FAD is per band (not ``pooled``)."""
    per_group, per_band_values, all_items, all_counts = {}, [], [], []
    for group in sorted(groups):
        members = sorted(groups[group], key=lambda pair: pair[0])
        if len(members) < 2:
            continue
        items = [embedding for _, embedding in members]
        counts = band_counts(task, group, len(items))
        if pooled:
            all_items += items
            all_counts.append(counts)
            continue
        try:
            values = resampled_values(reference, items, counts)
        except (DistributionError, IntervalError) as error:
            per_group[group] = {"distribution_ci95_error": str(error)}
            continue
        per_group[group] = _intervals(values)
        per_band_values.append(values)
    if pooled:
        if not all_items:
            return {}, {}
        try:
            values = resampled_values(reference, all_items, np.hstack(all_counts))
        except (DistributionError, IntervalError) as error:
            return {}, {"distribution_ci95_error": str(error)}
        return {}, _intervals(values)
    if not per_band_values:
        return per_group, {}
    mean = {key: np.mean([v[key] for v in per_band_values], axis=0) for key in per_band_values[0]}
    return per_group, _intervals(mean)


def bundle_bytes(reference_items: list, tasks: dict) -> bytes:
    """The embeddings file: ``tasks`` is {(system, task): [(item key, group, embedding)]}."""
    arrays = {
        "version": np.array(BUNDLE_VERSION),
        "reference": np.concatenate(reference_items).astype(np.float32),
        "reference_rows": np.array([len(a) for a in reference_items], dtype=np.int64),
    }
    for (system, task), members in sorted(tasks.items()):
        members = sorted(members, key=lambda m: m[0])
        prefix = f"{system}::{task}::"
        arrays[prefix + "items"] = np.array([m[0] for m in members], dtype=str)
        arrays[prefix + "groups"] = np.array([m[1] for m in members], dtype=str)
        arrays[prefix + "rows"] = np.array([len(m[2]) for m in members], dtype=np.int64)
        arrays[prefix + "embeddings"] = (
            np.concatenate([m[2] for m in members]).astype(np.float32) if members else np.zeros((0, 0))
        )
    buffer = io.BytesIO()
    named: dict[str, Any] = arrays
    np.savez(buffer, **named)
    return buffer.getvalue()


def write_bundle(cache_dir: str | Path, reference_items: list, tasks: dict) -> dict:
    """Write the embeddings file under ``cache_dir``/distribution/ (named by its content) and
    return the record's ``distribution_embeddings`` entry."""
    data = bundle_bytes(reference_items, tasks)
    sha = hashlib.sha256(data).hexdigest()
    path = Path(cache_dir) / "distribution" / f"{sha[:32]}.npz"
    if not path.is_file():
        atomic_write_bytes(path, data, False)
    return {"file": str(path), "sha256": sha, "version": BUNDLE_VERSION}


class BundleError(ValueError):
    """The embeddings file is missing, changed or lacks what was asked; the message says which."""


def read_bundle(entry: dict | None, record_path: str | Path = "") -> dict:
    """{"reference": [items], (system, task): [(item, group, embedding)]} from a record's
    ``distribution_embeddings`` entry, its hash checked."""
    if not entry:
        raise BundleError(
            f"{record_path}: the record names no embeddings file (made before FAD/KAD intervals): "
            "run the same table1 command again; its cached items are not recomputed"
        )
    path = Path(entry["file"])
    if not path.is_absolute():
        from bench.core.paths import REPO_ROOT

        path = REPO_ROOT / path
    try:
        data = path.read_bytes()
    except OSError:
        raise BundleError(
            f"{path}: the run's embeddings file is gone (cache deleted?): run the same table1 command again"
        ) from None
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise BundleError(f"{path}: its bytes are not those the record names (sha256 differs)")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    out: dict[Any, Any] = {
        "reference": np.split(arrays["reference"], np.cumsum(arrays["reference_rows"])[:-1])
    }
    for name in arrays:
        if name.endswith("::items"):
            system, task, _ = name.split("::")
            prefix = f"{system}::{task}::"
            rows = arrays[prefix + "rows"]
            embeddings = np.split(arrays[prefix + "embeddings"], np.cumsum(rows)[:-1]) if rows.size else []
            out[(system, task)] = list(zip(arrays[prefix + "items"], arrays[prefix + "groups"], embeddings))
    return out
