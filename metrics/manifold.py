"""Precision, recall, density and coverage of a generated embedding set against a real one
(Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models"; the
definitions of the ``prdc`` package, 0.2).

Real set X (N rows), fake set Y (M rows), Euclidean distances d; r_k(x) is the distance from x to
its k-th nearest neighbour within its own set (the point itself not counted), B(x, r) the open
ball {z : d(x, z) < r}.
    precision = (1/M) sum_j 1[exists i: Y_j in B(X_i, r_k(X_i))]
    recall    = (1/N) sum_i 1[exists j: X_i in B(Y_j, r_k(Y_j))]
    density   = (1/(k M)) sum_j sum_i 1[Y_j in B(X_i, r_k(X_i))]
    coverage  = (1/N) sum_i 1[min_j d(X_i, Y_j) < r_k(X_i)]
Inputs are [N, D] arrays; arithmetic in float64.
"""

from __future__ import annotations

import numpy as np

NEAREST_K = 5  # the prdc package's README value


class ManifoldError(ValueError):
    """Sets too small for the chosen k, or malformed; the message names which set."""


def _check(name: str, x, minimum: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ManifoldError(f"{name}: expected an [N, D] array of embeddings, got shape {x.shape}")
    if x.shape[0] < minimum:
        raise ManifoldError(f"{name}: {x.shape[0]} embeddings, at least {minimum} are needed")
    if not np.all(np.isfinite(x)):
        raise ManifoldError(f"{name}: embeddings contain NaN or infinite values")
    return x


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def nearest_neighbour_radii(x: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """r_k of every row: the (k+1)-th smallest distance in its row of the set's own distance
    matrix (the smallest being the point itself); ``chunk`` rows at a time."""
    x = np.asarray(x, dtype=np.float64)
    radii = np.empty(x.shape[0])
    for start in range(0, x.shape[0], chunk):
        distances = pairwise_distances(x[start : start + chunk], x)
        rows = np.arange(distances.shape[0])
        distances[rows, start + rows] = 0.0
        radii[start : start + chunk] = np.partition(distances, k, axis=1)[:, k]
    return radii


def prdc(real, fake, nearest_k: int = NEAREST_K, real_radii: np.ndarray | None = None) -> dict[str, float]:
    """{"precision", "recall", "density", "coverage"} of ``fake`` against ``real`` (module
    docstring); ``real_radii``: r_k of the real set when already computed (it does not depend on
    the fake set)."""
    if nearest_k < 1:
        raise ManifoldError(f"nearest_k must be at least 1, not {nearest_k}")
    x = _check("real (reference) set", real, nearest_k + 1)
    y = _check("fake (generated) set", fake, nearest_k + 1)
    if x.shape[1] != y.shape[1]:
        raise ManifoldError(f"real set is {x.shape[1]}-d but fake set {y.shape[1]}-d")
    real_radii = nearest_neighbour_radii(x, nearest_k) if real_radii is None else real_radii
    fake_radii = nearest_neighbour_radii(y, nearest_k)
    in_real_balls = np.zeros(y.shape[0])  # per fake row: how many real balls hold it
    recalled = np.zeros(x.shape[0], dtype=bool)
    covered = np.zeros(x.shape[0], dtype=bool)
    for start in range(0, x.shape[0], 1024):
        cross = pairwise_distances(x[start : start + 1024], y)  # [chunk of real, M]
        inside = cross < real_radii[start : start + 1024, None]
        in_real_balls += inside.sum(axis=0)
        recalled[start : start + 1024] = (cross < fake_radii[None, :]).any(axis=1)
        covered[start : start + 1024] = inside.any(axis=1)  # min_j d < r  <=>  some d < r
    return {
        "precision": float((in_real_balls > 0).mean()),
        "recall": float(recalled.mean()),
        "density": float(in_real_balls.mean() / nearest_k),
        "coverage": float(covered.mean()),
    }
