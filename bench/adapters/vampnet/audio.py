"""The audio side of VampNet's encode, as the official interface runs it (vampnet/interface.py
``_preprocess`` on audiotools' AudioSignal): windowed-sinc resampling (audiotools calls julius'
``resample_frac``: the rate ratio reduced by its gcd, a Hann-squared-windowed sinc of 24 zero
crossings, cut-off 0.945 of the lower Nyquist, edges padded by replication), ITU-R BS.1770
integrated loudness (K-weighting, 400 ms blocks with 75 % overlap, gates at -70 LUFS and 10 LU below
the mean; floored at -70) normalised to -24 LUFS, then peaks scaled down to at most 1.

The K-weighting runs as the exact IIR filter (what audiotools does on CPU; on CUDA it switches to a
512-tap FIR approximation, which this port does not copy), in float64, the rest in float32 like
the official code.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

TARGET_LUFS = -24.0
MIN_LUFS = -70.0
BLOCK_S = 0.400


def _sinc(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x == 0, torch.ones_like(x), torch.sin(x) / x)


def resample(
    x: torch.Tensor, old_sr: int, new_sr: int, zeros: int = 24, rolloff: float = 0.945
) -> torch.Tensor:
    """x [..., T] at old_sr -> [..., floor(T * new_sr / old_sr)] at new_sr (float32)."""
    gcd = math.gcd(int(old_sr), int(new_sr))
    old, new = int(old_sr) // gcd, int(new_sr) // gcd
    if old == new:
        return x
    cutoff = min(old, new) * rolloff
    width = math.ceil(zeros * old / cutoff)
    idx = torch.arange(-width, width + old, dtype=torch.float32)
    kernels = []
    for i in range(new):
        t = ((-i / new + idx / old) * cutoff).clamp(-zeros, zeros) * math.pi
        kernel = _sinc(t) * torch.cos(t / zeros / 2) ** 2
        kernels.append(kernel / kernel.sum())
    kernel = torch.stack(kernels).view(new, 1, -1).to(x)
    shape, length = x.shape, x.shape[-1]
    flat = F.pad(x.reshape(-1, length)[:, None], (width, width + old), mode="replicate")
    y = F.conv1d(flat, kernel, stride=old).transpose(1, 2).reshape(list(shape[:-1]) + [-1])
    return y[..., : int(math.floor(new * length / old))]


def _biquads(rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two K-weighting stages (a high shelf of +4 dB at 1500 Hz, Q 1/sqrt 2, and a high-pass at
    38 Hz, Q 0.5) as (b, a), from the RBJ cookbook formulas pyloudnorm uses."""
    stages = []
    for gain_db, q, fc, kind in ((4.0, 1 / np.sqrt(2), 1500.0, "shelf"), (0.0, 0.5, 38.0, "highpass")):
        a_lin = 10 ** (gain_db / 40.0)
        w0 = 2.0 * np.pi * fc / rate
        alpha = np.sin(w0) / (2.0 * q)
        cos = np.cos(w0)
        if kind == "shelf":
            root = 2 * np.sqrt(a_lin) * alpha
            b = [
                a_lin * ((a_lin + 1) + (a_lin - 1) * cos + root),
                -2 * a_lin * ((a_lin - 1) + (a_lin + 1) * cos),
                a_lin * ((a_lin + 1) + (a_lin - 1) * cos - root),
            ]
            a = [
                (a_lin + 1) - (a_lin - 1) * cos + root,
                2 * ((a_lin - 1) - (a_lin + 1) * cos),
                (a_lin + 1) - (a_lin - 1) * cos - root,
            ]
        else:
            b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
            a = [1 + alpha, -2 * cos, 1 - alpha]
        stages.append((np.array(b), np.array(a)))
    return stages


def loudness(x: torch.Tensor, rate: int) -> torch.Tensor:
    """Integrated loudness in LUFS of x [B, C, T] (one value per item, floored at -70)."""
    from scipy.signal import lfilter

    length = x.shape[-1]
    if length / rate < 0.5:
        x = F.pad(x, (0, int((0.5 - length / rate) * rate)))
    data = x.detach().double().cpu().numpy()
    for b, a in _biquads(rate):
        data = lfilter(b, a, data, axis=-1)
    data = torch.from_numpy(data).float()
    kernel, stride = int(BLOCK_S * rate), int(BLOCK_S * rate * 0.25)
    n_blocks = math.ceil((max(data.shape[-1], kernel) - kernel) / stride) + 1
    data = F.pad(data, (0, (n_blocks - 1) * stride + kernel - data.shape[-1]))
    blocks = data.unfold(-1, kernel, stride)  # [B, C, blocks, kernel]
    power = (1.0 / (BLOCK_S * rate)) * blocks.square().sum(-1)  # [B, C, blocks]
    gains = torch.tensor([1.0, 1.0, 1.0, 1.41, 1.41], dtype=torch.float64).float()[: x.shape[1]]
    block_lufs = -0.691 + 10.0 * torch.log10((gains[None, :, None] * power).sum(1, keepdim=True))
    above = (block_lufs > MIN_LUFS).expand_as(power)
    mean = (power * above).sum(2) / above.sum(2)
    relative = -0.691 + 10.0 * torch.log10((mean * gains[None]).sum(-1)) - 10.0
    kept = above & (block_lufs > relative[:, None, None]).expand_as(power)
    mean = (power * kept).sum(2) / kept.sum(2)
    mean = torch.where(mean.isnan(), torch.zeros_like(mean), mean)
    lufs = -0.691 + 10.0 * torch.log10((gains[None] * mean).sum(1))
    return torch.maximum(lufs.float(), torch.full_like(lufs.float(), MIN_LUFS)).to(x.device)


def prepare(audio: torch.Tensor, rate: int, codec_rate: int) -> torch.Tensor:
    """audio [B, C, T] at ``rate`` -> the codec's input [B, 1, T'] (resampled, mono, -24 LUFS, peak <= 1)."""
    x = resample(audio.float(), rate, codec_rate).mean(1, keepdim=True)
    gain = torch.exp((torch.tensor(TARGET_LUFS) - loudness(x, codec_rate).cpu()) * float(np.log(10) / 20))
    x = x * gain.to(x.device)[:, None, None]
    peak = x.abs().max(dim=-1, keepdim=True)[0]
    scale = torch.where(peak > 1.0, 1.0 / peak, torch.ones_like(peak))
    return x * scale
