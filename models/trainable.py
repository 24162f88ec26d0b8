"""The harness's own trainable models: their tiny and paper configs, constructors and training data
(the table behind ``python -m bench train``, bench/commands/train.py, and the reports that read
what a model was trained on)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.core.paths import REPO_ROOT
from bench.core.seeds import stream_rng
from bench.models.latentft_ablations import VARIANTS as LATENTFT_VARIANTS

# LatentFT's and the prior's tiny step count: trained here on 2 CPU cores in two runs, 3000 steps and
# then resumed to 6000 (training resumes exactly); "tiny-3000" is the same config stopped at 3000,
# the README's comparison and the step count of the ablations (make table-ablations)
TINY_STEPS = 6000
EARLIER_TINY_STEPS = 3000


def _latentft_configs(encoder: str) -> dict:
    from bench.models.latentft import LatentFTConfig
    from bench.models.training import TrainConfig

    tiny = TrainConfig(
        steps=TINY_STEPS,
        batch_size=16,
        lr=2e-4,
        warmup_steps=200,
        ema_decay=0.995,
        train_clips=384,
        diagnose_every=500,
        model=LatentFTConfig(
            encoder=encoder, latent_channels=16, decoder_base=64, decoder_mults=(1, 2, 2, 2)
        ),
    )
    if encoder == "dac-unet":  # the reference has no DAC encoder: the harness's networks at its paper scale
        model = LatentFTConfig(
            encoder=encoder,
            latent_channels=64,
            encoder_hidden=512,
            encoder_base=128,
            decoder_base=256,
            decoder_mults=(1, 2, 2, 4),
            decoder_blocks=2,
        )
    else:
        model = paper_latentft_model(encoder)
    paper = replace(paper_recipe(), model=model)
    return {"tiny": tiny, "tiny-3000": replace(tiny, steps=EARLIER_TINY_STEPS), "paper": paper}


def paper_recipe():
    """The reference's training recipe (exp/configs/default.yaml, scheduler/, README "Annealing"):
    Adam at 1e-4, linear warm-up from 0.01 x over 4000 steps, gradient clipping at 1, EMA 0.999 of
    every step, bf16 on GPU; 350k steps, then 350k more with the learning rate cosine-annealed to 0
    (700k in all); batch 1024 (256 a GPU on 4 GPUs, the paper's Appendix A)."""
    from bench.models.training import TrainConfig

    return TrainConfig(
        steps=700_000,
        batch_size=1024,
        lr=1e-4,
        warmup_steps=4000,
        warmup_start=0.01,
        anneal_steps=350_000,
        grad_clip=1.0,
        ema_decay=0.999,
        train_clips=100_000,
        checkpoint_every=5000,
        diagnose_every=5000,
    )


def paper_latentft_model(encoder: str):
    """The reference's LatentFT (exp/configs/model/5s.yaml, encoder/mlp.yaml, encoder/unet_5s.yaml):
    an 80-channel latent; the MLP encoder 80 -> 512, 7 residual blocks, -> 80; the decoder (and the
    U-Net encoder, without time) model_dim 256, mults 2,2,2,3,3,4, 4 blocks a level, attention at
    64/32/16 frames; no extra condition dropout, unit-variance mask scores, no output clamp."""
    from bench.models.latentft import LatentFTConfig

    return LatentFTConfig(
        encoder=encoder,
        architecture="paper",
        latent_channels=80,
        encoder_hidden=512,
        encoder_blocks=7,
        decoder_base=256,
        decoder_mults=(2, 2, 2, 3, 3, 4),
        decoder_blocks=4,
        attention_at=(64, 32, 16),
        cond_dropout=0.0,
        mask_scores="columns",
        clamp_output=False,
    )


def _latentft_variant_configs(changes: dict) -> dict:
    """latentft-mlp's configs with the LatentFTConfig fields of an ablation changed
    (models/latentft_ablations.py); an ablation's ``tiny`` is the base's ``tiny-3000``, the step
    count the ablations were trained for (the base row of make table-ablations)."""
    base = _latentft_configs("mlp")
    return {
        "tiny": replace(base["tiny-3000"], model=replace(base["tiny-3000"].model, **changes)),
        "paper": replace(base["paper"], model=replace(base["paper"].model, **changes)),
    }


def _prior_configs() -> dict:
    from bench.models.mel_prior import MelPriorConfig
    from bench.models.training import TrainConfig

    # the same optimisation and network sizes as LatentFT's decoder, without the condition
    tiny = TrainConfig(
        steps=TINY_STEPS,
        batch_size=16,
        lr=2e-4,
        warmup_steps=200,
        ema_decay=0.995,
        train_clips=384,
        model=MelPriorConfig(base=64, mults=(1, 2, 2, 2)),
    )
    # the reference's unconditional model (exp/configs/model/unconditional.yaml), its recipe
    paper = replace(
        paper_recipe(),
        model=MelPriorConfig(
            base=256,
            mults=(2, 2, 2, 3, 3, 4),
            blocks=4,
            architecture="paper",
            attention_at=(64, 32, 16),
            clamp_output=False,
        ),
    )
    return {"tiny": tiny, "tiny-3000": replace(tiny, steps=EARLIER_TINY_STEPS), "paper": paper}


def _hierarchical_configs(kind: str) -> dict:
    from bench.models.hierarchical import HierarchicalConfig
    from bench.models.training import TrainConfig

    tiny = TrainConfig(
        steps=10_000,
        batch_size=16,
        lr=5e-4,
        warmup_steps=200,
        ema_decay=0.995,
        train_clips=1024,
        model=HierarchicalConfig(
            kind=kind,
            code_channels=16,
            encoder_base=32,
            decoder_base=32,
            decoder_mults=(1, 2, 2),
            total_steps=10_000,
        ),
    )
    # the seed work's sizes: 64-channel codes, wide encoders and decoder, progressive thirds
    paper = TrainConfig(
        steps=300_000,
        batch_size=256,
        lr=1e-4,
        warmup_steps=4000,
        ema_decay=0.999,
        train_clips=289_205,
        checkpoint_every=5000,
        model=HierarchicalConfig(
            kind=kind,
            code_channels=64,
            encoder_base=256,
            decoder_base=256,
            decoder_mults=(1, 2, 4),
            total_steps=300_000,
        ),
    )
    return {"tiny": tiny, "paper": paper}


def _build_hierarchical(config):
    from bench.models.hierarchical import HierarchicalDAE

    return HierarchicalDAE(config)


def _lincae_configs(linear: bool) -> dict:
    from bench.models.lincae import LinCAEConfig
    from bench.models.training import TrainConfig

    # decoder_base 56 (not the class default 64): 3.04 M parameters, 11.7 MiB of fp32 weights, under the
    # 12 MiB limit of shipped weights (models/checkpoint_store.py SHIPPED_LIMIT_BYTES)
    tiny = TrainConfig(
        steps=2000,
        batch_size=8,
        lr=2e-4,
        warmup_steps=100,
        ema_decay=0.995,
        train_clips=384,
        model=LinCAEConfig(linear=linear, decoder_base=56, total_steps=2000),
    )
    # the seed's scale: 64 latent channels, wide networks, long consistency training
    paper = TrainConfig(
        steps=800_000,
        batch_size=128,
        lr=1e-4,
        warmup_steps=4000,
        ema_decay=0.9999,
        train_clips=100_000,
        checkpoint_every=5000,
        model=LinCAEConfig(
            linear=linear,
            latent_channels=64,
            encoder_base=512,
            decoder_base=256,
            decoder_mults=(1, 2, 4, 4),
            total_steps=800_000,
        ),
    )
    return {"tiny": tiny, "paper": paper}


def _build_lincae(config):
    from bench.models.lincae import LinCAE

    return LinCAE(config)


def _build_latentft(config):
    from bench.models.latentft import LatentFT

    return LatentFT(config)


def _build_prior(config):
    from bench.models.mel_prior import MelPrior

    return MelPrior(config)


# name -> (configs by name, model constructor); the name is also the checkpoint's stem
TRAINABLE = {
    "latentft-mlp": (lambda: _latentft_configs("mlp"), _build_latentft),
    "latentft-unet": (lambda: _latentft_configs("unet"), _build_latentft),
    "latentft-dac": (lambda: _latentft_configs("dac-unet"), _build_latentft),
    "uncond": (_prior_configs, _build_prior),
    "msdae": (lambda: _hierarchical_configs("msdae"), _build_hierarchical),
    "hdae": (lambda: _hierarchical_configs("hdae"), _build_hierarchical),
    "lincae": (lambda: _lincae_configs(True), _build_lincae),
    "lincae-base": (lambda: _lincae_configs(False), _build_lincae),
    **{
        name: (lambda changes=changes: _latentft_variant_configs(changes), _build_latentft)
        for name, (changes, _) in LATENTFT_VARIANTS.items()
    },
}
NOTE_MODELS = ("msdae", "hdae")  # trained on single notes, not music clips
STEM_MODELS = ("lincae", "lincae-base")  # trained on chunks of stems and mixes
DAC_MODELS = ("latentft-dac",)  # read the DAC latent of the training clips (the user's DAC weights)


def checkpoint_path(system: str, config: str) -> Path:
    """Where training writes and resumes: results/checkpoints/, never the shipped models/weights/."""
    from bench.models.checkpoint_store import trained_path

    return trained_path(system, config)


def training_mels(n_clips: int, data: str | None, seed: int = 0):
    """Normalised log-mels [N, 80, 512] of the training clips (the music21 "train" split by
    default, or a folder), with the manifest hash of the data they came from."""
    import numpy as np
    import torch

    from bench.core.mel import normalised_mel
    from bench.core.runner import embedded_dataset

    cache_root = REPO_ROOT / "datasets" / "cache"
    if data:
        from bench.datasets.folder import load_folder

        clips = load_folder(data, cache_root, seed=seed)
    else:
        clips = embedded_dataset(n_clips, seed, cache_root, "train")
    mels = np.concatenate(
        [
            normalised_mel(np.asarray(clips.clips[i : i + 32], dtype=np.float64))
            for i in range(0, len(clips), 32)
        ]
    )
    return torch.as_tensor(mels, dtype=torch.float32), clips


def require_dac_weights(dac_weights: str | None) -> Path:
    """The DAC weights file latentft-dac trains with, or a SystemExit saying what is missing."""
    from bench.adapters.dac_codec import weights_availability, weights_path

    path = weights_path(dac_weights)
    availability = weights_availability(path, "--dac-weights")
    if not availability.ok:
        raise SystemExit(f"latentft-dac needs DAC weights: {availability.reason}; fix: {availability.fix}")
    return path


def training_dac_latents(clips, frames: int, dac_weights: str | None, device: str = "cpu"):
    """The DAC latent z [N, C, frames] of every training clip, with the weights' provenance."""
    import torch

    from bench.adapters.dac_codec import clip_latents, load_dac
    from bench.core.audio import SAMPLE_RATE
    from bench.core.storage import file_sha256

    path = require_dac_weights(dac_weights)
    model = load_dac(path, device)
    latents = np.concatenate(
        [
            clip_latents(
                model, np.asarray(clips.clips[i : i + 16], dtype=np.float64), frames, SAMPLE_RATE, device
            )
            for i in range(0, len(clips), 16)
        ]
    )
    return torch.as_tensor(latents, dtype=torch.float32), {
        "dac_weights": str(path),
        "dac_weights_sha256": file_sha256(str(path)),
    }


def training_notes(n_notes: int, data: str | None, seed: int = 0):
    """(80-band mel, the three multi-resolution mels) of the embedded notes' "train" split, or of
    an NSynth folder, with the note set."""
    import numpy as np

    if data:
        from bench.datasets.nsynth import load_nsynth

        notes = load_nsynth(data, seed=seed, max_notes=n_notes)
    else:
        from bench.datasets.notes_render import notes_dataset

        notes = notes_dataset(n_notes, seed, REPO_ROOT / "datasets" / "cache", "train")
    return note_features(np.asarray(notes.clips, dtype=np.float64)), notes


def training_stem_chunks(n_clips: int, data: str | None, seed: int = 0):
    """Chunks of every audible stem and of the mix of the music21 "train" clips (or of a MUSDB18-HQ
    folder's "train" tracks), with the stem set."""
    import torch

    from bench.core.runner import embedded_dataset
    from bench.datasets.stems import load_musdb, music21_stems
    from bench.models.lincae import training_chunks

    if data:
        stems = load_musdb(data, "train", seed=seed, max_tracks=n_clips)
    else:
        stems = music21_stems(embedded_dataset(n_clips, seed, REPO_ROOT / "datasets" / "cache", "train"))
    return torch.as_tensor(training_chunks(stems, stream_rng(seed, "lincae-train-chunks"))), stems


def note_features(audio):
    """The hierarchical models' inputs of clips [N, T]: (80-band mel, 32-, 64-, 128-band mels)."""
    import torch

    from bench.core.mel import normalised_mel
    from bench.models.hierarchical import multires_mels

    mel = torch.as_tensor(normalised_mel(audio), dtype=torch.float32)
    return (mel, *(torch.as_tensor(m) for m in multires_mels(audio)))
