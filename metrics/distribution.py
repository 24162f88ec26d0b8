"""Distribution distances between embedding sets: FAD (Frechet) and KAD (kernel MMD).

All arithmetic is float64. Inputs are [N, D] arrays, one embedding per row.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

KAD_SCALE = 100.0
SINGULAR_NOTE = (
    "FAD: an embedding covariance is singular (a dimension is constant over a set, or a set "
    "has fewer embeddings than dimensions). The distance is still defined and computed, but "
    "those dimensions add only their mean difference, and a small set biases FAD upwards: "
    "compare such figures only with ones from sets of the same sizes."
)
_SINGULAR_NOTED = False


class DistributionError(ValueError):
    """Embedding sets that cannot give a distance; the message names which set."""


def _check(name: str, x: np.ndarray, minimum: int = 2) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise DistributionError(f"{name}: expected an [N, D] array of embeddings, got shape {x.shape}")
    if x.shape[0] < minimum:
        raise DistributionError(f"{name}: {x.shape[0]} embeddings, at least {minimum} are needed")
    if not np.all(np.isfinite(x)):
        raise DistributionError(f"{name}: embeddings contain NaN or infinite values")
    return x


def _check_pair(x: np.ndarray, y: np.ndarray, names=("eval set", "reference set")):
    x, y = _check(names[0], x), _check(names[1], y)
    if x.shape[1] != y.shape[1]:
        raise DistributionError(
            f"{names[0]} has {x.shape[1]}-dimensional embeddings but {names[1]} has "
            f"{y.shape[1]}-dimensional ones: were they made by the same embedder?"
        )
    return x, y


def gaussian_stats(x: np.ndarray, name: str = "embeddings") -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample covariance (N - 1 normalisation)."""
    x = _check(name, x)
    return x.mean(axis=0), np.cov(x, rowvar=False, ddof=1)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).

    sqrtm by scipy; when the product's root is not finite, 1e-6 is added to both diagonals
    (the fadtk / torchvision convention). The real part is kept; a result below zero by more
    than rounding, or a large imaginary part, raises instead of being passed on. scipy's
    "Matrix is singular" warning becomes :data:`SINGULAR_NOTE`, which says what it means here.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    diff = mu1 - mu2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.all(np.isfinite(covmean)):
            offset = np.eye(sigma1.shape[0]) * 1e-6
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    for warning in caught:
        if not issubclass(warning.category, linalg.LinAlgWarning):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    global _SINGULAR_NOTED
    if any(issubclass(w.category, linalg.LinAlgWarning) for w in caught) and not _SINGULAR_NOTED:
        _SINGULAR_NOTED = True  # said once per process
        warnings.warn(SINGULAR_NOTE, stacklevel=2)
    if np.iscomplexobj(covmean):
        imaginary = np.max(np.abs(covmean.imag))
        scale = max(1.0, float(np.max(np.abs(covmean.real))))
        if imaginary > 1e-3 * scale:
            raise DistributionError(f"Frechet distance: sqrtm has an imaginary part of {imaginary:.3g}")
        covmean = covmean.real
    distance = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    if distance < 0:
        if distance < -1e-6 * max(1.0, float(np.trace(sigma1) + np.trace(sigma2))):
            raise DistributionError(f"Frechet distance came out negative ({distance:.3g})")
        distance = 0.0
    return distance


def fad(eval_embeddings: np.ndarray, ref_embeddings: np.ndarray) -> float:
    """Frechet audio distance between two embedding sets (Gaussian fit of each)."""
    x, y = _check_pair(eval_embeddings, ref_embeddings)
    mu_e, s_e = gaussian_stats(x, "eval set")
    mu_r, s_r = gaussian_stats(y, "reference set")
    return frechet_distance(mu_e, s_e, mu_r, s_r)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def median_pairwise_distance(x: np.ndarray) -> float:
    """Median Euclidean distance over distinct pairs i < j."""
    x = _check("reference set", x)
    d = np.sqrt(_squared_distances(x, x))
    return float(np.median(d[np.triu_indices(x.shape[0], k=1)]))


