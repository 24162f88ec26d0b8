"""``python -m bench train --system NAME --config tiny|paper``: train one of the harness's own models."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench import REPO_ROOT
from bench.latentft_ablations import VARIANTS as LATENTFT_VARIANTS
from bench.seeds import stream_rng, torch_seed



def _latentft_configs(encoder: str) -> dict:
    from bench.models.latentft import LatentFTConfig
    from bench.models.training import TrainConfig

    tiny = TrainConfig(steps=3000, batch_size=16, lr=2e-4, warmup_steps=200, ema_decay=0.995, train_clips=384,
                       model=LatentFTConfig(encoder=encoder, latent_channels=16, decoder_base=64,
                                            decoder_mults=(1, 2, 2, 2)))
    # the paper's scale (Appendix A): 700k steps at batch 1024 on 4 GPUs; decoder width 256
    paper = TrainConfig(steps=700_000, batch_size=1024, lr=1e-4, warmup_steps=4000, ema_decay=0.999,
                        train_clips=100_000, checkpoint_every=5000,
                        model=LatentFTConfig(encoder=encoder, latent_channels=64, encoder_hidden=512,
                                             encoder_base=128, decoder_base=256, decoder_mults=(1, 2, 2, 4),
                                             decoder_blocks=2))
    return {"tiny": tiny, "paper": paper}


def _latentft_variant_configs(changes: dict) -> dict:
    """latentft-mlp's configs with the LatentFTConfig fields of an ablation changed
    (bench/latentft_ablations.py)."""
    return {name: replace(config, model=replace(config.model, **changes))
            for name, config in _latentft_configs("mlp").items()}


def _prior_configs() -> dict:
    from bench.models.mel_prior import MelPriorConfig
    from bench.models.training import TrainConfig

    # the same optimisation and network sizes as LatentFT's decoder, without the condition
    tiny = TrainConfig(steps=3000, batch_size=16, lr=2e-4, warmup_steps=200, ema_decay=0.995, train_clips=384,
                       model=MelPriorConfig(base=64, mults=(1, 2, 2, 2)))
    paper = TrainConfig(steps=700_000, batch_size=1024, lr=1e-4, warmup_steps=4000, ema_decay=0.999,
                        train_clips=100_000, checkpoint_every=5000,
                        model=MelPriorConfig(base=256, mults=(1, 2, 2, 4), blocks=2))
    return {"tiny": tiny, "paper": paper}


def _hierarchical_configs(kind: str) -> dict:
    from bench.models.hierarchical import HierarchicalConfig
    from bench.models.training import TrainConfig

    tiny = TrainConfig(steps=10_000, batch_size=16, lr=5e-4, warmup_steps=200, ema_decay=0.995, train_clips=1024,
                       model=HierarchicalConfig(kind=kind, code_channels=16, encoder_base=32, decoder_base=32,
                                                decoder_mults=(1, 2, 2), total_steps=10_000))
    # the seed work's sizes: 64-channel codes, wide encoders and decoder, progressive thirds
    paper = TrainConfig(steps=300_000, batch_size=256, lr=1e-4, warmup_steps=4000, ema_decay=0.999,
                        train_clips=289_205, checkpoint_every=5000,
                        model=HierarchicalConfig(kind=kind, code_channels=64, encoder_base=256, decoder_base=256,
                                                 decoder_mults=(1, 2, 4), total_steps=300_000))
    return {"tiny": tiny, "paper": paper}


def _build_hierarchical(config):
    from bench.models.hierarchical import HierarchicalDAE

    return HierarchicalDAE(config)


def _lincae_configs(linear: bool) -> dict:
    from bench.models.lincae import LinCAEConfig
    from bench.models.training import TrainConfig

    tiny = TrainConfig(steps=2000, batch_size=8, lr=2e-4, warmup_steps=100, ema_decay=0.995, train_clips=384,
                       model=LinCAEConfig(linear=linear, total_steps=2000))
    # the seed's scale: 64 latent channels, wide networks, long consistency training
    paper = TrainConfig(steps=800_000, batch_size=128, lr=1e-4, warmup_steps=4000, ema_decay=0.9999,
                        train_clips=100_000, checkpoint_every=5000,
                        model=LinCAEConfig(linear=linear, latent_channels=64, encoder_base=512, decoder_base=256,
                                           decoder_mults=(1, 2, 4, 4), total_steps=800_000))
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
    **{name: (lambda changes=changes: _latentft_variant_configs(changes), _build_latentft)
       for name, (changes, _) in LATENTFT_VARIANTS.items()},
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

    from bench.mel import normalised_mel
    from bench.runner import embedded_dataset

    cache_root = REPO_ROOT / "datasets" / "cache"
    if data:
        from bench.datasets.folder import load_folder

        clips = load_folder(data, cache_root, seed=seed)
    else:
        clips = embedded_dataset(n_clips, seed, cache_root, "train")
    mels = np.concatenate([normalised_mel(np.asarray(clips.clips[i:i + 32], dtype=np.float64))
                           for i in range(0, len(clips), 32)])
    return torch.as_tensor(mels, dtype=torch.float32), clips


def require_dac_weights(dac_weights: str | None) -> Path:
    """The DAC weights file latentft-dac trains with, or a SystemExit saying what is missing."""
    from bench.dac_codec import weights_availability, weights_path

    path = weights_path(dac_weights)
    availability = weights_availability(path, "--dac-weights")
    if not availability.ok:
        raise SystemExit(f"latentft-dac needs DAC weights: {availability.reason}; fix: {availability.fix}")
    return path


def training_dac_latents(clips, frames: int, dac_weights: str | None, device: str = "cpu"):
    """The DAC latent z [N, C, frames] of every training clip, with the weights' provenance."""
    import torch

    from bench.audio import SAMPLE_RATE
    from bench.dac_codec import clip_latents, load_dac
    from bench.storage import file_sha256

    path = require_dac_weights(dac_weights)
    model = load_dac(path, device)
    latents = np.concatenate([clip_latents(model, np.asarray(clips.clips[i:i + 16], dtype=np.float64), frames,
                                           SAMPLE_RATE, device) for i in range(0, len(clips), 16)])
    return torch.as_tensor(latents, dtype=torch.float32), {"dac_weights": str(path),
                                                           "dac_weights_sha256": file_sha256(str(path))}


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
    import numpy as np
    import torch

    from bench.datasets.stems import load_musdb, music21_stems
    from bench.models.lincae import training_chunks
    from bench.runner import embedded_dataset

    if data:
        stems = load_musdb(data, "train", seed=seed, max_tracks=n_clips)
    else:
        stems = music21_stems(embedded_dataset(n_clips, seed, REPO_ROOT / "datasets" / "cache", "train"))
    return torch.as_tensor(training_chunks(stems, stream_rng(seed, "lincae-train-chunks"))), stems


