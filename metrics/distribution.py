"""Distribution distances between embedding sets: FAD (Frechet) and KAD (kernel MMD).

All arithmetic is float64. Inputs are [N, D] arrays, one embedding per row.
"""
from __future__ import annotations

import numpy as np
from scipy import linalg

KAD_SCALE = 100.0


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


def gaussian_stats(x: np.ndarray, name: str = "embeddings") -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample covariance (N - 1 normalisation)."""
    x = _check(name, x)
    return x.mean(axis=0), np.cov(x, rowvar=False, ddof=1)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).

    sqrtm by scipy; when the product's root is not finite, 1e-6 is added to both diagonals
    (the fadtk / torchvision convention). The real part is kept; a result below zero by more
    than rounding, or a large imaginary part, raises instead of being passed on.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(sigma1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
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
    mu_e, s_e = gaussian_stats(eval_embeddings, "eval set")
    mu_r, s_r = gaussian_stats(ref_embeddings, "reference set")
    return frechet_distance(mu_e, s_e, mu_r, s_r)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def median_pairwise_distance(x: np.ndarray) -> float:
    """Median Euclidean distance over distinct pairs i < j."""
    x = _check("reference set", x)
    d = np.sqrt(_squared_distances(x, x))
    return float(np.median(d[np.triu_indices(x.shape[0], k=1)]))


def kad(eval_embeddings: np.ndarray, ref_embeddings: np.ndarray,
        bandwidth: float | None = None, scale: float = KAD_SCALE) -> float:
    """Kernel audio distance: scale * unbiased MMD^2 with a Gaussian kernel.

    k(a, b) = exp(-|a - b|^2 / (2 sigma^2)); sigma = median pairwise distance of the
    reference set unless given.
    MMD^2 = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (n (n - 1))
            - 2 sum_{i, j} k(x_i, y_j) / (m n),  x the eval set (m), y the reference set (n).
    """
    x = _check("eval set", eval_embeddings)
    y = _check("reference set", ref_embeddings)
    sigma = median_pairwise_distance(y) if bandwidth is None else float(bandwidth)
    if not sigma > 0:
        raise DistributionError(f"KAD: kernel bandwidth {sigma} is not positive (identical embeddings?)")
    gamma = 1.0 / (2.0 * sigma * sigma)
    m, n = x.shape[0], y.shape[0]
    k_xx = np.exp(-gamma * _squared_distances(x, x))
    k_yy = np.exp(-gamma * _squared_distances(y, y))
    k_xy = np.exp(-gamma * _squared_distances(x, y))
    mmd = ((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
           + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
           - 2.0 * k_xy.mean())
    return float(scale * mmd)
