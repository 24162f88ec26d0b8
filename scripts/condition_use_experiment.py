"""The condition-use experiment of issue 26 (docs/latentft-paper.md, "The decisive experiment"): train
LatentFT-MLP configurations on the tiny training set (384 music21 clips) and log the condition-use
ratio (models/condition_use.py) on 16 held-out clips every ``--every`` steps.

    OMP_NUM_THREADS=1 python scripts/condition_use_experiment.py RUN --steps N [--every 500] [--minutes M]

RUN is one of RUNS: ``continued`` resumes the shipped tiny weights (EMA at 6000 steps, a fresh
Adam) past 6000 steps; the others train a capacity lever from scratch. Writes
results/experiments/condition-use-RUN.json (the curve, the config, seconds a step); the training
checkpoint stays in results/checkpoints/experiments/ (not committed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name -> (LatentFTConfig changes of the tiny config, what it tests)
RUNS = {
    "continued": ({}, "the shipped tiny config, trained on from its 6000-step weights"),
    "continued-80-attn": (
        {"latent_channels": 80, "attention_at": (2, 3)},
        (
            "the shipped tiny weights widened without changing the function (80-channel latent: 64 new "
            "encoder outputs, their decoder input weights zero; self-attention at the two coarsest decoder "
            "levels, zero output projections), trained on from 6000 steps: the levers against continued at "
            "equal steps"
        ),
    ),
    "tiny": ({}, "the shipped tiny config from scratch (the baseline of the levers at equal steps)"),
    "latent80-attn": (
        {"latent_channels": 80, "attention_at": (2, 3)},
        "80-channel latent (decoder input 160), self-attention at the two coarsest decoder levels, "
        "from scratch",
    ),
    "wide-80": (
        {"latent_channels": 80, "decoder_mults": (2, 2, 2, 2)},
        "80-channel latent; every decoder level 128 wide, from scratch (about twice the tiny's cost a step)",
    ),
}


def widened(target: dict, shipped: dict) -> dict:
    """``target`` (a fresh model's state) with the shipped weights put in: equal shapes copied; the
    encoder's output layer and the decoder's stem copied into their first channels (the new encoder
    outputs keep their random init, the stem's weights of the new latent channels are zeroed, so the
    network computes what the shipped one does); anything else new (attention) keeps its init."""
    out = {}
    for key, tensor in target.items():
        old = shipped.get(key)
        if old is not None and old.shape == tensor.shape:
            out[key] = old.clone()
        elif key.startswith("encoder.net.4."):
            out[key] = tensor.clone()
            out[key][: old.shape[0]] = old
        elif key == "decoder.stem.weight":
            out[key] = tensor.clone().zero_()
            out[key][:, : old.shape[1]] = old
        elif old is None:
            out[key] = tensor.clone()
        else:
            raise SystemExit(f"cannot widen {key}: {list(old.shape)} -> {list(tensor.shape)}")
    missing = set(shipped) - set(target)
    if missing:
        raise SystemExit(f"the shipped weights have keys the model does not: {sorted(missing)[:3]}")
    return out


def check_same_function(model, shipped: dict, data) -> None:
    """The widened model's loss on one batch equals the shipped model's (same batch, noise, masks)."""
    import torch

    from bench.models.latentft import LatentFT, LatentFTConfig

    original = LatentFT(LatentFTConfig.from_dict(shipped["config"]["model"]))
    original.load_state_dict(shipped["ema"])
    with torch.no_grad():
        losses = [
            m.train().loss(data[:8], torch.Generator().manual_seed(0)).item() for m in (original, model)
        ]
    print(f"loss on one batch: shipped {losses[0]:.6f}, widened {losses[1]:.6f}", flush=True)
    if abs(losses[0] - losses[1]) > 1e-4 * abs(losses[0]):
        raise SystemExit("the widened model does not compute what the shipped one does")


def write_csv() -> int:
    """results/experiments/condition-use-curves.csv: run, step, condition, sigma, ratio of every run's
    JSON."""
    import csv

    folder = ROOT / "results" / "experiments"
    rows = []
    for path in sorted(folder.glob("condition-use-*.json")):
        record = json.loads(path.read_text())
        for point in record["curve"]:
            for condition, ratios in [("whole", point["overall"]), *point["bands"].items()]:
                for sigma, ratio in ratios.items():
                    rows.append([record["run"], point["step"], condition, sigma, f"{ratio:.4f}"])
    with open(folder / "condition-use-curves.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", "step", "condition", "sigma", "ratio"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {(folder / 'condition-use-curves.csv').relative_to(ROOT)}")
    return 0


def main() -> int:
    import torch

    from bench.commands.diagnose import held_out_mels
    from bench.core.seeds import torch_seed
    from bench.models.checkpoint_store import load_state, shipped_path
    from bench.models.condition_use import training_monitor
    from bench.models.latentft import LatentFT
    from bench.models.trainable import TRAINABLE, training_mels
    from bench.models.training import save_checkpoint, train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", choices=[*sorted(RUNS), "csv"], help="a run, or csv: gather the runs' curves")
    parser.add_argument("--steps", type=int, help="steps to train (continued: beyond 6000)")
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--clips", type=int, default=16, help="held-out clips of the ratio")
    parser.add_argument(
        "--minutes", type=float, help="stop at the last --every boundary that fits this wall time"
    )
    args = parser.parse_args()
    if args.run == "csv":
        return write_csv()
    if not args.steps:
        parser.error("--steps is required")

    changes, what = RUNS[args.run]
    base = TRAINABLE["latentft-mlp"][0]()["tiny"]
    config = replace(base, model=replace(base.model, **changes), diagnose_every=args.every)
    data, clips = training_mels(config.train_clips, None)
    held_out = held_out_mels(args.clips)
    checkpoint = ROOT / "results" / "checkpoints" / "experiments" / f"condition-use-{args.run}.pt"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(torch_seed(config.seed, "model-init"))
    model = LatentFT(config.model)
    start = 0
    if args.run.startswith("continued") and not checkpoint.exists():
        shipped = load_state(shipped_path("latentft-mlp", "tiny"))
        model.load_state_dict(widened(model.state_dict(), shipped["ema"]))
        start = int(shipped["step"])
        check_same_function(model, shipped, data)
        fresh = torch.optim.Adam(model.parameters(), lr=config.lr)
        save_checkpoint(
            checkpoint,
            {
                "model": model.state_dict(),
                "ema": model.state_dict(),
                "optimiser": fresh.state_dict(),
                "step": start,
                "losses": [],
                "config": {},
                "meta": {"from": "models/weights/latentft-mlp-tiny.pt"},
            },
        )
    elif args.run.startswith("continued"):
        start = 6000
    monitor = training_monitor(held_out)
    before = monitor(model.eval(), start) if start else None
    model.train()
    started = time.perf_counter()
    # in chunks of --every steps (train resumes exactly), stopping when the next chunk would not fit
    for end in range(start + args.every, start + args.steps + 1, args.every):
        chunk_started = time.perf_counter()
        config = replace(config, steps=end)
        summary = train(
            model,
            data,
            config,
            checkpoint,
            {"dataset": clips.name, "experiment": args.run},
            progress=False,
            log=lambda message: print(message, flush=True),
            monitor=monitor,
        )
        elapsed, chunk = time.perf_counter() - started, time.perf_counter() - chunk_started
        if args.minutes and elapsed + chunk > args.minutes * 60:
            break
    state = torch.load(checkpoint, weights_only=False)
    curve = ([before] if before else []) + state.get("monitor", [])
    out = ROOT / "results" / "experiments" / f"condition-use-{args.run}.json"
    out.write_text(
        json.dumps(
            {
                "run": args.run,
                "what": what,
                "model_config": config.model.as_dict(),
                "parameters": sum(p.numel() for p in model.parameters()),
                "train_clips": len(clips),
                "held_out_clips": args.clips,
                "steps": state["step"],
                "started_from_step": start,
                "seconds_per_step": summary["seconds_per_step"],
                "wall_seconds": round(time.perf_counter() - started, 1),
                "final_loss": summary["final_loss"],
                "command": f"OMP_NUM_THREADS=1 python scripts/condition_use_experiment.py {args.run} "
                f"--steps {args.steps} --every {args.every}"
                + (f" --minutes {args.minutes:g}" if args.minutes else ""),
                "curve": curve,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
