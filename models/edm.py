"""The EDM diffusion core (Karras et al. 2022), shared by every diffusion system of the harness.

Preconditioning: D(x; s) = c_skip x + c_out F(c_in x, c_noise), with
c_skip = d^2 / (s^2 + d^2), c_out = s d / sqrt(s^2 + d^2), c_in = 1 / sqrt(s^2 + d^2),
c_noise = ln(s) / 4 and d = sigma_data = 0.5.
Training: ln s ~ N(P_mean, P_std^2), loss = lambda(s) |D(x + s n; s) - x|^2,
lambda(s) = (s^2 + d^2) / (s d)^2.
Sampling: deterministic Heun on s_i = (s_max^(1/rho) + i / (N - 1) (s_min^(1/rho) - s_max^(1/rho)))^rho,
then s_N = 0; Euler for the last step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

SIGMA_DATA = 0.5


@dataclass(frozen=True)
class SamplerConfig:
    steps: int = 100
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0


def precondition(network: Callable, x: torch.Tensor, sigma: torch.Tensor, *extra) -> torch.Tensor:
    """D(x; sigma) for ``network(c_in x, c_noise, *extra)``; sigma is [B] or a scalar."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, *([1] * (x.ndim - 1)))
    sigma = sigma.expand(x.shape[0], *([1] * (x.ndim - 1)))
    c_skip = SIGMA_DATA**2 / (sigma**2 + SIGMA_DATA**2)
    c_out = sigma * SIGMA_DATA / (sigma**2 + SIGMA_DATA**2).sqrt()
    c_in = 1.0 / (sigma**2 + SIGMA_DATA**2).sqrt()
    c_noise = sigma.log().flatten() / 4.0
    return c_skip * x + c_out * network(c_in * x, c_noise, *extra)


def edm_loss(
    denoiser: Callable,
    x0: torch.Tensor,
    generator: torch.Generator | None = None,
    p_mean: float = -1.2,
    p_std: float = 1.2,
) -> torch.Tensor:
    """Mean of lambda(sigma) |D(x0 + sigma n; sigma) - x0|^2; ``denoiser(x, sigma)`` = D."""
    batch = x0.shape[0]
    log_sigma = p_mean + p_std * torch.randn(batch, generator=generator, device=x0.device, dtype=x0.dtype)
    sigma = log_sigma.exp()
    noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    shape = (batch,) + (1,) * (x0.ndim - 1)
    weight = (sigma**2 + SIGMA_DATA**2) / (sigma * SIGMA_DATA) ** 2
    denoised = denoiser(x0 + sigma.reshape(shape) * noise, sigma)
    return (weight.reshape(shape) * (denoised - x0) ** 2).mean()


def karras_sigmas(config: SamplerConfig, device=None, dtype=torch.float32) -> torch.Tensor:
    """s_0 > ... > s_{N-1}, then 0: N + 1 values."""
    i = torch.arange(config.steps, dtype=torch.float64)
    ramp = i / max(config.steps - 1, 1)
    inv_rho = 1.0 / config.rho
    sigmas = (
        config.sigma_max**inv_rho + ramp * (config.sigma_min**inv_rho - config.sigma_max**inv_rho)
    ) ** config.rho
    return torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)]).to(device=device, dtype=dtype)


def initial_noise(shape: tuple[int, ...], seeds: list[int], device=None, dtype=torch.float32) -> torch.Tensor:
    """One generator per item: an item's noise does not depend on the batch it is in."""
    return torch.stack(
        [torch.randn(shape, generator=torch.Generator().manual_seed(int(s)), dtype=dtype) for s in seeds]
    ).to(device)


def heun_sample(
    denoise: Callable, x: torch.Tensor, config: SamplerConfig, after_step: Callable | None = None
) -> torch.Tensor:
    """Deterministic Heun sampler. ``x`` is unit noise; ``denoise(x, sigma) -> D``.

    ``after_step(x_next, sigma_next, step)`` may replace the sample after each step (ILVR).
    """
    sigmas = karras_sigmas(config, x.device, x.dtype)
    x = x * sigmas[0]
    for step in range(config.steps):
        sigma, sigma_next = sigmas[step], sigmas[step + 1]
        d = (x - denoise(x, sigma)) / sigma
        x_next = x + (sigma_next - sigma) * d
        if sigma_next > 0:
            d_next = (x_next - denoise(x_next, sigma_next)) / sigma_next
            x_next = x + (sigma_next - sigma) * 0.5 * (d + d_next)
        if after_step is not None:
            x_next = after_step(x_next, sigma_next, step)
        x = x_next
    return x


def combine(denoisers: list[Callable], weights: list[float]) -> Callable:
    """D(x; s) = sum_j w_j D_j(x; s): classifier-free guidance and compositional blending
    (equivalently d = sum_j w_j (x - D_j) / s when the weights sum to 1)."""

    def denoise(x, sigma):
        return sum(w * d(x, sigma) for w, d in zip(weights, denoisers))

    return denoise
