"""How wide the FAD / KAD intervals are for a given number of items a band (docs/metrics.md).

    python -m tools.interval_widths RUN.json [SYSTEM ...] [--resamples 200]

Reads the run's embeddings file (bench/core/distribution_stats.py), keeps n items of every band
(a seeded subset, for n = 4, 8, 16, ... up to the run's), and prints the width (high - low) of the
95 % bootstrap interval over the generated items of the table entry (the mean over bands) and of
one band, then fits width = a n^b on the log-log points to say how many items a band needs for a
given width (``--pooled``: every band's items as one set, for larger n). Read only: nothing is
written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def widths(bundle, system: str, task: str, resamples: int, sizes=None, pooled: bool = False) -> list[dict]:
    from bench.core.distribution_stats import Reference, band_counts
    from bench.metrics.distribution_intervals import (
        fad_resampled,
        frechet_resampler,
        kad_resampled,
        kernel_sums,
        percentile_interval,
    )

    reference = Reference.prepare(bundle["reference"], resamples=1)
    bands: dict = {}
    for _, group, embedding in bundle[(system, task)]:
        bands.setdefault("pooled" if pooled else str(group), []).append(embedding)
    largest = min(len(v) for v in bands.values())
    sizes = sizes or [n for n in (4, 8, 16, 32, 64, 128, 256, 512, 1024) if n <= largest]
    rng = np.random.default_rng(0)
    out = []
    for n in sizes:
        fad_values, kad_values = [], []
        for group, items in sorted(bands.items()):
            chosen = [items[i] for i in sorted(rng.choice(len(items), size=n, replace=False))]
            counts = band_counts(task, group, n, resamples)
            resampler = frechet_resampler(chosen, reference.mean, reference.cov)
            fad_values.append(fad_resampled(resampler, counts))
            sums = kernel_sums(chosen, reference.items, reference.bandwidth, reference.kernel_block)
            kad_values.append(kad_resampled(sums, counts))
        entry_fad = percentile_interval(np.mean(fad_values, axis=0))
        entry_kad = percentile_interval(np.mean(kad_values, axis=0))
        band_fad = np.median([np.subtract(*percentile_interval(v)[::-1]) for v in fad_values])
        out.append(
            {
                "items_per_band": n,
                "bands": len(bands),
                "entry_fad_width": entry_fad[1] - entry_fad[0],
                "entry_kad_width": entry_kad[1] - entry_kad[0],
                "band_fad_width_median": float(band_fad),
            }
        )
    return out


def fit(points: list[dict], key: str) -> tuple[float, float]:
    """(a, b) of width = a n^b, least squares on the logarithms."""
    n = np.log([p["items_per_band"] for p in points])
    w = np.log([p[key] for p in points])
    b, log_a = np.polyfit(n, w, 1)
    return float(np.exp(log_a)), float(b)


def main(argv=None) -> int:
    from bench.core.distribution_stats import read_bundle

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run")
    parser.add_argument("systems", nargs="*")
    parser.add_argument("--task", default="conditional")
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--pooled", action="store_true", help="all bands' items as one set (larger n)")
    args = parser.parse_args(argv)
    record = json.loads(Path(args.run).read_text())
    bundle = read_bundle(record.get("distribution_embeddings"), args.run)
    systems = args.systems or sorted({s for key in bundle if isinstance(key, tuple) for s in key[:1]})
    report = {}
    for system in systems:
        points = widths(bundle, system, args.task, args.resamples, pooled=args.pooled)
        report[system] = {"points": points}
        for key in ("entry_fad_width", "entry_kad_width", "band_fad_width_median"):
            a, b = fit(points, key)
            report[system][f"{key}_fit"] = {"a": a, "b": b}
        print(f"{system} ({args.task}):")
        for p in points:
            print(
                f"  n={p['items_per_band']:>4} a band: entry FAD width {p['entry_fad_width']:.3f}, "
                f"entry KAD width {p['entry_kad_width']:.3f}, one band's FAD width "
                f"{p['band_fad_width_median']:.3f} (median over bands)"
            )
        a, b = report[system]["entry_fad_width_fit"]["a"], report[system]["entry_fad_width_fit"]["b"]
        print(f"  entry FAD width ~ {a:.2f} n^{b:.2f}; n for width 1: {(1 / a) ** (1 / b):.0f}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
