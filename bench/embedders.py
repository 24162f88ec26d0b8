"""Embedding models for FAD / KAD, behind one registry.

An embedder maps one 22050 Hz clip to an [n, D] array. Its ``id`` names the model, its
weights (hash), its sample rate and the resampler, so that a cache key or a table row built
from it is never ambiguous.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.audio import RESAMPLER_ID, SAMPLE_RATE, resample


@dataclass(frozen=True)
class MelStatsEmbedder:
    """Deterministic DSP embedder (no weights): VGGish-like framing, statistics of log-mels.

    Resample to 16 kHz; non-overlapping 0.96 s examples (15360 samples; 6 per 5.94 s clip);
    each example: 64-band log-mel (n_fft 400, hop 160, Hann, center=False, log(mel + 0.01)),
    embedding = [mean over frames, std over frames] (128-d).
    """

    name: str = "melstats"
    sample_rate: int = 16000
    example_samples: int = 15360

    @property
    def id(self) -> str:
        return f"{self.name}-v1-sr{self.sample_rate}-{RESAMPLER_ID}"

    @property
    def weights(self) -> str:
        return "none (DSP)"

    def embed(self, audio: np.ndarray) -> np.ndarray:
        import librosa

        audio = resample(np.asarray(audio, dtype=np.float64), SAMPLE_RATE, self.sample_rate)
        n_examples = audio.shape[-1] // self.example_samples
        if n_examples == 0:
            raise ValueError(f"{self.name}: clip of {audio.shape[-1]} samples at {self.sample_rate} Hz "
                             f"is shorter than one {self.example_samples}-sample example")
        examples = audio[: n_examples * self.example_samples].reshape(n_examples, -1)
        mel = librosa.feature.melspectrogram(y=examples, sr=self.sample_rate, n_fft=400,
                                             hop_length=160, n_mels=64, center=False, power=2.0)
        log_mel = np.log(mel + 0.01)
        return np.concatenate([log_mel.mean(axis=-1), log_mel.std(axis=-1)], axis=-1)


EMBEDDERS = {"melstats": MelStatsEmbedder}


def get_embedder(name: str = "melstats"):
    try:
        return EMBEDDERS[name]()
    except KeyError:
        raise ValueError(f"unknown embedder {name!r}; available: {', '.join(EMBEDDERS)}") from None
