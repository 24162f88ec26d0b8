"""The three VampNet models together, as the official Interface uses them: encode a clip to tokens,
vamp the tokens under a mask, decode tokens to audio (vampnet/interface.py, VampNet.decode).

Decoding replaces any MASK token by 0, looks the tokens up in the codec's codebooks, requantises
them (the codec's ``from_latents``) and runs the decoder, without trimming. The official decode then
looks for frames where every codebook is MASK to silence them, but it looks after the replacement, so
it never finds any: nothing is silenced, here either. Sampling always finishes every token anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.adapters.vampnet import audio as audio_prep
from bench.adapters.vampnet.checkpoint import CheckpointError, load_codec, load_transformer
from bench.adapters.vampnet.sampling import Schedule, vamp

INPUT_RATE = 22050  # the harness's clips; the official run resampled them to the codec's rate


@dataclass
class VampNet:
    codec: object
    coarse: object
    c2f: object
    device: str = "cpu"

    @classmethod
    def load(cls, codec: str | Path, coarse: str | Path, c2f: str | Path, device: str = "cpu") -> "VampNet":
        pipe = cls(
            load_codec(codec, device),
            load_transformer(coarse, device, "coarse"),
            load_transformer(c2f, device, "coarse-to-fine"),
            device,
        )
        pipe.check(codec, coarse, c2f)
        return pipe

    def check(self, codec_path, coarse_path, c2f_path) -> None:
        codec, coarse, c2f = self.codec, self.coarse, self.c2f
        if coarse.n_conditioning_codebooks != 0:
            raise CheckpointError(
                f"{coarse_path}: a coarse model has no conditioning codebooks "
                f"(n_conditioning_codebooks={coarse.n_conditioning_codebooks})"
            )
        if c2f.n_codebooks != codec.n_codebooks or c2f.n_conditioning_codebooks != coarse.n_codebooks:
            raise CheckpointError(
                f"{c2f_path}: a coarse-to-fine model over the codec's {codec.n_codebooks} "
                f"codebooks conditioned on the coarse model's {coarse.n_codebooks} is needed; "
                f"it has {c2f.n_codebooks} codebooks, {c2f.n_conditioning_codebooks} conditioning"
            )
        for path, model in ((coarse_path, coarse), (c2f_path, c2f)):
            if (
                model.vocab_size != codec.codebook_size
                or model.latent_dim != codec.quantizer.quantizers[0].codebook.weight.shape[1]
            ):
                raise CheckpointError(
                    f"{path}: vocabulary {model.vocab_size} x {model.latent_dim} does not match the "
                    f"codec ({codec_path}) codebooks"
                )

    @property
    def codebooks(self) -> list[torch.Tensor]:
        return [q.codebook.weight for q in self.codec.quantizer.quantizers]

    @property
    def n_codebooks(self) -> int:
        return self.codec.n_codebooks

    @torch.no_grad()
    def encode(self, clips: torch.Tensor, rate: int = INPUT_RATE) -> torch.Tensor:
        """clips [B, T] or [B, C, T] at ``rate`` -> tokens [B, n_codebooks, frames]."""
        clips = clips if clips.ndim == 3 else clips[:, None]
        x = audio_prep.prepare(clips.to(self.device), rate, self.codec.sample_rate)
        return self.codec.encode(x)

    @torch.no_grad()
    def vamp(
        self,
        codes: torch.Tensor,
        mask: torch.Tensor,
        schedule: Schedule,
        generator: torch.Generator,
        autocast: bool = False,
        trace: dict | None = None,
    ) -> torch.Tensor:
        return vamp(
            self.coarse,
            self.c2f,
            self.codebooks,
            codes.to(self.device),
            mask.to(self.device),
            self.codec.sample_rate,
            self.codec.hop_length,
            schedule,
            generator,
            autocast,
            trace,
        )

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor, length: int | None = None, rate: int = INPUT_RATE) -> torch.Tensor:
        """tokens [B, n, T] -> audio [B, T'] at ``rate`` (cut to ``length`` when given)."""
        tokens = tokens.masked_fill(tokens == self.coarse.mask_token, 0)
        vectors = self.coarse.embedding.vectors(tokens, self.codebooks)
        audio = self.codec.decode_z(self.codec.quantizer.from_latents(vectors))[:, 0]
        audio = audio_prep.resample(audio, self.codec.sample_rate, rate)
        return audio if length is None else audio[..., :length]


def keep_mask(codes: torch.Tensor, keep: list[tuple[int, int]]) -> torch.Tensor:
    """The mask regenerating everything but codebooks [lo, hi) of each range in ``keep``."""
    mask = torch.ones_like(codes)
    for lo, hi in keep:
        mask[:, lo:hi] = 0
    return mask
