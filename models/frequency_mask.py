"""Latent-frequency masks: the training distribution of LatentFT and the band mask in torch."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from bench.bands import Band, band_mask

N_FFT = 1024


@lru_cache(maxsize=8)
def correlation_kernel(n_fft: int = N_FFT, log_axis: bool = True, correlated: bool = True,
                       length_scale: float = 0.5) -> np.ndarray:
    """K_ij = exp(-0.5 (|u_i - u_j| / 0.5)^2), u = ln(v + 1e-6) (or v), columns L2-normalised."""
    v = np.linspace(0.0, 1.0, n_fft // 2 + 1)
    if not correlated:
        return np.eye(v.size)
    u = np.log(v + 1e-6) if log_axis else v
    k = np.exp(-0.5 * (np.abs(u[:, None] - u[None, :]) / length_scale) ** 2)
    return k / np.linalg.norm(k, axis=0, keepdims=True)


def sample_training_masks(batch: int, generator: torch.Generator, n_fft: int = N_FFT, log_axis: bool = True,
                          correlated: bool = True, masking: bool = True) -> torch.Tensor:
    """[B, n_fft/2 + 1] 0/1 masks: scores = K e, e ~ N(0, I); keep bins whose score > tau ~ N(0, 1).

    ``correlated=False`` is the "no correlation" ablation (K = I), ``log_axis=False`` "no log
    axis", ``masking=False`` "no masking" (all ones).
    """
    bins = n_fft // 2 + 1
    if not masking:
        return torch.ones(batch, bins)
    kernel = torch.as_tensor(correlation_kernel(n_fft, log_axis, correlated), dtype=torch.float32)
    scores = torch.randn(batch, bins, generator=generator) @ kernel.T
    tau = torch.randn(batch, 1, generator=generator)
    return (scores > tau).float()


def apply_mask(latent: torch.Tensor, mask: torch.Tensor, n_fft: int = N_FFT) -> torch.Tensor:
    """irfft(mask * rfft(z, n=n_fft))[..., :T] along time; mask [B, bins] shared by all channels."""
    frames = latent.shape[-1]
    spectrum = torch.fft.rfft(latent, n=n_fft, dim=-1)
    return torch.fft.irfft(spectrum * mask[:, None, :].to(spectrum.dtype), n=n_fft, dim=-1)[..., :frames]


def band_masks(bands: list[Band], n_fft: int = N_FFT) -> torch.Tensor:
    return torch.as_tensor(np.stack([band_mask(b, n_fft) for b in bands]), dtype=torch.float32)
