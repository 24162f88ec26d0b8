"""``python -m bench diagnose SYSTEM [--json]``: how much a LatentFT model uses its condition (the
condition-use ratio of models/condition_use.py at sigma 1, 2, 5 on held-out clips, overall and per
band of the two- and four-band splits) with the 16-dimensional PCA reference beside it."""

from __future__ import annotations

import json
from pathlib import Path


def load_latentft(system: str, checkpoint: str | None):
    """(LatentFT, checkpoint state, path) of a LatentFT system: ``checkpoint`` or the system's default."""
    from bench.core.registry import check_system_names, get_system_class
    from bench.models.checkpoint_store import load_state
    from bench.models.latentft import LatentFT, LatentFTConfig
    from bench.systems.latentft import LatentFTDAC, _LatentFTBase

    check_system_names([system])  # UnknownSystemError naming close names, reported by the CLI
    cls = get_system_class(system)
    if not issubclass(cls, _LatentFTBase) or issubclass(cls, LatentFTDAC):
        raise SystemExit(f"error: diagnose reads the LatentFT systems with mel encoders, not {system!r}")
    path = Path(checkpoint) if checkpoint else cls.checkpoint(None)
    if path.suffix == ".ckpt":
        from bench.models.reference_checkpoint import load_latentft_reference

        model, state = load_latentft_reference(path, cls.reference_encoder)
        return model, state, path
    state = load_state(path)
    model = LatentFT(LatentFTConfig.from_dict(state["config"]["model"]))
    model.load_state_dict(state["ema"])
    return model.eval(), state, path


HELD_OUT_SET = 64  # the rendered set the held-out clips are the first of (one cache for every n up to it)


def held_out_mels(n: int, seed: int = 0):
    """Normalised mels of the first ``n`` clips of the embedded evaluation ("test") split's
    ``max(n, HELD_OUT_SET)`` clips."""
    import numpy as np
    import torch

    from bench.core.evalset import embedded_dataset
    from bench.core.mel import normalised_mel
    from bench.core.paths import REPO_ROOT

    clips = embedded_dataset(max(n, HELD_OUT_SET), seed, REPO_ROOT / "datasets" / "cache", "test")
    return torch.as_tensor(normalised_mel(np.asarray(clips.clips[:n], dtype=np.float64)), dtype=torch.float32)


def run(args) -> int:
    import time

    import torch

    from bench.models.checkpoint_store import CheckpointError
    from bench.models.condition_use import diagnose
    from bench.models.reference_checkpoint import ReferenceCheckpointError
    from bench.models.trainable import training_mels

    try:
        model, state, path = load_latentft(args.system, args.checkpoint)
    except (CheckpointError, ReferenceCheckpointError) as error:
        print(f"error: {error}")
        return 2
    sigmas = tuple(float(s) for s in args.sigmas.split(","))
    held_out = held_out_mels(args.clips, args.seed)
    train_mels = training_mels(args.train_clips, None)[0] if args.train_clips else None
    started = time.perf_counter()
    with torch.no_grad():
        result = diagnose(model, held_out, train_mels, sigmas=sigmas, seed=args.seed)
    result.update(
        system=args.system,
        checkpoint=str(path),
        trained_steps=state["step"],
        seconds=round(time.perf_counter() - started, 1),
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    keys = [str(s) for s in result["sigmas"]]
    print(
        f"{args.system}: condition-use ratio (error with the true latent / with the null latent), "
        f"{result['n_clips']} held-out clips, {path} ({state['step']} steps)"
    )
    print(f"  {'condition':<22}" + "".join(f"{'sigma ' + k:>12}" for k in keys))
    print(f"  {'whole latent':<22}" + "".join(f"{result['overall'][k]:>12.3f}" for k in keys))
    for band, ratios in result["bands"].items():
        print(f"  {'band ' + band:<22}" + "".join(f"{ratios[k]:>12.3f}" for k in keys))
    pca = result["pca"]
    for where in ("held_out", "training"):
        if where in pca:
            label = f"PCA-{pca['dims']} ({where.replace('_', '-')})"
            print(f"  {label:<22}" + "".join(f"{pca[where][k]:>12.3f}" for k in keys))
    print(f"  (1 = condition ignored, 0 = it gives the clean clip; {result['seconds']} s)")
    return 0


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "diagnose", help="how much a LatentFT model uses its condition (condition-use ratio)"
    )
    parser.add_argument("system", help="latentft-mlp, latentft-unet or an ablation")
    parser.add_argument(
        "--checkpoint", help="the weights (default: the system's; a .ckpt is the reference format)"
    )
    parser.add_argument("--clips", type=int, default=32, help="held-out clips of the embedded test split")
    parser.add_argument(
        "--train-clips",
        type=int,
        default=384,
        help="training clips the PCA is fitted on (0: the held-out clips)",
    )
    parser.add_argument("--sigmas", default="1,2,5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)
