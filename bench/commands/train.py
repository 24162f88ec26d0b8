"""``python -m bench train --system NAME --config tiny|paper``: train one of the harness's own models
(the table of trainable models: models/trainable.py); ``ship-weights``: copy trained weights into
models/weights/."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from bench.core.paths import shown_path
from bench.core.seeds import torch_seed
from bench.models.trainable import (
    DAC_MODELS,
    NOTE_MODELS,
    STEM_MODELS,
    TRAINABLE,
    checkpoint_path,
    require_dac_weights,
    training_dac_latents,
    training_mels,
    training_notes,
    training_stem_chunks,
)


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
    if args.summary:
        from bench.commands.model_summary import run as summarise

        return summarise(args, config, build)
    if args.if_missing and not args.checkpoint and not args.steps:
        from bench.models.checkpoint_store import shipped_path

        trained, shipped = checkpoint_path(args.system, args.config), shipped_path(args.system, args.config)
        if not trained.is_file() and shipped.is_file():
            print(
                f"{args.system} ({args.config}): using the shipped weights {shown_path(shipped)}; "
                f"nothing to train (make train SYSTEM={args.system} trains anew into {trained.parent.name}/)"
            )
            return 0
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
    meta = {
        "system": args.system,
        "config_name": args.config,
        "dataset": clips.name,
        "dataset_manifest_hash": clips.manifest_hash,
        "n_train_clips": len(clips),
    }
    if args.system in DAC_MODELS:
        latents, dac_meta = training_dac_latents(clips, data.shape[-1], args.dac_weights, args.device)
        config = replace(config, model=replace(config.model, encoder_input_channels=int(latents.shape[1])))
        meta.update(dac_meta)
        data = (data, latents)
    model = build(config.model)
    if args.system in DAC_MODELS:
        model.set_input_statistics(data[1])
    config, monitor = _condition_monitor(args, config, model)
    print(
        f"training {args.system} ({args.config}): {sum(p.numel() for p in model.parameters()):,} parameters, "
        f"{len(clips)} clips of {clips.name}, {config.steps} steps -> {path}"
    )
    summary = train(
        model, data, config, path, meta, device=args.device, progress=not args.no_progress, monitor=monitor
    )
    print(json.dumps({"checkpoint": str(path), **summary}, indent=2))
    return 0


def _condition_monitor(args, config, model):
    """(config, monitor): LatentFT with a mel encoder logs its condition-use ratio on held-out clips every
    ``--diagnose-every`` (else the config's ``diagnose_every``) steps (models/condition_use.py)."""
    from bench.models.latentft import LatentFT

    every = config.diagnose_every if args.diagnose_every is None else args.diagnose_every
    if not every or not isinstance(model, LatentFT) or args.system in DAC_MODELS:
        return config, None
    from bench.commands.diagnose import held_out_mels
    from bench.datasets.music21_render import RenderError
    from bench.models.condition_use import training_monitor

    try:
        held_out = held_out_mels(args.diagnose_clips)
    except (RenderError, OSError) as error:
        print(f"warning: no condition-use ratio in this training (the held-out clips: {error})")
        return config, None
    return replace(config, diagnose_every=every), training_monitor(held_out)


def ship(args) -> int:
    """Copy the inference weights of this machine's training output into models/weights/."""
    from bench.models.checkpoint_store import CheckpointError
    from bench.models.checkpoint_store import ship as ship_weights

    systems = args.system or [name for name in TRAINABLE if checkpoint_path(name, args.config).is_file()]
    if not systems:
        print(
            f"error: no trained checkpoint in results/checkpoints/ for config {args.config!r}; "
            f"train one with make train SYSTEM=name"
        )
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
        print(
            f"shipped {name}-{args.config}: {entry['steps']} steps, final loss {entry['final_loss']:.4f}, "
            f"{entry['bytes'] / 2**20:.1f} MiB, sha256 {entry['sha256'][:12]}"
        )
    return 0


def add_parser(sub) -> None:
    shipper = sub.add_parser("ship-weights", help="copy trained EMA weights into models/weights/ (committed)")
    shipper.add_argument(
        "--system", action="append", help="a trainable system (repeat; default: every one trained here)"
    )
    shipper.add_argument("--config", default="tiny")
    shipper.add_argument(
        "--source", help="the training checkpoint (default results/checkpoints/SYSTEM-CONFIG.pt)"
    )
    shipper.set_defaults(func=ship)
    parser = sub.add_parser("train", help="train one of the harness's own models")
    parser.add_argument(
        "--system", required=True, help=", ".join(TRAINABLE) + " (uncond: the prior of ilvr and guidance)"
    )
    parser.add_argument("--config", default="tiny", help="tiny (a 2-core CPU) or paper (GPUs)")
    parser.add_argument("--steps", type=int, help="override the config's step count")
    parser.add_argument(
        "--data",
        help="train on a folder of audio instead of the music21 train split "
        "(msdae / hdae: an NSynth folder instead of the rendered notes; lincae: a MUSDB18-HQ folder)",
    )
    parser.add_argument(
        "--checkpoint",
        help="checkpoint path (default results/checkpoints/SYSTEM-CONFIG.pt; the "
        "shipped models/weights/ are never overwritten: ship new ones with ship-weights)",
    )
    parser.add_argument(
        "--dac-weights", help="latentft-dac: the DAC weights file (default: descript-audio-codec's cache)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--summary",
        action="store_true",
        help="build the model on the meta device and print each module's parameter count; train nothing",
    )
    parser.add_argument(
        "--json", action="store_true", help="with --summary: every module's tensors and shapes"
    )
    parser.add_argument(
        "--diagnose-every",
        type=int,
        help="log the condition-use ratio (python -m bench "
        "diagnose) every N steps (default: the config's; 0: never)",
    )
    parser.add_argument("--diagnose-clips", type=int, default=16, help="held-out clips of that ratio")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when shipped weights exist and "
        "nothing was trained here (what make table-hdae / table-lincae / table-ablations use)",
    )
    parser.set_defaults(func=run)
