"""Mel vocoders. Every output records the vocoder id that made it.

``griffin-lim`` needs no download: mel -> linear magnitude by the clamped pseudo-inverse of the
mel basis, then fast Griffin-Lim (momentum 0.99, Perraudin et al. 2013) with seeded random
initial phase, in torch on CPU or GPU.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.audio import CLIP_SAMPLES
from bench.mel import HOP, N_FFT, PAD, denormalise_log_mel, mel_basis


@dataclass(frozen=True)
class GriffinLim:
    n_iter: int = 32
    momentum: float = 0.99

    @property
    def id(self) -> str:
        return f"griffinlim-fast-n{self.n_iter}-m{self.momentum}-pinvmel"

    def __call__(self, normalised_mels: np.ndarray, seeds: list[int],
                 length: int = CLIP_SAMPLES) -> np.ndarray:
        """[B, 80, F] normalised log-mels -> [B, length] audio, one seed per item."""
        import torch

        mels = np.exp(denormalise_log_mel(np.asarray(normalised_mels, dtype=np.float64)))
        magnitude = np.maximum(np.linalg.pinv(mel_basis()) @ mels, 0.0)
        # Mel frame k is centred on sample 256k + 128 (reflect pad 384, center=False); a
        # centre=True STFT of y[n] = x[n + 128] puts frame k on 256k, plus one trailing frame.
        magnitude = np.concatenate([magnitude, magnitude[..., -1:]], axis=-1)
        target = torch.from_numpy(magnitude).to(torch.float32)
        window = torch.hann_window(N_FFT, dtype=torch.float32)
        phases = []
        for seed in seeds:
            generator = torch.Generator().manual_seed(int(seed))
            phases.append(torch.rand(target.shape[1:], generator=generator, dtype=torch.float32))
        angles = torch.polar(torch.ones_like(target), 2 * np.pi * torch.stack(phases))
        n_samples = (target.shape[-1] - 1) * HOP

        def istft(spec):
            return torch.istft(spec, N_FFT, HOP, N_FFT, window, center=True, length=n_samples)

        def stft(signal):
            return torch.stft(signal, N_FFT, HOP, N_FFT, window, center=True, return_complex=True)

        previous = torch.zeros_like(angles)
        for _ in range(self.n_iter):
            rebuilt = stft(istft(target * angles))
            accelerated = rebuilt - (self.momentum / (1 + self.momentum)) * previous
            angles = accelerated / accelerated.abs().clamp_min(1e-16)
            previous = rebuilt
        shifted = istft(target * angles).double().numpy()
        offset = HOP // 2 if PAD == 384 else 0
        out = np.zeros((shifted.shape[0], length))
        usable = min(length - offset, shifted.shape[-1])
        out[:, offset:offset + usable] = shifted[:, :usable]
        return out


VOCODERS = {"griffin-lim": GriffinLim}


def get_vocoder(spec: str = "griffin-lim"):
    """``griffin-lim`` or ``griffin-lim:N`` (iterations)."""
    name, _, arg = spec.partition(":")
    if name == "griffin-lim":
        return GriffinLim(n_iter=int(arg)) if arg else GriffinLim()
    raise ValueError(f"unknown vocoder {spec!r}; available: {', '.join(VOCODERS)}")
