"""MAUVE of a generated embedding set P against a reference set Q (Pillutla et al. 2021; the
definition of the ``mauve-text`` package, 0.4, over any embedder: MAD is MAUVE over MERT embeddings).

1. Quantise: the rows of Q and P, each scaled to unit L2 norm, are projected on the first principal
   components of their union (PCA, centred, not whitened) that explain ``explained_variance`` (0.9)
   of its variance, and clustered by k-means into K buckets (default K = max(2, round(min(|P|,
   |Q|) / 10))); p and q are the histograms of P's and Q's rows over the buckets.
2. Divergence frontier: for mixture weights lambda in linspace(1e-6, 1 - 1e-6, 25),
   R_lambda = lambda p + (1 - lambda) q and the point
       (exp(-c KL(q || R_lambda)), exp(-c KL(p || R_lambda))),   c = ``scaling`` (5),
   plus the extremes (1, 0) and (0, 1); KL(a || b) = sum_{a_i > 0} a_i log(a_i / b_i).
3. MAUVE = (1/2) (area under the curve y(x) + area under x(y)), each by the trapezoid rule over
   the points sorted by the abscissa.

k-means here is Lloyd's algorithm with k-means++ seeding, ``n_init`` runs, the lowest inertia
kept, seeded by the caller; the package uses faiss's k-means (seed 25 + 2), so the two agree where
the clustering is unambiguous (separated clusters) and step 2-3 agree exactly on any histograms.
"""

from __future__ import annotations

import numpy as np

SCALING, CURVE_POINTS, EXPLAINED_VARIANCE = 5.0, 25, 0.9


class MauveError(ValueError):
    """Sets that cannot be quantised; the message names which set."""


def _check(name: str, x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise MauveError(f"{name}: expected an [N >= 2, D] array of embeddings, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise MauveError(f"{name}: embeddings contain NaN or infinite values")
    return x


def kl_multinomial(a: np.ndarray, b: np.ndarray) -> float:
    """KL(a || b) = sum over a_i > 0 of a_i log(a_i / b_i); infinite when some b_i = 0 < a_i."""
    if np.any((a > 0) & (b == 0)):
        return np.inf
    keep = (a > 0) & (b > 0)
    return float(np.sum(a[keep] * np.log(a[keep] / b[keep])))


def divergence_curve(p: np.ndarray, q: np.ndarray, points: int = CURVE_POINTS, scaling: float = SCALING):
    """[points + 2, 2]: (exp(-c KL(q || R)), exp(-c KL(p || R))) along the mixtures, with the extremes."""
    curve = [[0.0, np.inf]]
    for weight in np.linspace(1e-6, 1 - 1e-6, points):
        mixture = weight * p + (1 - weight) * q
        curve.append([kl_multinomial(q, mixture), kl_multinomial(p, mixture)])
    curve.append([np.inf, 0.0])
    return np.exp(-scaling * np.asarray(curve))


def _area(x: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2.0))


def mauve_from_histograms(p, q, points: int = CURVE_POINTS, scaling: float = SCALING) -> float:
    """Steps 2-3 of the module docstring on two histograms over the same buckets."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise MauveError(f"histograms of shapes {p.shape} and {q.shape}")
    x, y = divergence_curve(p / p.sum(), q / q.sum(), points, scaling).T
    return 0.5 * (_area(x, y) + _area(y, x))


def kmeans(data: np.ndarray, k: int, rng: np.random.Generator, n_init: int = 5, max_iter: int = 500):
    """Labels of the lowest-inertia run of Lloyd's algorithm (k-means++ seeding)."""
    best, best_inertia = None, np.inf
    norms = (data * data).sum(1)
    for _ in range(n_init):
        centres = [data[rng.integers(len(data))]]
        for _ in range(1, k):
            gaps = np.min(
                norms[:, None] + (np.asarray(centres) ** 2).sum(1)[None] - 2 * data @ np.asarray(centres).T, 1
            )
            gaps = np.maximum(gaps, 0.0)
            centres.append(data[rng.choice(len(data), p=gaps / gaps.sum())] if gaps.sum() > 0 else data[0])
        means = np.asarray(centres)
        labels = None
        for _ in range(max_iter):
            squared = norms[:, None] + (means * means).sum(1)[None] - 2 * data @ means.T
            new = squared.argmin(1)
            if labels is not None and np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                members = data[labels == j]
                if len(members):
                    means[j] = members.mean(0)
        inertia = float(np.maximum(squared[np.arange(len(data)), labels], 0).sum())
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best


def quantise(p, q, buckets: int | None, rng: np.random.Generator, explained_variance=EXPLAINED_VARIANCE):
    """Step 1: the bucket histograms (counts) of P's and Q's rows."""
    p, q = _check("generated set (P)", p), _check("reference set (Q)", q)
    if p.shape[1] != q.shape[1]:
        raise MauveError(f"generated set is {p.shape[1]}-d but reference set {q.shape[1]}-d")
    k = buckets if buckets is not None else max(2, int(round(min(len(p), len(q)) / 10)))
    data = np.vstack([q, p])
    data = data / np.maximum(np.linalg.norm(data, axis=1, keepdims=True), 1e-12)
    centred = data - data.mean(0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    ratio = singular**2 / np.sum(singular**2)
    keep = int(np.argmax(np.cumsum(ratio) >= explained_variance)) + 1
    labels = kmeans(centred @ components[:keep].T, k, rng)
    return np.bincount(labels[len(q) :], minlength=k), np.bincount(labels[: len(q)], minlength=k)


def mauve(
    p,
    q,
    rng: np.random.Generator,
    buckets: int | None = None,
    scaling: float = SCALING,
    points: int = CURVE_POINTS,
) -> dict:
    """{"mauve", "buckets", "p_hist", "q_hist"} of generated rows ``p`` against reference rows ``q``."""
    p_counts, q_counts = quantise(p, q, buckets, rng)
    return {
        "mauve": mauve_from_histograms(p_counts, q_counts, points, scaling),
        "buckets": int(p_counts.size),
        "p_hist": (p_counts / p_counts.sum()).tolist(),
        "q_hist": (q_counts / q_counts.sum()).tolist(),
    }