def note_features(audio):
    """The hierarchical models' inputs of clips [N, T]: (80-band mel, 32-, 64-, 128-band mels)."""
    import torch

    from bench.mel import normalised_mel
    from bench.models.hierarchical import multires_mels

    mel = torch.as_tensor(normalised_mel(audio), dtype=torch.float32)
    return (mel, *(torch.as_tensor(m) for m in multires_mels(audio)))


def run(args) -> int:
    import torch

    from bench.models.training import train

    if args.system not in TRAINABLE:
        print(f"error: {args.system!r} is not trained by the harness; trainable: {', '.join(TRAINABLE)}")
        return 2
    make_configs, build = TRAINABLE[args.system]
    configs = make_configs()
    if args.config not in configs:
        print(f"error: unknown config {args.config!r}; choose from {', '.join(configs)}")
        return 2
    config = configs[args.config]
    if args.steps:
        config = replace(config, steps=args.steps)
    torch.manual_seed(torch_seed(config.seed, "model-init"))
    if args.system in DAC_MODELS:
        require_dac_weights(args.dac_weights)  # before rendering or reading the training set
    if args.system in NOTE_MODELS:
        data, clips = training_notes(config.train_clips, args.data)
    elif args.system in STEM_MODELS:
        data, clips = training_stem_chunks(config.train_clips, args.data, config.seed)
    else:
        data, clips = training_mels(config.train_clips, args.data)
    path = Path(args.checkpoint) if args.checkpoint else checkpoint_path(args.system, args.config)
    meta = {"system": args.system, "config_name": args.config, "dataset": clips.name,
            "dataset_manifest_hash": clips.manifest_hash, "n_train_clips": len(clips)}
    if args.system in DAC_MODELS:
        latents, dac_meta = training_dac_latents(clips, data.shape[-1], args.dac_weights, args.device)
        config = replace(config, model=replace(config.model, encoder_input_channels=int(latents.shape[1])))
        meta.update(dac_meta)
        data = (data, latents)
    model = build(config.model)
    if args.system in DAC_MODELS:
        model.set_input_statistics(data[1])
    print(f"training {args.system} ({args.config}): {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{len(clips)} clips of {clips.name}, {config.steps} steps -> {path}")
    summary = train(model, data, config, path, meta, device=args.device, progress=not args.no_progress)
    print(json.dumps({"checkpoint": str(path), **summary}, indent=2))
    return 0