def kad(
    eval_embeddings: np.ndarray,
    ref_embeddings: np.ndarray,
    bandwidth: float | None = None,
    scale: float = KAD_SCALE,
    bandwidth_from: str = "reference",
) -> float:
    """Kernel audio distance: scale * unbiased MMD^2 with a Gaussian kernel.

    k(a, b) = exp(-|a - b|^2 / (2 sigma^2)); sigma = median pairwise distance of the
    reference set (as the KAD paper says) unless given; ``bandwidth_from="eval"`` takes it from
    the eval set instead, as kadtk 1.1.0's code does.
    MMD^2 = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (n (n - 1))
            - 2 sum_{i, j} k(x_i, y_j) / (m n),  x the eval set (m), y the reference set (n).
    """
    x, y = _check_pair(eval_embeddings, ref_embeddings)
    if bandwidth_from not in ("reference", "eval"):
        raise ValueError(f"bandwidth_from must be 'reference' or 'eval', not {bandwidth_from!r}")
    if bandwidth is not None:
        sigma = float(bandwidth)
    else:
        sigma = median_pairwise_distance(y if bandwidth_from == "reference" else x)
    if not sigma > 0:
        raise DistributionError(f"KAD: kernel bandwidth {sigma} is not positive (identical embeddings?)")
    gamma = 1.0 / (2.0 * sigma * sigma)
    m, n = x.shape[0], y.shape[0]
    k_xx = np.exp(-gamma * _squared_distances(x, x))
    k_yy = np.exp(-gamma * _squared_distances(y, y))
    k_xy = np.exp(-gamma * _squared_distances(x, y))
    mmd = (
        (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
        + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
        - 2.0 * k_xy.mean()
    )
    return float(scale * mmd)


def fad_inf(
    eval_embeddings: np.ndarray,
    ref_embeddings: np.ndarray,
    steps: int = 25,
    min_n: int | None = None,
    seed: int = 0,
) -> dict:
    """FAD extrapolated to an infinite eval set (Chung et al., fadtk's FAD-inf), seeded.

    For n on ``steps`` points evenly spaced between ``min_n`` (default: a tenth of the set, at
    least D + 2) and N, draw n eval embeddings without replacement from a numpy Generator
    seeded with ``seed`` and compute FAD_n; fit FAD_n = a + b / n by least squares.
    Returns {"value": a, "slope": b, "r2", "points": [(n, FAD_n)], "seed"}.
    """
    x, y = _check_pair(eval_embeddings, ref_embeddings)
    mu_r, s_r = gaussian_stats(y, "reference set")
    total = x.shape[0]
    lowest = min_n if min_n is not None else max(x.shape[1] + 2, total // 10)
    if lowest >= total:
        raise DistributionError(f"FAD-inf: eval set of {total} embeddings is too small (min_n {lowest})")
    rng = np.random.default_rng(seed)
    ns = np.unique(np.linspace(lowest, total, steps).astype(int))
    points = []
    for n in ns:
        subset = x[rng.choice(total, size=int(n), replace=False)]
        mu_e, s_e = gaussian_stats(subset, "eval subset")
        points.append((int(n), frechet_distance(mu_e, s_e, mu_r, s_r)))
    inv_n = np.array([1.0 / n for n, _ in points])
    scores = np.array([v for _, v in points])
    slope, intercept = np.polyfit(inv_n, scores, 1)
    fitted = intercept + slope * inv_n
    total_ss = float(np.sum((scores - scores.mean()) ** 2))
    r2 = 1.0 - float(np.sum((scores - fitted) ** 2)) / total_ss if total_ss > 0 else 1.0
    return {"value": float(intercept), "slope": float(slope), "r2": r2, "points": points, "seed": seed}
