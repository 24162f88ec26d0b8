"""Frame-wise descriptor curves for the adherence metrics (protocol.md section 3).

Reference implementation with librosa, one clip per call, so that nothing depends on what
else is being scored (librosa's power_to_db floor and CQT tuning estimate are per call).
All curves are aligned with the 512 log-mel frames of a 131072-sample clip at 22050 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SR = 22050
N_FFT = 1024
HOP = 256
PAD = (N_FFT - HOP) // 2
LOUDNESS_EPS = 1e-10
DESCRIPTOR_VERSION = "librosa-ref-1"


@dataclass(frozen=True)
class Descriptors:
    loudness: np.ndarray  # [F] dB
    onset: np.ndarray  # [F]
    mfcc: np.ndarray  # [20, F]
    tonnetz: np.ndarray  # [6, F]

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"loudness": self.loudness, "onset": self.onset, "mfcc": self.mfcc, "tonnetz": self.tonnetz}


def _check_clip(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"descriptor input must be one mono clip, got shape {y.shape}")
    if y.shape[0] < N_FFT:
        raise ValueError(f"clip of {y.shape[0]} samples is shorter than one {N_FFT}-sample window")
    if not np.all(np.isfinite(y)):
        raise ValueError("clip contains NaN or infinite samples")
    return y


@lru_cache(maxsize=1)
def _a_weights() -> np.ndarray:
    import librosa

    freqs = librosa.fft_frequencies(sr=SR, n_fft=N_FFT)
    with np.errstate(divide="ignore"):  # log10(0) at DC; min_db clamps it to -80 dB
        return 10.0 ** (librosa.A_weighting(freqs, min_db=-80.0) / 10.0)


def loudness_curve(y: np.ndarray) -> np.ndarray:
    """L_t = 10 log10(eps + mean_k w_k |X_{k,t}|^2), w = A-weighting as power (min -80 dB).

    X: STFT of the clip zero-padded by 384 each side, Hann 1024, hop 256, center=False.
    """
    import librosa

    y = np.pad(_check_clip(y), PAD)
    power = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP, window="hann", center=False)) ** 2
    return 10.0 * np.log10(LOUDNESS_EPS + (power * _a_weights()[:, None]).mean(axis=0))


def onset_curve(y: np.ndarray) -> np.ndarray:
    """librosa onset strength (n_fft 1024, hop 256, center=True), first frame dropped."""
    import librosa

    return librosa.onset.onset_strength(y=_check_clip(y), sr=SR, n_fft=N_FFT, hop_length=HOP, center=True)[1:]


def mfcc_curve(y: np.ndarray) -> np.ndarray:
    """20 MFCCs (c0 included, 128 mels, DCT-II ortho, no lifter), zero pad 384, center=False."""
    import librosa

    y = np.pad(_check_clip(y), PAD)
    return librosa.feature.mfcc(
        y=y,
        sr=SR,
        n_mfcc=20,
        n_fft=N_FFT,
        hop_length=HOP,
        center=False,
        n_mels=128,
        dct_type=2,
        norm="ortho",
        lifter=0,
    )


def tonnetz_curve(y: np.ndarray) -> np.ndarray:
    """librosa tonnetz (chroma_cqt, hop 256) of the clip left-padded by 128 zeros; frame 0 dropped."""
    import librosa

    y = np.pad(_check_clip(y), (HOP // 2, 0))
    return librosa.feature.tonnetz(y=y, sr=SR, hop_length=HOP)[:, 1:]


def compute_descriptors(y: np.ndarray) -> Descriptors:
    """All four descriptor curves of one clip, cut to a common frame count."""
    curves = [loudness_curve(y), onset_curve(y), mfcc_curve(y), tonnetz_curve(y)]
    frames = min(c.shape[-1] for c in curves)
    loud, onset, mfcc, tonnetz = (c[..., :frames] for c in curves)
    return Descriptors(loud, onset, mfcc, tonnetz)
