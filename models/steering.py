"""Steering an unconditional mel prior at sampling time towards a reference's latent-frequency band:
ILVR (Choi et al. 2021) and gradient guidance (protocol.md section 5).

The "latent frequency" of a mel is its spectrum along time: F(x) = rfft(x, n=512) over the frames
of every mel channel, and P_m(x) = irfft(m * F(x)) keeps the bins of mask m (bands.band_mask).

ILVR, per step i (the default):  x_i <- x_i - P_U(x_i) + sum_j P_mj(r_j + s_i e_ij),
with U the union of the bands, m_j the bins of band j not already in an earlier band, e_ij
seeded unit noise and s_i the noise level after step i (0 after the last step).
The ``paper`` variant applies the same replacement once, after sampling (s = 0), as the reference
code does.

Guidance: L(x0) = sum_j sum_{k in band j} |F(r_j)_k - F(x0)_k|^2 over every mel channel, and
the ODE derivative d = (x - D(x; s)) / s becomes d + sign * scale * grad L, evaluated at the
denoised estimate x0 = D(x; s) treated as a leaf (or through D when ``through_denoiser``);
equivalently D'(x; s) = D(x; s) - s * sign * scale * grad L. ``norm="rms"`` divides the gradient
by its root mean square per item first. The reference code's values: scale 1e-3, sign +1 (a step
down the loss), no normalisation, gradient not through the denoiser.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bench.core.bands import Band, band_mask
from bench.core.seeds import torch_seed

N_FFT = 512


def _fft_size(frames: int) -> int:
    return max(N_FFT, frames)


def band_bins(bands: list[Band], frames: int) -> torch.Tensor:
    """[B, bins] 0/1 rfft masks of one band per item."""
    n_fft = _fft_size(frames)
    return torch.as_tensor(np.stack([band_mask(b, n_fft) for b in bands]), dtype=torch.float32)


def exclusive(masks: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each mask minus the bins of the masks before it (adjacent bands share an edge bin)."""
    taken = torch.zeros_like(masks[0])
    out = []
    for m in masks:
        own = m * (1.0 - taken)
        out.append(own)
        taken = torch.maximum(taken, m)
    return out


def project(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """P_m(x) along the last axis; ``mask`` [B, bins] is shared by every channel."""
    frames = x.shape[-1]
    n_fft = _fft_size(frames)
    spectrum = torch.fft.rfft(x, n=n_fft, dim=-1)
    return torch.fft.irfft(spectrum * mask[:, None, :].to(spectrum.dtype), n=n_fft, dim=-1)[..., :frames]


def in_band_distance(x: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per item: sqrt(sum over mask bins and channels of |F(r) - F(x)|^2)."""
    n_fft = _fft_size(x.shape[-1])
    diff = torch.fft.rfft(reference, n=n_fft, dim=-1) - torch.fft.rfft(x, n=n_fft, dim=-1)
    return ((diff.abs() ** 2) * mask[:, None, :]).sum(dim=(1, 2)).sqrt()


@dataclass(frozen=True)
class ILVR:
    """``after_step`` hook for :func:`bench.models.edm.heun_sample`."""

    references: tuple  # of [B, 80, T] tensors, one per band
    masks: tuple  # of [B, bins] masks, one per band
    seeds: tuple  # one per item
    steps: int
    variant: str = "per-step"  # or "paper": one replacement after sampling

    def __post_init__(self):
        if self.variant not in ("per-step", "paper"):
            raise ValueError(f"ILVR variant must be 'per-step' or 'paper', not {self.variant!r}")

    def _noise(self, shape, step: int, band: int, device) -> torch.Tensor:
        return torch.stack(
            [
                torch.randn(
                    shape,
                    generator=torch.Generator().manual_seed(torch_seed(seed, "steering-noise", step, band)),
                )
                for seed in self.seeds
            ]
        ).to(device)

    def __call__(self, x: torch.Tensor, sigma_next: torch.Tensor, step: int) -> torch.Tensor:
        if self.variant == "paper" and step != self.steps - 1:
            return x
        masks = exclusive([m.to(x.device) for m in self.masks])
        union = torch.clamp(sum(masks), max=1.0)
        out = x - project(x, union)
        for band, (reference, mask) in enumerate(zip(self.references, masks)):
            noised = reference
            if float(sigma_next) > 0:
                noised = reference + sigma_next * self._noise(reference.shape[1:], step, band, x.device)
            out = out + project(noised, mask)
        return out


def band_loss(x0: torch.Tensor, references, masks) -> torch.Tensor:
    """sum_j sum_{k in band j} |F(r_j)_k - F(x0)_k|^2, summed over the batch (so each item's gradient
    is its own)."""
    n_fft = _fft_size(x0.shape[-1])
    estimate = torch.fft.rfft(x0, n=n_fft, dim=-1)
    loss = x0.new_zeros(())
    for reference, mask in zip(references, masks):
        diff = torch.fft.rfft(reference, n=n_fft, dim=-1) - estimate
        loss = loss + ((diff.abs() ** 2) * mask[:, None, :].to(x0.device)).sum()
    return loss


def guided_denoiser(
    denoise,
    references,
    masks,
    scale: float = 1e-3,
    sign: float = 1.0,
    norm: str = "none",
    through_denoiser: bool = False,
):
    """D'(x; s) = D(x; s) - s * sign * scale * g, g = grad L (see the module docstring)."""
    if norm not in ("none", "rms"):
        raise ValueError(f"guidance norm must be 'none' or 'rms', not {norm!r}")

    def guided(x, sigma):
        with torch.enable_grad():
            if through_denoiser:
                leaf = x.detach().requires_grad_(True)
                x0 = denoise(leaf, sigma)
            else:
                with torch.no_grad():
                    x0 = denoise(x, sigma)
                leaf = x0 = x0.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(band_loss(x0, references, masks), leaf)
        if norm == "rms":
            grad = grad / grad.pow(2).mean(dim=tuple(range(1, grad.ndim)), keepdim=True).sqrt().clamp_min(
                1e-12
            )
        return x0.detach() - sigma * sign * scale * grad

    return guided
