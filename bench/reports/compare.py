"""``python -m bench compare A B``: is system A better than system B on the same items?

Reads the per-item scores a Table 1 run writes (``results/table1_items.csv``), pairs A's and B's
scores item by item (the items are shared: same clips, bands and seeds) and reports, per task
and adherence metric, A's advantage over B (the difference of their table entries, oriented so
that a positive value favours A), its 95 % paired stratified bootstrap interval and the share of
items where A is better (metrics/statistics.py: paired_difference).

With the run's embeddings file (the record's ``distribution_embeddings``, bench/core/distribution_stats.py)
it also reports A's FAD and KAD advantage, D = (1/G) sum_g (FAD_B,g - FAD_A,g) over the bands (the
pooled set at the smoke scale), on the items both systems have, with the percentile interval over
the very same resamples of those items for both systems (the reference set held fixed).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from bench.metrics.specs import ADHERENCE_SPECS


def read_items(path: Path) -> dict:
    """{(system, task): {item: row}} of the ok items of a *_items.csv file."""
    if not path.is_file():
        raise SystemExit(f"{path} not found: run `make table1` first (it writes the per-item scores)")
    out: dict = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["ok"] == "True":
                out.setdefault((row["system"], row["task"]), {})[row["item"]] = row
    return out


def distribution_difference(bundle: dict, system_a: str, system_b: str, task: str, pooled: bool) -> dict:
    """{"fad": entry, "kad": entry}: A's advantage (B's value minus A's, lower being better), its
    paired 95 % interval and the number of paired items, per task."""
    from bench.core.distribution_stats import LEVEL, Reference, band_counts
    from bench.metrics.distribution_intervals import (
        fad_resampled,
        frechet_resampler,
        kad_resampled,
        kernel_sums,
        percentile_interval,
    )

    reference = Reference.prepare(bundle["reference"], resamples=1)
    a = {(str(g), str(k)): e for k, g, e in bundle[(system_a, task)]}
    b = {(str(g), str(k)): e for k, g, e in bundle[(system_b, task)]}
    shared = sorted(set(a) & set(b))
    bands = sorted({g for g, _ in shared})
    picks = []  # (items of A, items of B, counts) per band, or one pooled entry
    for band in bands:
        keys = [key for key in shared if key[0] == band]
        if len(keys) >= 2:
            picks.append(([a[k] for k in keys], [b[k] for k in keys], band_counts(task, band, len(keys))))
    if pooled and picks:
        picks = [tuple(sum((p[i] for p in picks), []) for i in (0, 1)) + (np.hstack([p[2] for p in picks]),)]
    if not picks:
        return {m: {"advantage": None, "ci95": None, "n_items": 0} for m in ("fad", "kad")}
    values = {"fad": [], "kad": []}
    for items_a, items_b, counts in picks:
        for metric in values:
            pair = []
            for items in (items_a, items_b):
                if metric == "fad":
                    resampler = frechet_resampler(items, reference.mean, reference.cov)
                    pair.append((fad_resampled(resampler), fad_resampled(resampler, counts)))
                else:
                    sums = kernel_sums(items, reference.items, reference.bandwidth, reference.kernel_block)
                    pair.append((kad_resampled(sums), kad_resampled(sums, counts)))
            values[metric].append((pair[1][0] - pair[0][0], pair[1][1] - pair[0][1]))
    out = {}
    for metric, per_band in values.items():
        point = float(np.mean([p[0] for p, _ in per_band]))
        interval = percentile_interval(np.mean([r for _, r in per_band], axis=0), LEVEL)
        out[metric] = {"advantage": point, "ci95": list(interval), "n_items": sum(len(p[0]) for p in picks)}
    return out


def compare(
    items: dict, system_a: str, system_b: str, seed: int = 0, bundle: dict | None = None, pooled: bool = False
) -> dict:
    """``bundle``: the run's embeddings (bench/core/distribution_stats.py: read_bundle) for the
    FAD/KAD differences; without it only the adherence metrics are compared."""
    from bench.metrics.statistics import paired_difference

    tasks = sorted(
        {task for system, task in items if system == system_a}
        & {task for system, task in items if system == system_b}
    )
    if not tasks:
        known = sorted({system for system, _ in items})
        raise SystemExit(
            f"no task scored for both {system_a!r} and {system_b!r}; systems with items: {', '.join(known)}"
        )
    result = {"a": system_a, "b": system_b, "seed": seed, "level": 0.95, "tasks": {}}
    for task in tasks:
        a_items, b_items = items[(system_a, task)], items[(system_b, task)]
        shared = sorted(set(a_items) & set(b_items))
        groups = sorted({a_items[i]["group"] for i in shared})
        by_group = {g: [i for i in shared if a_items[i]["group"] == g] for g in groups}
        task_result = {"n_shared_items": len(shared), "metrics": {}}
        for spec in ADHERENCE_SPECS:

            def scores(table, metric=spec.key):
                return [[float(table[i][metric]) for i in by_group[g]] for g in groups]

            task_result["metrics"][spec.key] = paired_difference(
                scores(a_items), scores(b_items), spec.higher_is_better, seed=seed
            )
        if bundle is not None and (system_a, task) in bundle and (system_b, task) in bundle:
            task_result["distribution"] = distribution_difference(bundle, system_a, system_b, task, pooled)
        elif bundle is not None:  # a merged table: the embeddings file is its first run's
            result["distribution_note"] = (
                "not compared (the record's embeddings file has not both systems' items: a merged "
                "table? compare them in the run they come from)"
            )
        result["tasks"][task] = task_result
    return result


def verdict(entry: dict, a: str, b: str) -> str:
    if entry["ci95"] is None:
        return "no shared items"
    low, high = entry["ci95"]
    return f"{a} better" if low > 0 else f"{b} better" if high < 0 else "not resolved"


def render(result: dict) -> str:
    a, b = result["a"], result["b"]
    lines = []
    for task, task_result in result["tasks"].items():
        lines += [
            f"{task} ({task_result['n_shared_items']} paired items): advantage of {a} over {b} "
            f"(positive favours {a}; timbre in MCD dB)",
            "",
            f"| metric | advantage | 95 % interval | items where {a} is better | verdict |",
            "|---|---|---|---|---|",
        ]
        for metric, entry in task_result["metrics"].items():
            if entry["ci95"] is None:
                lines.append(f"| {metric} | – | – | – | no shared items |")
                continue
            low, high = entry["ci95"]
            lines.append(
                f"| {metric} | {entry['advantage']:+.4f} | [{low:+.4f}, {high:+.4f}] | "
                f"{100 * entry['a_better_fraction']:.1f} % | {verdict(entry, a, b)} |"
            )
        for metric, entry in task_result.get("distribution", {}).items():
            if entry["ci95"] is None:
                lines.append(f"| {metric} | – | – | – | no shared items |")
                continue
            low, high = entry["ci95"]
            lines.append(
                f"| {metric} | {entry['advantage']:+.4f} | [{low:+.4f}, {high:+.4f}] | "
                f"(set metric) | {verdict(entry, a, b)} |"
            )
        lines.append("")
    if "distribution_note" in result:
        lines += [f"FAD/KAD: {result['distribution_note']}", ""]
    return "\n".join(lines)
