"""The BigVGAN log-mel convention used for the Table 1 tasks (protocol.md section 1)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from bench.core.audio import SAMPLE_RATE

N_FFT = 1024
HOP = 256
N_MELS = 80
PAD = (N_FFT - HOP) // 2
LOG_FLOOR = 1e-5
LOG_MIN, LOG_MAX = -11.5129, 2.1922


@lru_cache(maxsize=1)
def mel_basis() -> np.ndarray:
    import librosa

    return librosa.filters.mel(
        sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=0.0, fmax=SAMPLE_RATE / 2, htk=False, norm="slaney"
    ).astype(np.float64)


def stft_magnitude(x: np.ndarray) -> np.ndarray:
    """|STFT| with sqrt(re^2 + im^2 + 1e-9): reflect pad 384, periodic Hann 1024, center=False.

    ``x``: [..., T] -> [..., 513, T // 256].
    """
    x = np.asarray(x, dtype=np.float64)
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(PAD, PAD)], mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=-1)[..., ::HOP, :]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    spec = np.fft.rfft(frames * window, axis=-1)
    return np.sqrt(spec.real**2 + spec.imag**2 + 1e-9).swapaxes(-1, -2)


def frame_count(samples: int) -> int:
    """Mel frames of a clip of ``samples`` samples (reflect pad PAD each side, center=False)."""
    return (samples + 2 * PAD - N_FFT) // HOP + 1


def log_mel(x: np.ndarray) -> np.ndarray:
    """log(clamp(mel_basis @ |STFT|, 1e-5)): [..., T] -> [..., 80, T // 256]."""
    return np.log(np.maximum(mel_basis() @ stft_magnitude(x), LOG_FLOOR))


def normalise_log_mel(log_s: np.ndarray) -> np.ndarray:
    """Scale to [-1, 1]: 2 (S + 11.5129) / (2.1922 + 11.5129) - 1."""
    return 2.0 * (log_s - LOG_MIN) / (LOG_MAX - LOG_MIN) - 1.0


def denormalise_log_mel(s: np.ndarray) -> np.ndarray:
    return (np.asarray(s) + 1.0) / 2.0 * (LOG_MAX - LOG_MIN) + LOG_MIN


def normalised_mel(x: np.ndarray) -> np.ndarray:
    return normalise_log_mel(log_mel(x))
