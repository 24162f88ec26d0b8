"""``table1 --distribution fad,kad,prdc,mauve,fad-inf``: the optional distribution metrics of a run,
computed from its embeddings file (bench/core/distribution_stats.py) and added to its record.

FAD and KAD (with their intervals) are always in the record; the others are computed here, per
band and as the table's entry (the mean over bands; the pooled set at the smoke scale):

* ``prdc``: precision, recall, density, coverage (metrics/manifold.py, k = 5) of the generated
  clips against the reference clips, a clip being the mean of its embedding rows;
* ``mauve``: MAUVE (metrics/mauve_score.py) of the same clip embeddings, K = max(2, round(min(n,
  N) / 10)) buckets, k-means seeded by the stream ``mauve-kmeans`` (system, task, band);
* ``fad-inf``: FAD-inf (metrics/distribution_intervals.py) over ``FAD_INF_STEPS`` item counts,
  with its percentile interval over ``FAD_INF_RESAMPLES`` item resamples (the draws of the FAD
  intervals' stream, fewer of them: each resample costs ``FAD_INF_STEPS`` Frechet distances).

Each value is cached as JSON under ``CACHE/distribution/values/``, keyed by the embeddings file's
hash, the system, task, metric, its settings and the code tag of the metric's module, like the
embeddings are keyed by their embedder's code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.core.distribution_stats import LEVEL, Reference, band_counts, read_bundle
from bench.core.item_cache import code_tag
from bench.core.seeds import stream_rng
from bench.core.storage import atomic_write_json, content_key, read_json
from bench.metrics import distribution_intervals, manifold, mauve_score
from bench.metrics.distribution_intervals import (
    IntervalError,
    fad_inf_resampled,
    frechet_resampler,
    percentile_interval,
)
from bench.metrics.manifold import ManifoldError, nearest_neighbour_radii, prdc
from bench.metrics.mauve_score import MauveError, mauve

CHOICES = ("fad", "kad", "prdc", "mauve", "fad-inf")
DEFAULT = ("fad", "kad")
FAD_INF_STEPS, FAD_INF_RESAMPLES = 10, 200
MODULES = {"prdc": manifold, "mauve": mauve_score, "fad-inf": distribution_intervals}


def parse(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in CHOICES]
    if unknown:
        raise SystemExit(
            f"--distribution: unknown metric(s) {', '.join(unknown)}; choose from {', '.join(CHOICES)}"
        )
    return names


def _clip_means(items) -> np.ndarray:
    return np.stack([np.asarray(e, dtype=np.float64).mean(axis=0) for e in items])


def _compute(metric: str, reference: Reference, system: str, task: str, group: str, items, radii) -> dict:
    if metric == "prdc":
        return prdc(_clip_means(reference.items), _clip_means(items), manifold.NEAREST_K, radii)
    if metric == "mauve":
        rng = stream_rng(0, "mauve-kmeans", system, task, group)
        return {"mauve": mauve(_clip_means(items), _clip_means(reference.items), rng)["mauve"]}
    resampler = frechet_resampler(items, reference.mean, reference.cov)
    point = fad_inf_resampled(resampler, stream_rng(0, "fad-inf", system, task, group), steps=FAD_INF_STEPS)
    counts = band_counts(task, group, len(items), FAD_INF_RESAMPLES)
    boot = fad_inf_resampled(
        resampler, stream_rng(0, "fad-inf", system, task, group, "bootstrap"), counts, FAD_INF_STEPS
    )
    return {
        "fad_inf": float(point["values"][0]),
        "fad_inf_r2": float(point["r2"][0]),
        "_boot": boot["values"],
    }


def _cached(cache: Path, key_parts: list, compute) -> dict:
    path = cache / f"{content_key(*key_parts)}.json"
    if path.is_file():
        try:
            stored = read_json(path)
            if "_boot" in stored:
                stored["_boot"] = np.asarray(stored["_boot"])
            return stored
        except ValueError:
            pass
    value = compute()
    atomic_write_json(
        path, {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in value.items()}, durable=False
    )
    return value


def extend_record(record: dict, metrics: tuple[str, ...], cache_dir: str | Path, record_path="") -> dict:
    """The record with ``distribution`` entries per band and per entry for the optional metrics
    (those of ``metrics`` beyond fad and kad); unchanged when there are none."""
    extra = [m for m in metrics if m not in DEFAULT]
    if not extra:
        return record
    bundle = read_bundle(record.get("distribution_embeddings"), record_path)
    reference = Reference.prepare(bundle["reference"], resamples=1)
    radii = nearest_neighbour_radii(_clip_means(reference.items), manifold.NEAREST_K)
    pooled = record.get("fad_aggregate") == "pooled"
    cache = Path(cache_dir) / "distribution" / "values"
    for system, row in record["rows"].items():
        for task, result in row["tasks"].items():
            members = bundle.get((system, task), [])
            groups: dict = {}
            for key, group, embedding in members:
                groups.setdefault("pooled" if pooled else str(group), []).append(embedding)
            per_band = {}
            for group, items in sorted(groups.items()):
                values: dict = {}
                for metric in extra:
                    parts = [record["distribution_embeddings"]["sha256"], system, task, group, metric]
                    parts += [
                        FAD_INF_STEPS,
                        FAD_INF_RESAMPLES,
                        LEVEL,
                        code_tag(Path(MODULES[metric].__file__)),
                    ]
                    try:
                        values.update(
                            _cached(
                                cache,
                                parts,
                                lambda: _compute(metric, reference, system, task, group, items, radii),
                            )
                        )
                    except (IntervalError, ManifoldError, MauveError, ValueError) as error:
                        values[f"{metric}_error"] = str(error)
                per_band[group] = values
            _attach(result, per_band, pooled)
    record["distribution_metrics"] = {
        "metrics": list(metrics),
        "unit": "prdc and mauve: one embedding per clip (the mean of its rows); fad-inf: items' rows",
        "prdc_nearest_k": manifold.NEAREST_K,
        "mauve": {"scaling": mauve_score.SCALING, "buckets": "max(2, round(min(n, N) / 10))"},
        "fad_inf": {"steps": FAD_INF_STEPS, "resamples": FAD_INF_RESAMPLES, "level": LEVEL},
        "module": "bench/reports/distribution_metrics.py",
    }
    return record


def _attach(result: dict, per_band: dict, pooled: bool) -> None:
    entry: dict = {}
    boots = []
    for group, values in per_band.items():
        if "_boot" in values:
            boots.append(values["_boot"])
        shown = {k: v for k, v in values.items() if k != "_boot"}
        if "_boot" in values:
            interval = percentile_interval(values["_boot"], LEVEL)
            shown["fad_inf_ci95"] = None if interval is None else list(interval)
        if not pooled and group in result["per_group"]:
            result["per_group"][group]["distribution"] = shown
    keys = {k for values in per_band.values() for k, v in values.items() if isinstance(v, float)}
    for key in sorted(keys):
        numbers = [v[key] for v in per_band.values() if isinstance(v.get(key), float)]
        entry[key] = float(np.mean(numbers))
    if boots:
        interval = percentile_interval(np.mean(boots, axis=0), LEVEL)
        entry["fad_inf_ci95"] = None if interval is None else list(interval)
    errors = sorted({v for values in per_band.values() for k, v in values.items() if k.endswith("_error")})
    if errors:
        entry["errors"] = errors
    result["summary"]["distribution"] = entry
