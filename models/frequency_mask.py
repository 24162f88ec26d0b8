"""Latent-frequency masks: the training distribution of LatentFT and the band mask in torch."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from bench.core.bands import Band, band_mask

N_FFT = 1024


@lru_cache(maxsize=8)
def correlation_kernel(
    n_fft: int = N_FFT, log_axis: bool = True, correlated: bool = True, length_scale: float = 0.5
) -> np.ndarray:
    """K_ij = exp(-0.5 (|u_i - u_j| / 0.5)^2), u = ln(v + 1e-6) (or v), columns L2-normalised."""
    v = np.linspace(0.0, 1.0, n_fft // 2 + 1)
    if not correlated:
        return np.eye(v.size)
    u = np.log(v + 1e-6) if log_axis else v
    k = np.exp(-0.5 * (np.abs(u[:, None] - u[None, :]) / length_scale) ** 2)
    return k / np.linalg.norm(k, axis=0, keepdims=True)


def sample_training_masks(
    batch: int,
    generator: torch.Generator,
    n_fft: int = N_FFT,
    log_axis: bool = True,
    correlated: bool = True,
    masking: bool = True,
    scores: str = "rows",
) -> torch.Tensor:
    """[B, n_fft/2 + 1] 0/1 masks: keep bins whose score > tau ~ N(0, 1), e ~ N(0, I) and K's
    columns L2-normalised.

    ``scores="rows"``: score = e @ K^T (= K e; the tiny models': score_j has variance |K_j,:|^2,
    0.80-1.12 over the bins); ``"columns"``: score = e @ K (= K^T e; the reference's
    latentft/arc/correlated_fft_mask.py and protocol.md's "columns L2-normalised": every score
    has unit variance). ``correlated=False`` is the "no correlation" ablation (K = I),
    ``log_axis=False`` "no log axis", ``masking=False`` "no masking" (all ones).
    """
    bins = n_fft // 2 + 1
    if not masking:
        return torch.ones(batch, bins)
    if scores not in ("rows", "columns"):
        raise ValueError(f"unknown mask scores {scores!r} (rows or columns)")
    kernel = torch.as_tensor(correlation_kernel(n_fft, log_axis, correlated), dtype=torch.float32)
    values = torch.randn(batch, bins, generator=generator) @ (kernel.T if scores == "rows" else kernel)
    tau = torch.randn(batch, 1, generator=generator)
    return (values > tau).float()


def sample_band_pass_masks(batch: int, generator: torch.Generator, n_fft: int = N_FFT) -> torch.Tensor:
    """[B, n_fft/2 + 1] 0/1 masks of one random band each: the "band-pass augmentation" ablation.

    Two edges per example, log-uniform in [1/n_fft, 2] (e = exp(u), u ~ U(ln(1/n_fft), ln 2)),
    sorted; an edge below the first non-zero bin (2/n_fft) becomes 0 and one above 1 becomes 1, so
    low-passes and high-passes (3 of the 14 conditional bands each) both have probability
    1 - (1 - ln 2 / ln(2 n_fft))^2 = 0.17 at n_fft 1024. Bins with low <= v <= high are kept, as
    :func:`bench.core.bands.band_mask` keeps the user's band at inference.
    """
    v = torch.linspace(0.0, 1.0, n_fft // 2 + 1)
    u = torch.rand(batch, 2, generator=generator) * np.log(2 * n_fft) - np.log(n_fft)
    edges = torch.sort(torch.exp(u), dim=1).values
    low = torch.where(edges[:, :1] < 2.0 / n_fft, torch.zeros_like(edges[:, :1]), edges[:, :1])
    high = edges[:, 1:].clamp_max(1.0)
    return ((v[None, :] >= low) & (v[None, :] <= high)).float()


def apply_mask(latent: torch.Tensor, mask: torch.Tensor, n_fft: int = N_FFT) -> torch.Tensor:
    """irfft(mask * rfft(z, n=n_fft))[..., :T] along time; mask [B, bins] shared by all channels."""
    frames = latent.shape[-1]
    spectrum = torch.fft.rfft(latent, n=n_fft, dim=-1)
    return torch.fft.irfft(spectrum * mask[:, None, :].to(spectrum.dtype), n=n_fft, dim=-1)[..., :frames]


def band_masks(bands: list[Band], n_fft: int = N_FFT) -> torch.Tensor:
    return torch.as_tensor(np.stack([band_mask(b, n_fft) for b in bands]), dtype=torch.float32)
