"""scripts/gpu_check.sh's measurements on one device (default cuda), written to results/bench-gpu.json:

- ``make bench``'s device parts: descriptors (fast path) on 32 clips, LatentFT sampling, the
  embedders that can run, and the generation profile of latentft-mlp, ilvr and spectrogram;
- a smoke-scale table with ``--device`` for every runnable default system, one system per run
  (clips per second from the run's own generation timings);
- 200 training steps of latentft-mlp (seconds per step).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.core.paths import REPO_ROOT


def _step(record: dict, name: str, fn) -> None:
    """One measurement; a failure is recorded with its reason and the rest still run."""
    began = time.perf_counter()
    try:
        record[name] = fn()
    except Exception as error:  # report, never stop the check
        record[name] = {"error": f"{type(error).__name__}: {error}"}
    print(f"{name}: {time.perf_counter() - began:.0f} s: {json.dumps(record[name])[:400]}", flush=True)


def _bench(device: str) -> dict:
    from bench.core.registry import EMBEDDERS
    from tools.benchmarks import descriptor_benchmark, embedder_benchmark, sampling_benchmark

    return {
        "descriptors": descriptor_benchmark(32, device),
        "sampling": sampling_benchmark(device=device),
        "embedders": embedder_benchmark(tuple(EMBEDDERS.names()), device=device),
    }


def _profiles(device: str) -> dict:
    from bench.experiments.generation_profile import profile_system

    return {
        name: profile_system(name, 1, 10, None, device) for name in ("latentft-mlp", "ilvr", "spectrogram")
    }


def _smoke_tables(device: str, systems: list[str]) -> dict:
    out = {}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        for name in systems:
            run = Path(tmp) / name
            began = time.perf_counter()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench",
                    "table1",
                    "--scale",
                    "smoke",
                    "--systems",
                    name,
                    "--device",
                    device,
                    "--executor",
                    "inline",
                    "--cache",
                    str(run / "cache"),
                    "--out",
                    str(run / "out"),
                    "--no-progress",
                    "--format",
                    "json",
                ],
                capture_output=True,
                text=True,
                cwd=REPO_ROOT,
            )
            seconds = time.perf_counter() - began
            if done.returncode != 0:
                out[name] = {"error": done.stderr.strip().splitlines()[-3:], "seconds": round(seconds, 1)}
                continue
            record = json.loads((run / "out" / "table1.json").read_text())
            cost = record["generation_cost"].get(name, {})
            timed = {task: c for task, c in cost.items() if c.get("items_timed")}
            items = sum(c["items_timed"] for c in timed.values())
            generation_s = sum(c["total_s"] for c in timed.values())
            out[name] = {
                "seconds": round(seconds, 1),
                "items_generated": items,
                "clips_per_s": round(items / generation_s, 3) if generation_s else None,
                "timings_s": record["timings_s"],
            }
    return out


def _training(device: str, steps: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="gpu-train-") as tmp:
        began = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench",
                "train",
                "--system",
                "latentft-mlp",
                "--steps",
                str(steps),
                "--device",
                device,
                "--checkpoint",
                f"{tmp}/latentft-mlp.pt",
                "--no-progress",
            ],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
        )
        seconds = time.perf_counter() - began
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-3:], "seconds": round(seconds, 1)}
    summary = json.loads(done.stdout[done.stdout.index("{") :])  # the train command's closing summary
    return {
        "steps": summary["steps"],
        "seconds_per_step": summary["seconds_per_step"],
        "first_loss": summary["first_loss"],
        "final_loss": summary["final_loss"],
        "command_seconds": round(seconds, 1),
        "note": "seconds_per_step: the training loop's own; command_seconds adds data preparation and set-up",
    }


def main(
    device: str = "cuda", systems: list[str] | None = None, train_steps: int = 200, out: str | None = None
) -> int:
    import torch

    from bench.core.config import DEFAULT_SYSTEMS
    from bench.core.provenance import environment
    from bench.core.registry import system_status

    if device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA device (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    runnable = systems or [n for n in DEFAULT_SYSTEMS if system_status(n, {}).availability.ok]
    record = {
        "schema": "latentft-bench/bench-gpu/v1",
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu",
        "environment": environment(),
    }
    _step(record, "bench", lambda: _bench(device))
    _step(record, "generation_profiles", lambda: _profiles(device))
    _step(record, "smoke_tables", lambda: _smoke_tables(device, runnable))
    _step(record, "training_latentft_mlp", lambda: _training(device, train_steps))
    path = Path(out) if out else REPO_ROOT / "results" / "bench-gpu.json"
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the GPU check of issue 29 (scripts/gpu_check.sh)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--systems", help="comma-separated (default: every runnable default system)")
    parser.add_argument("--train-steps", type=int, default=200)
    parser.add_argument("--out")
    cli = parser.parse_args()
    raise SystemExit(
        main(cli.device, cli.systems.split(",") if cli.systems else None, cli.train_steps, cli.out)
    )
