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


RESAMPLE_BLOCK_OUTPUTS = 32  # outputs per product: a narrow band of inputs each, few zero multiplies


@lru_cache(maxsize=32)
def _blocked_kernels(up: int, down: int, outputs: int) -> tuple[tuple[int, np.ndarray], ...]:
    """The polyphase filter of :func:`resample` as dense products: output ``b * up + r`` is
    ``up * sum_j x[b * down + j] h[c + r down - j up]`` (c the filter's centre), the same for every
    block b. Outputs r in [r0, r0 + outputs) need inputs j in [lo, hi]:
    ((lo, [hi - lo + 1, outputs]), ...)."""
    h = _kaiser_sinc_filter(up, down) * up
    c = (h.size - 1) // 2
    kernels = []
    for r0 in range(0, up, outputs):
        r = np.arange(r0, min(r0 + outputs, up))
        lo, hi = -((c - r[0] * down) // up), (r[-1] * down + c) // up  # ceil((r0 d - c) / up), floor
        taps = c + r[None, :] * down - np.arange(lo, hi + 1)[:, None] * up
        inside = (taps >= 0) & (taps < h.size)
        kernel = np.where(inside, h[np.clip(taps, 0, h.size - 1)], 0.0)
        kernels.append(
            (int(lo), np.ascontiguousarray(kernel.T).T)
        )  # [inputs, outputs], rows of .T contiguous
    return tuple(kernels)


def resample_blocked(x: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """:func:`resample`'s filter (the same taps, the same output samples and length, zeros outside
    the clip) applied as a few dense matrix products over blocks of ``down`` input samples:

        y[b L + r] = L sum_j x[b M + j] h[c + r M - j L],   L/M the reduced ratio, c the centre tap.

    Equal to :func:`resample` up to the order of the sums (rounding, ~1e-15 relative); several
    times faster on a CPU. The products are torch's float64 matmul, whose bits do not depend on the
    thread count (numpy's OpenBLAS ones do). 1-D input.
    """
    import torch

    from bench.metrics.threads import one_torch_thread

    x = np.asarray(x, dtype=np.float64)
    if orig_sr == new_sr:
        return x
    if x.ndim != 1:
        raise ValueError(f"resample_blocked: expected one 1-D signal, got shape {x.shape}")
    g = math.gcd(int(orig_sr), int(new_sr))
    up, down = int(new_sr) // g, int(orig_sr) // g
    n_out = -(-x.size * up // down)
    blocks = -(-n_out // up)
    kernels = _blocked_kernels(up, down, RESAMPLE_BLOCK_OUTPUTS)
    first = min(lo for lo, _ in kernels)
    last = max(lo + k.shape[0] for lo, k in kernels) + (blocks - 1) * down
    padded = torch.zeros(last - first, dtype=torch.float64)
    padded[-first : -first + x.size] = torch.from_numpy(x)
    out = torch.empty(up, blocks, dtype=torch.float64)  # [r, b]: each product fills whole rows
    r0 = 0
    with one_torch_thread():
        for lo, kernel in kernels:
            span, width = kernel.shape
            windows = padded[lo - first :].as_strided((span, blocks), (1, down))  # [j, b] = x[b M + j]
            torch.matmul(torch.from_numpy(kernel.T), windows, out=out[r0 : r0 + width])
            r0 += width
    return out.T.reshape(-1)[:n_out].numpy()
