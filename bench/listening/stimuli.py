"""Stimulus files: ITU-R BS.1770 loudness normalisation with peak protection, 16-bit PCM WAV
without metadata (soundfile writes no INFO chunk unless asked)."""

from __future__ import annotations

import io

import numpy as np
import pyloudnorm
import soundfile

from bench.core.storage import atomic_write_bytes


def loudness_normalise(
    audio: np.ndarray, sample_rate: int, target_lufs: float, peak_ceiling_dbfs: float
) -> tuple[np.ndarray, dict]:
    """Gain ``audio`` to ``target_lufs`` integrated loudness; when that would push the sample peak
    above ``peak_ceiling_dbfs``, the gain stops at the ceiling (the clip ends up quieter, and says so)."""
    audio = np.asarray(audio, dtype=np.float64)
    meter = pyloudnorm.Meter(sample_rate)
    measured = meter.integrated_loudness(audio)
    if not np.isfinite(measured):
        raise ValueError("the clip is silent: its loudness cannot be measured")
    gain = 10 ** ((target_lufs - measured) / 20)
    peak = float(np.max(np.abs(audio))) * gain
    ceiling = 10 ** (peak_ceiling_dbfs / 20)
    limited = peak > ceiling
    if limited:
        gain *= ceiling / peak
    out = audio * gain
    headroom = peak_ceiling_dbfs - 20 * np.log10(max(float(np.max(np.abs(audio))), 1e-12))
    return out, {
        "input_lufs": round(float(measured), 3),
        "loudest_unlimited_lufs": round(float(measured + headroom), 3),
        "output_lufs": round(float(meter.integrated_loudness(out)), 3),
        "gain_db": round(float(20 * np.log10(gain)), 3),
        "peak_limited": bool(limited),
        "peak_dbfs": round(float(20 * np.log10(max(np.max(np.abs(out)), 1e-12))), 3),
    }


def write_wav(path, audio: np.ndarray, sample_rate: int) -> None:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    atomic_write_bytes(path, buffer.getvalue())
