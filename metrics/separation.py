"""Signal-level distances between an estimate and a reference (float64)."""

from __future__ import annotations

import numpy as np

EPS = 1e-12


def _pair(estimate: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    estimate = np.asarray(estimate, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if estimate.shape != reference.shape:
        raise ValueError(f"estimate shape {estimate.shape} differs from reference shape {reference.shape}")
    if not (np.all(np.isfinite(estimate)) and np.all(np.isfinite(reference))):
        raise ValueError("estimate or reference contains NaN or infinite samples")
    return estimate, reference


def si_sdr(estimate: np.ndarray, reference: np.ndarray, zero_mean: bool = True) -> np.ndarray:
    """Scale-invariant SDR in dB along the last axis (higher is better).

    s = (<e, r> / |r|^2) r,  SI-SDR = 10 log10(|s|^2 / |e - s|^2), both signals de-meaned first
    (the torchmetrics default); eps = 1e-12 guards the ratios.
    """
    estimate, reference = _pair(estimate, reference)
    if zero_mean:
        estimate = estimate - estimate.mean(axis=-1, keepdims=True)
        reference = reference - reference.mean(axis=-1, keepdims=True)
    alpha = ((estimate * reference).sum(-1, keepdims=True) + EPS) / (
        (reference**2).sum(-1, keepdims=True) + EPS
    )
    target = alpha * reference
    noise = estimate - target
    return 10.0 * np.log10(((target**2).sum(-1) + EPS) / ((noise**2).sum(-1) + EPS))


def snr(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """SNR = 10 log10(|r|^2 / |r - e|^2) in dB along the last axis (higher is better)."""
    estimate, reference = _pair(estimate, reference)
    return 10.0 * np.log10(((reference**2).sum(-1) + EPS) / (((reference - estimate) ** 2).sum(-1) + EPS))


MEL_SCALES = ((512, 128, 40), (1024, 256, 80), (2048, 512, 160))  # (n_fft, hop, mel bands)


def multiscale_mel_distance(
    estimate: np.ndarray, reference: np.ndarray, sample_rate: int = 22050, scales=MEL_SCALES
) -> np.ndarray:
    """Mean over scales s of mean |log10 max(M_s(e), 1e-5) - log10 max(M_s(r), 1e-5)|, where M_s is
    the magnitude mel spectrogram (Hann window n_fft, hop, bands, centred) of scale s; lower is
    better. Computed per item along the last axis."""
    import librosa

    estimate, reference = _pair(estimate, reference)
    distances = []
    for n_fft, hop, bands in scales:

        def logmel(x):
            m = librosa.feature.melspectrogram(
                y=x, sr=sample_rate, n_fft=n_fft, hop_length=hop, n_mels=bands, power=1.0
            )
            return np.log10(np.maximum(m, 1e-5))

        distances.append(np.abs(logmel(estimate) - logmel(reference)).mean(axis=(-2, -1)))
    return np.mean(distances, axis=0)
