"""The harness's one resampler (pure DSP, used by the metrics and re-exported by bench/core/audio.py):
a Kaiser-windowed sinc low-pass applied polyphase."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

_KAISER_WIDTH = 64
_KAISER_ROLLOFF = 0.9475937167399596
_KAISER_BETA = 14.769656459379492


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
    return resample_poly(
        np.asarray(x, dtype=np.float64), up, down, axis=-1, window=_kaiser_sinc_filter(up, down)
    )
