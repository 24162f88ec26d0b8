"""A latent-frequency band and the protocol's band-pass along time (protocol.md section 2): the
mask both the adherence metrics (metrics/adherence.py) and the systems apply.

Frequencies are normalised: 1.0 is the latent Nyquist (22050 / 256 / 2 = 43.07 Hz).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LATENT_NYQUIST_HZ = 22050 / 256 / 2


@dataclass(frozen=True, order=True)
class Band:
    low: float
    high: float

    def __post_init__(self):
        if not (0.0 <= self.low <= self.high <= 1.0):
            raise ValueError(f"band [{self.low}, {self.high}] must satisfy 0 <= low <= high <= 1")

    @property
    def name(self) -> str:
        return f"{self.low:g}-{self.high:g}"

    @property
    def hz(self) -> tuple[float, float]:
        return self.low * LATENT_NYQUIST_HZ, self.high * LATENT_NYQUIST_HZ

    @classmethod
    def parse(cls, text: str) -> "Band":
        """Parse ``LOW:HIGH`` or ``LOW-HIGH`` (normalised latent frequency)."""
        for sep in (":", "-"):
            if sep in text:
                low, high = text.split(sep, 1)
                band = cls(float(low), float(high))
                check_selects_bins(band)
                return band
        raise ValueError(f"band {text!r} is not of the form LOW:HIGH")


def band_mask(band: Band, n_fft: int) -> np.ndarray:
    """Hard rectangle over rfft bins: keep bin k when low <= k / (n_fft/2) <= high."""
    v = np.linspace(0.0, 1.0, n_fft // 2 + 1)
    return ((v >= band.low) & (v <= band.high)).astype(np.float64)


def check_selects_bins(band: Band, n_fft: int = 1024) -> None:
    """Refuse a band that keeps no rfft bin (``low`` and ``high`` between two bins k / (n_fft/2))."""
    if not band_mask(band, n_fft).any():
        step = 2.0 / n_fft
        below, above = np.floor(band.low / step) * step, np.ceil(band.high / step) * step
        raise ValueError(
            f"band {band.name} selects no bin of the {n_fft}-point DFT "
            f"(bins lie at k/{n_fft // 2}; the nearest are {below:.5g} and {above:.5g}): "
            "widen it to include one"
        )


def band_pass(x: np.ndarray, band: Band, n_fft: int = 1024) -> np.ndarray:
    """Band-pass along the last axis: y = irfft(mask * rfft(x, n=n_fft))[..., :T].

    ``T`` (the last axis length) must not exceed ``n_fft``; the zero-padding to ``n_fft`` is the
    protocol's (1024 bins for 512 frames, a zero-pad factor of 2).
    """
    length = x.shape[-1]
    if length > n_fft:
        raise ValueError(f"band_pass: signal of {length} frames is longer than n_fft={n_fft}")
    check_selects_bins(band, n_fft)
    spectrum = np.fft.rfft(np.asarray(x, dtype=np.float64), n=n_fft, axis=-1)
    return np.fft.irfft(spectrum * band_mask(band, n_fft), n=n_fft, axis=-1)[..., :length]