def ship(args) -> int:
    """Copy the inference weights of this machine's training output into models/weights/."""
    from bench.models.checkpoint_store import CheckpointError, ship as ship_weights

    systems = args.system or [name for name in TRAINABLE
                              if checkpoint_path(name, args.config).is_file()]
    if not systems:
        print(f"error: no trained checkpoint in results/checkpoints/ for config {args.config!r}; "
              f"train one with make train SYSTEM=name")
        return 2
    for name in systems:
        if name not in TRAINABLE:
            print(f"error: {name!r} is not trained by the harness; trainable: {', '.join(TRAINABLE)}")
            return 2
        try:
            entry = ship_weights(name, args.config, Path(args.source) if args.source else None)
        except CheckpointError as error:
            print(f"error: {error}")
            return 2
        print(f"shipped {name}-{args.config}: {entry['steps']} steps, final loss {entry['final_loss']:.4f}, "
              f"{entry['bytes'] / 2**20:.1f} MiB, sha256 {entry['sha256'][:12]}")
    return 0


def add_parser(sub) -> None:
    shipper = sub.add_parser("ship-weights", help="copy trained EMA weights into models/weights/ (committed)")
    shipper.add_argument("--system", action="append", help="a trainable system (repeat; default: every one "
                         "trained here)")
    shipper.add_argument("--config", default="tiny")
    shipper.add_argument("--source", help="the training checkpoint (default results/checkpoints/SYSTEM-CONFIG.pt)")
    shipper.set_defaults(func=ship)
    parser = sub.add_parser("train", help="train one of the harness's own models")
    parser.add_argument("--system", required=True, help=", ".join(TRAINABLE) + " (uncond: the prior of ilvr and guidance)")
    parser.add_argument("--config", default="tiny", help="tiny (a 2-core CPU) or paper (GPUs)")
    parser.add_argument("--steps", type=int, help="override the config's step count")
    parser.add_argument("--data", help="train on a folder of audio instead of the music21 train split "
                        "(msdae / hdae: an NSynth folder instead of the rendered notes; lincae: a MUSDB18-HQ folder)")
    parser.add_argument("--checkpoint", help="checkpoint path (default results/checkpoints/SYSTEM-CONFIG.pt; the "
                        "shipped models/weights/ are never overwritten: ship new ones with ship-weights)")
    parser.add_argument("--dac-weights", help="latentft-dac: the DAC weights file (default: descript-audio-codec's cache)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)
