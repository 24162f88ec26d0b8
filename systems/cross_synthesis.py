"""``cross-synthesis`` (blending only; it ignores the bands): the carrier's STFT whitened by its
cepstral spectral envelope and coloured by the modulator's (J. O. Smith, SASP).

env = exp(lifter(real cepstrum of log(|X| + 1e-7))), lifter keeping quefrency <= 100;
Y = X_carrier / env_carrier * env_modulator; STFT n_fft 1024, hop 256, Hann.
The carrier is reference 1 and the modulator reference 2 (``carrier=2`` swaps them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.core.audio import normalise_clip
from bench.core.registry import register
from bench.core.system import System

N_FFT = 1024
HOP = 256
CUTOFF_QUEFRENCY = 100


def cepstral_envelope(magnitude: np.ndarray, cutoff: int = CUTOFF_QUEFRENCY) -> np.ndarray:
    """Spectral envelope per frame from |X| of shape [bins, frames]."""
    cepstrum = np.fft.irfft(np.log(magnitude + 1e-7), axis=0)
    n = cepstrum.shape[0]
    quefrency = np.minimum(np.arange(n), n - np.arange(n))
    cepstrum[quefrency > cutoff] = 0.0
    return np.exp(np.fft.rfft(cepstrum, axis=0).real)


def cross_synthesise(carrier: np.ndarray, modulator: np.ndarray) -> np.ndarray:
    import librosa

    x_c = librosa.stft(carrier, n_fft=N_FFT, hop_length=HOP)
    x_m = librosa.stft(modulator, n_fft=N_FFT, hop_length=HOP)
    y = x_c / cepstral_envelope(np.abs(x_c)) * cepstral_envelope(np.abs(x_m))
    return normalise_clip(librosa.istft(y, hop_length=HOP, length=carrier.shape[-1]))


@register
class CrossSynthesis(System):
    name = "cross-synthesis"
    description = "cepstral cross-synthesis of the two references (blending only, ignores the band)"

    @dataclass(frozen=True)
    class Options:
        carrier: int = 1  # which reference is the carrier: 1 or 2

        def __post_init__(self):
            if self.carrier not in (1, 2):
                raise ValueError(f"carrier must be 1 or 2, not {self.carrier}")

    def blend(self, batch):
        swap = self.options.carrier == 2
        pairs = (
            zip(batch.references2, batch.references1) if swap else zip(batch.references1, batch.references2)
        )
        return np.stack(
            [cross_synthesise(np.asarray(c, np.float64), np.asarray(m, np.float64)) for c, m in pairs]
        )
