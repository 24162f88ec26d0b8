"""Adherence scores between a generated clip and its reference in a latent-frequency band.

Each score takes descriptor curves (metrics.descriptors), band-passes them along time with the
protocol's mask (metrics/bands.py band_pass, n_fft 1024), and compares. "in" compares the
band-passed curves; "out" compares the residuals (curve minus its band-passed part).
"""

from __future__ import annotations

import math

import numpy as np

from bench.metrics.bands import Band, band_pass
from bench.metrics.descriptors import Descriptors

MCD_CONSTANT = 10.0 * math.sqrt(2.0) / math.log(10.0)
HIGHER_IS_BETTER = {"loudness": True, "rhythm": True, "timbre": False, "harmony": False}


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """r = sum (a - mean a)(b - mean b) / sqrt(sum (a - mean a)^2 sum (b - mean b)^2).

    Defined as 0 when either curve has zero variance (no linear relation can be measured).
    """
    a = a - a.mean()
    b = b - b.mean()
    denominator = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    return float(np.dot(a, b) / denominator) if denominator > 1e-300 else 0.0


def beat_spectrum(envelope: np.ndarray) -> np.ndarray:
    """B[l] = sum_t e[t] e[t + l] for every lag l = 0..F-1, e scaled by its max-abs."""
    peak = np.abs(envelope).max()
    e = envelope / peak if peak > 0 else envelope
    frames = e.shape[-1]
    spectrum = np.fft.rfft(e, n=2 * frames)
    return np.fft.irfft(spectrum * np.conj(spectrum), n=2 * frames)[:frames]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """cos = <a, b> / (|a| |b|); 0 when either vector is zero."""
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / denominator) if denominator > 1e-300 else 0.0


def loudness_score(pred: np.ndarray, ref: np.ndarray) -> float:
    """Pearson correlation of two (band-passed) loudness curves. Higher is better."""
    return pearson(pred, ref)


def rhythm_score(pred: np.ndarray, ref: np.ndarray) -> float:
    """Cosine similarity of the beat spectra of two (band-passed) onset envelopes. Higher is better."""
    return cosine(beat_spectrum(pred), beat_spectrum(ref))


def timbre_score(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mel-cepstral distortion, MCD = (10 sqrt 2 / ln 10) mean_t ||c_t - c'_t||_2 over 20 MFCCs.

    Raw value (Table 1 shows MCD/100). Lower is better. No time warping.
    """
    return MCD_CONSTANT * float(np.mean(np.linalg.norm(pred - ref, axis=0)))


def harmony_score(pred: np.ndarray, ref: np.ndarray) -> float:
    """Tonnetz distance: mean_t ||t_t - t'_t||_2 over the 6 tonnetz dimensions. Lower is better."""
    return float(np.mean(np.linalg.norm(pred - ref, axis=0)))


_SCORES = {
    "loudness": ("loudness", loudness_score),
    "rhythm": ("onset", rhythm_score),
    "timbre": ("mfcc", timbre_score),
    "harmony": ("tonnetz", harmony_score),
}


def adherence(pred: Descriptors, ref: Descriptors, band: Band) -> dict[str, float]:
    """The four scores "in" the band and "out" of it: keys like ``loudness_in``, ``timbre_out``."""
    pred_curves, ref_curves = pred.as_dict(), ref.as_dict()
    scores = {}
    for metric, (curve_name, score) in _SCORES.items():
        p, r = pred_curves[curve_name], ref_curves[curve_name]
        frames = min(p.shape[-1], r.shape[-1])
        p, r = p[..., :frames], r[..., :frames]
        p_in, r_in = band_pass(p, band), band_pass(r, band)
        scores[f"{metric}_in"] = score(p_in, r_in)
        scores[f"{metric}_out"] = score(p - p_in, r - r_in)
    return scores
