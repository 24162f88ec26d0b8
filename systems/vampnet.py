"""``vampnet``: VampNet (masked acoustic token modelling, Garcia et al. 2023), the paper's "Masked
Tok." baseline, run natively (bench/adapters/vampnet/, docs/vampnet.md).

Its conditions are RVQ codebooks, not latent-frequency bands. Each harness band or band pair maps to
the reference code's codebook setting at the same position (reproduce_results/cond_and_blend/
generate.py, ``scaling="discrete"``):

- conditional, ``settings=paper``: the 2-band split -> keep codebooks [0, 2), [2, 4); the 4-band split ->
  [0, 1), [1, 2), [2, 3), [3, 4); the 8-band split has no setting in the reference, so its items fail
  with that reason (the row is formed from the six settings);
- conditional, ``settings=levels``: the 14 bands in order -> single codebooks 0..13 kept alone (the
  reference's ``discrete_sweep``, Fig. 13's left half);
- blending: the 6 pairs of the 4-band split (i, j) -> codebook i from the first reference and codebook j
  from the second, everything else regenerated.

Clips (22050 Hz) are resampled to the codec's rate, made mono and normalised to -24 LUFS, encoded,
vamped (12 coarse and 2 coarse-to-fine steps) and decoded, resampled back and cut to the input length.
Each item runs alone with a torch generator seeded by its seed, so a result never depends on its batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.core.bands import CONDITIONAL_BANDS, FOUR_BAND_SPLIT, Band
from bench.core.registry import register
from bench.core.system import Availability, Needs, System, WeightFile, validate_options

TABLE_NOTE = (
    "conditions on RVQ codebooks, not latent bands (settings={settings}: each band is a codebook "
    "setting, docs/vampnet.md); the paper reports FAD only; adherence shown for reference"
)
PAPER_SETTINGS = ((0, 2), (2, 4), (0, 1), (1, 2), (2, 3), (3, 4))
FILES = ("codec", "coarse", "c2f")
SOURCE = (
    "Hugging Face hugggof/vampnet or Zenodo record 8136629 (code MIT, weights CC BY-NC-SA 4.0; "
    "the project never downloads them)"
)


def conditional_setting(band: Band, settings: str) -> tuple[int, int]:
    """The codebook range [lo, hi) kept for a conditional band."""
    if band not in CONDITIONAL_BANDS:
        raise ValueError(f"vampnet: band {band.name} is not one of the protocol's 14 bands")
    index = CONDITIONAL_BANDS.index(band)
    if settings == "levels":
        return index, index + 1
    if index >= len(PAPER_SETTINGS):
        raise ValueError(
            f"vampnet: band {band.name} (8-band split) has no codebook setting in the reference "
            f"code; VampNet's conditional row uses its six settings (docs/vampnet.md)"
        )
    return PAPER_SETTINGS[index]


def blend_setting(band: Band) -> tuple[int, int]:
    if band not in FOUR_BAND_SPLIT:
        raise ValueError(f"vampnet: blending band {band.name} is not one of the 4-band split's bands")
    index = FOUR_BAND_SPLIT.index(band)
    return index, index + 1


@register
class VampNetSystem(System):
    name = "vampnet"
    description = "VampNet masked token model: keeps RVQ codebooks, regenerates the rest (user's weights)"
    needs = Needs(
        packages=("torch", "scipy"), weights=tuple(WeightFile(f, f"VampNet {f}.pth") for f in FILES)
    )

    @dataclass(frozen=True)
    class Options:
        codec: str | None = None  # codec.pth (lac)
        coarse: str | None = None  # coarse.pth
        c2f: str | None = None  # c2f.pth (coarse-to-fine)
        settings: str = "paper"  # paper: the reference's six settings; levels: band i -> codebook i
        coarse_steps: int = 12
        c2f_steps: int = 2
        temperature: float = 1.0  # the coarse model's (the official coarse-to-fine pass uses 1)
        reference_batch: int | None = None  # the official batch-summed schedule of a batch of N
        coarse_chunk_s: float = 10.0
        c2f_chunk_s: float = 3.0
        bf16: bool = True  # bfloat16 autocast on CUDA as the official interface (never on CPU)

        def __post_init__(self):
            if self.settings not in ("paper", "levels"):
                raise ValueError(f"settings must be paper or levels, not {self.settings!r}")
            if self.coarse_steps < 1 or self.c2f_steps < 1:
                raise ValueError("coarse_steps and c2f_steps must be at least 1")
            if self.temperature <= 0:
                raise ValueError("temperature must be positive")
            if self.reference_batch is not None and self.reference_batch < 1:
                raise ValueError("reference_batch must be at least 1")
            if self.coarse_chunk_s <= 0 or self.c2f_chunk_s <= 0:
                raise ValueError("chunk sizes must be positive")

    @classmethod
    def availability(cls, options=None) -> Availability:
        missing = [f for f in FILES if getattr(validate_options(cls, options), f) is None]
        if missing:
            flags = " ".join(f"--system-option vampnet.{f}=/path/{f}.pth" for f in FILES)
            return Availability(
                False,
                f"no VampNet weights given ({', '.join(f + '.pth' for f in missing)})",
                f"download codec.pth, coarse.pth and c2f.pth from {SOURCE} and pass {flags}",
            )
        return super().availability(options)

    def load(self):
        from bench.adapters.vampnet.pipeline import VampNet

        o = self.options
        return VampNet.load(o.codec, o.coarse, o.c2f, self.context.device)

    def _schedule(self):
        from bench.adapters.vampnet.sampling import Schedule

        o = self.options
        return Schedule(
            o.coarse_steps,
            o.c2f_steps,
            o.temperature,
            coarse_chunk_s=o.coarse_chunk_s,
            c2f_chunk_s=o.c2f_chunk_s,
            reference_batch=o.reference_batch,
        )

    def _run(self, codes, keep, seed: int, length: int) -> np.ndarray:
        import torch

        from bench.adapters.vampnet.pipeline import keep_mask
        from bench.core.audio import fit_length

        pipe = self.loaded
        generator = torch.Generator(device=self.context.device).manual_seed(int(seed))
        autocast = self.options.bf16 and str(self.context.device).startswith("cuda")
        tokens = pipe.vamp(codes, keep_mask(codes, keep), self._schedule(), generator, autocast)
        audio = pipe.decode(tokens, length)[0].double().cpu().numpy()
        return fit_length(audio, length)

    def _encode(self, clip):
        import torch

        return self.loaded.encode(torch.as_tensor(np.asarray(clip), dtype=torch.float32)[None])

    def conditional(self, batch):
        # every item's setting checked before any is vamped: a batch with an item that has none fails
        # at once and its items are retried alone (bench/core/generation.py), not vamped twice
        keeps = [conditional_setting(band, self.options.settings) for band in batch.bands]
        self._check_codebooks(*keeps)
        out = []
        for clip, keep, seed in zip(np.asarray(batch.references), keeps, batch.seeds):
            out.append(self._run(self._encode(clip), [keep], seed, clip.shape[-1]))
        return np.stack(out)

    def blend(self, batch):
        settings = [
            (blend_setting(band1), blend_setting(band2)) for band1, band2 in zip(batch.bands1, batch.bands2)
        ]
        self._check_codebooks(*(keep for pair in settings for keep in pair))
        out = []
        for clip1, clip2, (keep1, keep2), seed in zip(
            np.asarray(batch.references1), np.asarray(batch.references2), settings, batch.seeds
        ):
            codes = self._encode(clip1).clone()
            codes[:, keep2[0] : keep2[1]] = self._encode(clip2)[:, keep2[0] : keep2[1]]
            out.append(self._run(codes, [keep1, keep2], seed, clip1.shape[-1]))
        return np.stack(out)

    def _check_codebooks(self, *ranges):
        n = self.loaded.n_codebooks
        for lo, hi in ranges:
            if hi > n:
                raise ValueError(f"vampnet: codebooks [{lo}, {hi}) asked for, the codec has {n}")

    def info(self) -> dict:
        """Facts for ``bench systems --verbose`` and the run record; ``table_note`` labels the row in
        the tables (bench/reports/tables.py)."""
        note = {"table_note": TABLE_NOTE.format(settings=self.options.settings)}
        try:
            pipe = self.loaded
        except Exception as error:  # the note labels the row even when the weights cannot be read
            return note | {"error": str(error)}
        codec = pipe.codec
        return note | {
            "sample_rate": codec.sample_rate,
            "hop": codec.hop_length,
            "codebooks": codec.n_codebooks,
            "coarse_codebooks": pipe.coarse.n_codebooks,
            "parameters": {
                name: int(sum(p.numel() for p in m.parameters()))
                for name, m in (("codec", codec), ("coarse", pipe.coarse), ("c2f", pipe.c2f))
            },
        }
