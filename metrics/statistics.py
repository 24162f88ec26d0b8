"""Uncertainty of a table entry: a stratified percentile bootstrap over the items of each group.

A Table 1 entry is T = (1/G) sum_g mean(x_g): the mean over G groups (bands or band pairs) of
the mean of that group's item scores x_g. Each of R resamples draws n_g items with replacement
within every group g and recomputes T; the interval is the (1 - level)/2 and (1 + level)/2
quantiles of the R values (Efron's percentile interval). Non-finite scores are left out first and
a group with no finite score is left out of T, as in the table itself. Seeded: the same scores in
the same order give the same interval.
"""

from __future__ import annotations

import numpy as np


def stratified_bootstrap_ci(
    groups: list, n_resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """(low, high) percentile interval of the mean of group means; None without any finite score."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), not {level}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, not {n_resamples}")
    cleaned = []
    for values in groups:
        values = np.asarray(values, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if values.size:
            cleaned.append(values)
    if not cleaned:
        return None
    rng = np.random.default_rng(seed)
    statistic = np.zeros(n_resamples)
    for values in cleaned:
        picks = rng.integers(0, values.size, size=(n_resamples, values.size))
        statistic += values[picks].mean(axis=1)
    statistic /= len(cleaned)
    low, high = np.quantile(statistic, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(low), float(high)


def paired_difference(
    groups_a: list,
    groups_b: list,
    higher_is_better: bool = True,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict:
    """Two systems scored on the same items, grouped as in the table: the advantage of A,
        d_i = s_A,i - s_B,i  (s_B,i - s_A,i when lower is better), D = (1/G) sum_g mean(d_g),
    which is A's table entry minus B's (oriented so that D > 0 favours A), with the stratified
    percentile bootstrap interval of D over the paired items. Items where either score is not
    finite are dropped from both. Returns {"advantage", "ci95", "a_better_fraction", "n_items"}."""
    if len(groups_a) != len(groups_b):
        raise ValueError(f"{len(groups_a)} groups for A but {len(groups_b)} for B")
    sign = 1.0 if higher_is_better else -1.0
    differences = []
    for a, b in zip(groups_a, groups_b):
        a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
        if a.shape != b.shape:
            raise ValueError(f"a group has {a.size} items for A but {b.size} for B: pair them first")
        keep = np.isfinite(a) & np.isfinite(b)
        if keep.any():
            differences.append(sign * (a[keep] - b[keep]))
    if not differences:
        return {"advantage": None, "ci95": None, "a_better_fraction": None, "n_items": 0}
    every = np.concatenate(differences)
    return {
        "advantage": float(np.mean([d.mean() for d in differences])),
        "ci95": stratified_bootstrap_ci(differences, n_resamples, level, seed),
        "a_better_fraction": float(np.mean(every > 0)),
        "n_items": int(every.size),
    }
