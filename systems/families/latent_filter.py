"""What the codec baselines (``dac``, ``rave``) share (protocol.md section 5): resample the clip to
the model's rate, encode it, band-mask the latent along time, decode, resample back to 22050 Hz
and trim to the input length. Blending decodes 0.5 m1(z1) + 0.5 m2(z2).

Bands are in absolute latent frequency (1.0 = 43.07 Hz, the Nyquist of the 86.13 Hz mel frame
rate), so a model whose latent runs at another rate keeps the same Hz range: rfft bin k of an
n-point transform of a latent at r Hz is kept when low * 43.07 <= k r / n <= high * 43.07. The
transform zero-pads to the next power of two of at least twice the latent length (the protocol's
1024 points for 512 frames). A band above a slow latent's own Nyquist keeps nothing. This is what
the reference code's 4x latent upsampling for RAVE aims at, without its bug of never downsampling
back (its audio came out four times too long).
"""

from __future__ import annotations

import numpy as np

from bench.core.audio import SAMPLE_RATE, fit_length, resample
from bench.core.bands import LATENT_NYQUIST_HZ, Band
from bench.core.system import System

BLEND_WEIGHTS = (0.5, 0.5)


def latent_fft_size(frames: int) -> int:
    return 1 << max(1, int(np.ceil(np.log2(2 * frames))))


def hz_band_mask(band: Band, n_fft: int, latent_rate_hz: float) -> np.ndarray:
    hz = np.arange(n_fft // 2 + 1) * latent_rate_hz / n_fft
    low, high = band.low * LATENT_NYQUIST_HZ, band.high * LATENT_NYQUIST_HZ
    # a relative tolerance so that bin edges computed in Hz match bands.band_mask at 86.13 Hz
    tolerance = 1e-9 * LATENT_NYQUIST_HZ
    return ((hz >= low - tolerance) & (hz <= high + tolerance)).astype(np.float64)


def mask_latent(z: np.ndarray, band: Band, latent_rate_hz: float) -> np.ndarray:
    """irfft(mask * rfft(z, n))[..., :F] along the last (time) axis of one item's latent [C, F]."""
    frames = z.shape[-1]
    n_fft = latent_fft_size(frames)
    spectrum = np.fft.rfft(np.asarray(z, dtype=np.float64), n=n_fft, axis=-1)
    return np.fft.irfft(spectrum * hz_band_mask(band, n_fft, latent_rate_hz), n=n_fft, axis=-1)[..., :frames]


class LatentFilterSystem(System):
    """Subclasses give ``model_rate`` and ``latent_rate`` and implement ``encode_one`` (audio [T]
    at the model's rate -> latent [C, F]) and ``decode_one`` (latent -> audio [T'])."""

    @property
    def model_rate(self) -> int:
        raise NotImplementedError

    @property
    def latent_rate(self) -> float:
        raise NotImplementedError

    def encode_one(self, audio: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def decode_one(self, latent: np.ndarray, length: int) -> np.ndarray:
        raise NotImplementedError

    def _latent(self, clip: np.ndarray) -> tuple[np.ndarray, int]:
        audio = resample(clip, SAMPLE_RATE, self.model_rate)
        return self.encode_one(audio), audio.shape[-1]

    def _audio(self, latent: np.ndarray, model_length: int, length: int) -> np.ndarray:
        decoded = self.decode_one(latent, model_length)
        return fit_length(resample(fit_length(decoded, model_length), self.model_rate, SAMPLE_RATE), length)

    def conditional(self, batch):
        # one item at a time: a figure never depends on what else is in the batch
        out = []
        for clip, band in zip(np.asarray(batch.references), batch.bands):
            z, model_length = self._latent(clip)
            out.append(self._audio(mask_latent(z, band, self.latent_rate), model_length, clip.shape[-1]))
        return np.stack(out)

    def blend(self, batch):
        out = []
        w1, w2 = BLEND_WEIGHTS
        for clip1, clip2, band1, band2 in zip(
            np.asarray(batch.references1), np.asarray(batch.references2), batch.bands1, batch.bands2
        ):
            z1, model_length = self._latent(clip1)
            z2, _ = self._latent(clip2)
            mixed = w1 * mask_latent(z1, band1, self.latent_rate) + w2 * mask_latent(
                z2, band2, self.latent_rate
            )
            out.append(self._audio(mixed, model_length, clip1.shape[-1]))
        return np.stack(out)
