"""How far one generated item's embedding lies from the reference set's distribution: the item-level
companion of FAD (metrics/distribution.py), which scores a set and cannot say which items it
penalises.

The reference embeddings X_r (n x d) are summarised as the Gaussian FAD fits, mean mu and
covariance S (unbiased, as numpy.cov). S is shrunk towards a scaled identity so that it can be
inverted when the reference set has fewer rows than dimensions:

    S_a = (1 - a) S + a (tr S / d) I,  a = SHRINKAGE (0.1)

An item with embedding rows x_1..x_m (an embedder may give several per clip) is scored by the mean
squared Mahalanobis distance of its rows:

    D^2(item) = (1 / m) sum_i (x_i - mu)^T S_a^{-1} (x_i - mu)

A row drawn from the reference Gaussian has E[D^2] close to d (exactly d without shrinkage), so
D^2 / d is about 1 for a typical reference-like item. Larger is further from the references.
"""

from __future__ import annotations

import numpy as np

SHRINKAGE = 0.1


class ItemDistanceError(ValueError):
    """Embeddings that cannot be scored; the message says what was wrong."""


def reference_gaussian(reference: np.ndarray, shrinkage: float = SHRINKAGE) -> tuple[np.ndarray, np.ndarray]:
    """(mu, the Cholesky factor L of S_a = L L^T) of the reference rows."""
    reference = np.asarray(reference, dtype=np.float64)
    if reference.ndim != 2 or reference.shape[0] < 2:
        raise ItemDistanceError(f"reference embeddings must be (n >= 2, d), got shape {reference.shape}")
    if not np.isfinite(reference).all():
        raise ItemDistanceError("reference embeddings contain NaN or inf")
    if not 0.0 <= shrinkage <= 1.0:
        raise ItemDistanceError(f"shrinkage {shrinkage} is not in [0, 1]")
    mu = reference.mean(axis=0)
    cov = np.atleast_2d(np.cov(reference, rowvar=False))
    d = cov.shape[0]
    target = np.trace(cov) / d
    if target <= 0:
        raise ItemDistanceError("the reference embeddings have zero variance")
    shrunk = (1.0 - shrinkage) * cov + shrinkage * target * np.eye(d)
    try:
        return mu, np.linalg.cholesky(shrunk)
    except np.linalg.LinAlgError:
        raise ItemDistanceError(
            "the reference covariance is singular: use a shrinkage above 0 or more reference rows"
        ) from None


def mahalanobis_sq(item: np.ndarray, mu: np.ndarray, cholesky: np.ndarray) -> float:
    """D^2 of one item's embedding rows (m x d, or one row of d) under the reference Gaussian."""
    rows = np.atleast_2d(np.asarray(item, dtype=np.float64))
    if rows.shape[-1] != mu.shape[0] or rows.shape[0] == 0:
        raise ItemDistanceError(
            f"item embedding of shape {rows.shape} does not match dimension {mu.shape[0]}"
        )
    if not np.isfinite(rows).all():
        raise ItemDistanceError("item embedding contains NaN or inf")
    whitened = np.linalg.solve(cholesky, (rows - mu).T)  # L^{-1} (x - mu): its squared norm is D^2
    return float(np.mean(np.sum(whitened**2, axis=0)))
