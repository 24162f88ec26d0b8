"""A consistency autoencoder with implicit linearity (Lin-CAE, docs/protocol.md section 6), at toy scale.

Representation: the complex STFT (n_fft 512, hop 128, centred, Hann) of a 32640-sample clip (1.48 s):
real and imaginary parts of 257 bins as 514 channels over 256 frames, divided by a fixed
``scale`` (a linear map, so the representation itself is linear in the audio).

Encoder: a 1D conv net over frames, four 2x downsamplings: a ``latent_channels`` x 16 latent
(10.8 Hz at 22050 Hz, the rate of the seed's latents). Decoder: a consistency function on the
shared 1D U-Net, f(x; s, z) = c_skip(s) x + c_out(s) F(c_in(s) x, ln(s) / 4, up(z)) with
c_skip = d^2 / ((s - s_min)^2 + d^2), c_out = d (s - s_min) / sqrt(d^2 + s^2),
c_in = 1 / sqrt(s^2 + d^2), d = 0.5; decoding is one step from seeded noise at s_max = 80.

Consistency training (improved consistency training, Song & Dhariwal 2023): Karras levels whose
count doubles from 10 to 80 over training, level n drawn with probability proportional to
erf((ln s_{n+1} + 1.1) / (sqrt2 2)) - erf((ln s_n + 1.1) / (sqrt2 2)); loss
(s_{n+1} - s_n)^-1 * pseudo-Huber(f(x + s_{n+1} e) - stopgrad f(x + s_n e)), c = 5.4e-4 sqrt(dim).

Implicit linearity (``linear=True``; the baseline trains without it):
- homogeneity: with probability 0.8 a gain a ~ U[lo, hi] multiplies both the latent fed to the
  decoder and its target (|a| < 0.05 -> 0); [lo, hi] moves linearly from ``gain_start`` to
  ``gain_end`` over training (systems.md: [0, 3] to [1, 1]);
- additivity: the batch plus its circular shift by one: the target x_u + x_v is decoded from
  Enc(x_u) + Enc(x_v).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from bench.models.pointwise_conv import PointwiseConv1d
from bench.models.unet1d import ResBlock, UNet1D

N_FFT, HOP = 512, 128
CLIP = 32640  # 256 centred STFT frames
FRAMES = CLIP // HOP + 1
BINS = N_FFT // 2 + 1
SIGMA_DATA, SIGMA_MIN, SIGMA_MAX, RHO = 0.5, 0.002, 80.0, 7.0


@dataclass(frozen=True)
class LinCAEConfig:
    linear: bool = True
    latent_channels: int = 32
    encoder_base: int = 128
    decoder_base: int = 64
    decoder_mults: tuple = (1, 2, 2, 2)
    scale: float = 8.0
    total_steps: int = 2000
    gain_start: tuple = (0.0, 3.0)
    gain_end: tuple = (1.0, 1.0)
    gain_probability: float = 0.8

    def as_dict(self) -> dict:
        d = asdict(self)
        d["decoder_mults"], d["gain_start"], d["gain_end"] = (
            list(self.decoder_mults),
            list(self.gain_start),
            list(self.gain_end),
        )
        return d


def _window(device) -> torch.Tensor:
    return torch.hann_window(N_FFT, device=device)


def to_spec(audio: torch.Tensor, scale: float) -> torch.Tensor:
    """[B, CLIP] -> [B, 514, 256]."""
    spec = torch.stft(audio, N_FFT, HOP, N_FFT, _window(audio.device), center=True, return_complex=True)
    return torch.cat([spec.real, spec.imag], dim=1) / scale


def to_audio(spec: torch.Tensor, scale: float) -> torch.Tensor:
    """[B, 514, 256] -> [B, CLIP]."""
    spec = spec * scale
    complex_spec = torch.complex(spec[:, :BINS], spec[:, BINS:])
    return torch.istft(complex_spec, N_FFT, HOP, N_FFT, _window(spec.device), center=True, length=CLIP)


class Encoder(nn.Module):
    def __init__(self, base: int, latent: int):
        super().__init__()
        layers = [nn.Conv1d(2 * BINS, base, 3, padding=1)]
        for _ in range(4):
            layers += [ResBlock(base, base, None), nn.Conv1d(base, base, 4, stride=2, padding=1)]
        layers += [ResBlock(base, base, None), PointwiseConv1d(base, latent)]
        self.net = nn.Sequential(*layers)

    def forward(self, spec):
        return self.net(spec)


def _scalings(sigma: torch.Tensor, ndim: int):
    sigma = sigma.reshape(-1, *([1] * (ndim - 1)))
    c_skip = SIGMA_DATA**2 / ((sigma - SIGMA_MIN) ** 2 + SIGMA_DATA**2)
    c_out = SIGMA_DATA * (sigma - SIGMA_MIN) / (SIGMA_DATA**2 + sigma**2).sqrt()
    c_in = 1.0 / (sigma**2 + SIGMA_DATA**2).sqrt()
    return c_skip, c_out, c_in


def karras_levels(n: int) -> torch.Tensor:
    ramp = torch.arange(n, dtype=torch.float64) / (n - 1)
    inv = 1.0 / RHO
    return (SIGMA_MIN**inv + ramp * (SIGMA_MAX**inv - SIGMA_MIN**inv)) ** RHO  # increasing


class LinCAE(nn.Module):
    def __init__(self, config: LinCAEConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config.encoder_base, config.latent_channels)
        self.decoder = UNet1D(
            2 * BINS + config.latent_channels,
            2 * BINS,
            base=config.decoder_base,
            mults=tuple(config.decoder_mults),
        )
        self.step = 0

    def set_step(self, step: int) -> None:
        self.step = step

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, CLIP] audio -> [B, latent_channels, 16]."""
        return self.encoder(to_spec(audio, self.config.scale))

    def consistency(self, x: torch.Tensor, sigma: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        c_skip, c_out, c_in = _scalings(sigma, x.ndim)
        condition = nn.functional.interpolate(latent, size=x.shape[-1], mode="nearest")
        c_noise = sigma.reshape(-1).log() / 4.0
        return c_skip * x + c_out * self.decoder(torch.cat([c_in * x, condition], dim=1), c_noise)

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        """One consistency step from seeded noise: [B, C, 16] -> [B, CLIP] audio."""
        noise = torch.stack(
            [torch.randn(2 * BINS, FRAMES, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        ).to(latent.device)
        sigma = torch.full((latent.shape[0],), SIGMA_MAX, device=latent.device)
        return to_audio(self.consistency(noise * SIGMA_MAX, sigma, latent), self.config.scale)

    def _levels(self) -> torch.Tensor:
        fraction = min(1.0, self.step / max(1, self.config.total_steps))
        count = int(min(10 * 2 ** math.floor(3 * fraction), 80)) + 1
        return karras_levels(count)

    def _gains(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        c = self.config
        fraction = min(1.0, self.step / max(1, c.total_steps))
        lo = c.gain_start[0] + fraction * (c.gain_end[0] - c.gain_start[0])
        hi = c.gain_start[1] + fraction * (c.gain_end[1] - c.gain_start[1])
        gains = lo + (hi - lo) * torch.rand(batch, generator=generator)
        gains = torch.where(gains.abs() < 0.05, torch.zeros_like(gains), gains)
        applied = torch.rand(batch, generator=generator) < c.gain_probability
        return torch.where(applied, gains, torch.ones_like(gains))

    def loss(self, audio: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        c = self.config
        target = to_spec(audio, c.scale)
        latent = self.encoder(target)
        if c.linear:
            gains = self._gains(audio.shape[0], generator).to(audio.device)
            singles_x, singles_z = target * gains[:, None, None], latent * gains[:, None, None]
            mixes_x = target + target.roll(1, dims=0)
            mixes_z = latent + latent.roll(1, dims=0)
            target, latent = torch.cat([singles_x, mixes_x]), torch.cat([singles_z, mixes_z])
        levels = self._levels().to(target.device)
        log_levels = levels.log()
        weights = torch.erf((log_levels[1:] + 1.1) / (2.0 * math.sqrt(2))) - torch.erf(
            (log_levels[:-1] + 1.1) / (2.0 * math.sqrt(2))
        )
        n = torch.multinomial(weights.float().cpu(), target.shape[0], replacement=True, generator=generator)
        n = n.to(target.device)
        low, high = levels[n].to(target.dtype), levels[n + 1].to(target.dtype)
        noise = torch.randn(target.shape, generator=generator).to(target.device)
        shape = (-1, 1, 1)
        online = self.consistency(target + high.reshape(shape) * noise, high, latent)
        with torch.no_grad():
            teacher = self.consistency(target + low.reshape(shape) * noise, low, latent)
        dim = target[0].numel()
        huber_c = 5.4e-4 * math.sqrt(dim)
        distance = ((online - teacher) ** 2).flatten(1).sum(1)
        pseudo_huber = (distance + huber_c**2).sqrt() - huber_c
        return (pseudo_huber / (high - low)).mean() / dim


def load_lincae(path, device: str = "cpu") -> tuple[LinCAE, dict]:
    from bench.models.checkpoint_store import load_state, model_from_state

    def build(config):
        return LinCAE(
            LinCAEConfig(
                **{
                    **config,
                    **{key: tuple(config[key]) for key in ("decoder_mults", "gain_start", "gain_end")},
                }
            )
        )

    state = load_state(path)
    return model_from_state(path, state, build).eval().to(device), state


def training_chunks(stem_set, rng: np.random.Generator) -> np.ndarray:
    """One CLIP-long chunk per audible stem and per mix of a StemSet: [N, CLIP] float32."""
    out = []
    for mix, stems in zip(stem_set.mixes, stem_set.stems):
        start = int(rng.integers(0, mix.shape[-1] - CLIP + 1))
        for signal in (*stems, mix):
            chunk = signal[start : start + CLIP]
            if np.sqrt(np.mean(chunk**2)) > 1e-3:
                out.append(chunk.astype(np.float32))
    return np.stack(out)
