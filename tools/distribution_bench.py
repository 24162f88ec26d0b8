"""``make bench`` part ``distribution-intervals``: the cost of the FAD / KAD bootstrap intervals
(bench/core/distribution_stats.py) per band, at the quick (32 items a band, 64 reference clips) and
paper (1024 items a band, 2048 reference clips) scales, on random 128-d embeddings, 6 rows an item
(the melstats embedder's shape; the cost depends on the shapes only)."""

from __future__ import annotations

import time

import numpy as np

SCALES = {"quick": (32, 64), "paper": (1024, 2048)}
ROWS, DIM = 6, 128


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def distribution_interval_benchmark(scales=("quick", "paper"), resamples: int = 1000) -> list[dict]:
    from bench.core.distribution_stats import Reference, band_counts, resampled_values

    out = []
    rng = np.random.default_rng(0)
    for scale in scales:
        n_items, n_clips = SCALES[scale]
        reference_items = [rng.normal(size=(ROWS, DIM)) for _ in range(n_clips)]
        items = [rng.normal(size=(ROWS, DIM)) + 0.1 for _ in range(n_items)]
        reference, prepare_s = _timed(lambda: Reference.prepare(reference_items, resamples))
        counts = band_counts("conditional", "0-0.0157", n_items, resamples)
        values, band_s = _timed(lambda: resampled_values(reference, items, counts))
        out.append(
            {
                "scale": scale,
                "items_per_band": n_items,
                "reference_clips": n_clips,
                "rows_per_item": ROWS,
                "dim": DIM,
                "resamples": resamples,
                "reference_once_per_run_s": round(prepare_s, 3),
                "per_band_s": round(band_s, 3),
                "per_band_per_system_of_20_bands_s": round(20 * band_s, 1),
                "fad_ci95_width": round(float(np.subtract(*np.percentile(values["fad"], [97.5, 2.5]))), 4),
            }
        )
        print(
            f"FAD/KAD intervals ({scale}: {n_items} items a band, {n_clips} reference clips, {resamples} "
            f"resamples over the items and over the reference): {band_s:.2f} s per band "
            f"({20 * band_s:.0f} s for a system's 14 + 6 bands), reference prepared once per run in "
            f"{prepare_s:.2f} s"
        )
    return out
