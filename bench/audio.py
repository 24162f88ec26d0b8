"""Audio input and the protocol's clip preparation (protocol.md section 1)."""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 22050
CLIP_SAMPLES = 131072
MIN_MEAN_POWER = 0.003
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".aiff", ".aif")

RESAMPLER_ID = "kaiser-sinc-w64-r0.9476-b14.77"
_KAISER_WIDTH = 64
_KAISER_ROLLOFF = 0.9475937167399596
_KAISER_BETA = 14.769656459379492


class AudioError(ValueError):
    """An audio file or array that cannot be used; the message names the item."""


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a file as float64 mono (channels averaged) and its sample rate."""
    path = Path(path)
    try:
        import soundfile

        data, sr = soundfile.read(str(path), dtype="float64", always_2d=True)
        mono = data.mean(axis=1)
    except Exception as first_error:  # soundfile lacks some mp3 builds: fall back to audioread
        try:
            import warnings

            import librosa

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mono, sr = librosa.load(str(path), sr=None, mono=True, dtype=np.float64)
        except Exception:
            raise AudioError(f"{path}: cannot be decoded ({first_error})") from first_error
    if mono.size == 0:
        raise AudioError(f"{path}: contains no samples")
    if not np.all(np.isfinite(mono)):
        raise AudioError(f"{path}: contains NaN or infinite samples")
    return mono, int(sr)


@lru_cache(maxsize=32)
def _kaiser_sinc_filter(up: int, down: int) -> np.ndarray:
    cutoff = _KAISER_ROLLOFF / max(up, down)  # relative to the upsampled Nyquist
    half = int(math.ceil(_KAISER_WIDTH / cutoff))
    n = np.arange(-half, half + 1, dtype=np.float64)
    window = np.kaiser(2 * half + 1, _KAISER_BETA)
    taps = cutoff * np.sinc(cutoff * n) * window
    return taps / taps.sum()


def resample(x: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Kaiser-windowed sinc resampling (64 zero crossings, rolloff 0.9476, beta 14.77).

    The low-pass h[n] = c sinc(c n) w_kaiser(n), c = rolloff / max(L, M) for the reduced ratio
    L/M, is applied polyphase; output length is ceil(T * new_sr / orig_sr).
    """
    if orig_sr == new_sr:
        return np.asarray(x, dtype=np.float64)
    from scipy.signal import resample_poly

    g = math.gcd(int(orig_sr), int(new_sr))
    up, down = int(new_sr) // g, int(orig_sr) // g
    return resample_poly(np.asarray(x, dtype=np.float64), up, down, axis=-1,
                         window=_kaiser_sinc_filter(up, down))


def normalise_clip(x: np.ndarray) -> np.ndarray:
    """De-mean, then scale the peak to 1 (a silent clip stays zero)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    peak = np.abs(x).max()
    return x / peak if peak > 0 else x


def mean_power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def chunk_track(track: np.ndarray, length: int = CLIP_SAMPLES) -> list[np.ndarray]:
    """Non-overlapping chunks of ``length`` samples, each normalised; quiet ones dropped."""
    chunks = []
    for start in range(0, track.shape[-1] - length + 1, length):
        clip = normalise_clip(track[start:start + length])
        if mean_power(clip) >= MIN_MEAN_POWER:
            chunks.append(clip)
    return chunks


def check_output(audio: np.ndarray, length: int = CLIP_SAMPLES) -> str | None:
    """Why a system output is unusable, or None when it is fine."""
    audio = np.asarray(audio)
    if audio.ndim != 1:
        return f"output has shape {audio.shape}, expected ({length},)"
    if audio.shape[0] != length:
        return f"output has {audio.shape[0]} samples, expected {length}"
    if not np.all(np.isfinite(audio)):
        return "output contains NaN or infinite samples"
    if np.max(np.abs(audio)) < 1e-6:
        return "output is silent"
    return None
