"""What the instruction-set pins cost (bench/core/determinism.py, issue 31): seconds per item of
every runnable default system, generated and scored, in subprocesses with and without the pins.

The libraries read the pins when they load, so each setting runs in its own process (one torch
thread, as a ``local:N`` worker). The two settings alternate, ``rounds`` times, and each keeps its
best time: what else the machine is doing then costs both alike. Times are CPU seconds of the process
(one thread: the wall time of a quiet machine), after one warm-up item that loads the system.

    /work/wt/py -m tools.isa_cost [--systems a,b] [--steps 8] [--vocoder griffin-lim:16]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.core.determinism import PINS, SWITCH, pinned_environment

SYSTEMS = (
    "reference",
    "shuffled",
    "spectrogram",
    "cross-synthesis",
    "latentft-mlp",
    "latentft-unet",
    "ilvr",
    "ilvr-paper",
    "guidance",
)
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _child(system: str, steps: int, vocoder_spec: str, items: int) -> dict:
    """CPU seconds per item of ``system`` in this process: each task generated, described, embedded."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from bench.core.bands import BLEND_PAIRS, CONDITIONAL_BANDS
    from bench.core.registry import get_system_class, make_embedder, make_vocoder
    from bench.core.system import BlendBatch, ConditionalBatch, RunContext
    from bench.metrics.fast_descriptors import FastDescriptorExtractor
    from tools.benchmark_clips import benchmark_clips

    clips = np.stack(benchmark_clips(4))
    ids = [f"c{i}" for i in range(len(clips))]
    system = get_system_class(system)(RunContext(clips, ids, make_vocoder(vocoder_spec), "cpu", {}, steps))
    embedder, describe = make_embedder("melstats"), FastDescriptorExtractor(workers=1)

    def one(task: str, i: int) -> None:
        if task == "conditional":
            band = CONDITIONAL_BANDS[(3 + i) % len(CONDITIONAL_BANDS)]
            audio = system.conditional(ConditionalBatch(clips[:1], [band], [11 + i], ids[:1]))[0]
        else:
            b1, b2 = BLEND_PAIRS[(2 + i) % len(BLEND_PAIRS)]
            audio = system.blend(BlendBatch(clips[:1], clips[1:2], [b1], [b2], [12 + i], ids[:1], ids[1:2]))[
                0
            ]
        describe([audio])
        embedder.embed(audio)

    out = {"capability": torch.backends.cpu.get_cpu_capability()}
    for task in ("conditional", "blend"):
        if task not in system.capabilities:
            continue
        one(task, 0)  # warm-up: loads weights, builds filter banks
        start = time.process_time()
        for i in range(1, items + 1):
            one(task, i)
        out[task] = (time.process_time() - start) / items
    return out


def _run(system: str, pinned: bool, steps: int, vocoder: str, items: int) -> dict:
    env = {**os.environ, **THREADS}
    env = pinned_environment({**env, SWITCH: "on"}) if pinned else {**env, SWITCH: "off"}
    if not pinned:
        for key in PINS:
            env.pop(key, None)
    code = (
        "import json, sys; from tools.isa_cost import _child; "
        f"print('ISA_COST ' + json.dumps(_child({system!r}, {steps}, {vocoder!r}, {items})))"
    )
    root = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=root)
    for line in done.stdout.splitlines():
        if line.startswith("ISA_COST "):
            return json.loads(line[len("ISA_COST ") :])
    raise RuntimeError(f"{system}: the timing process failed: {done.stderr.strip()[-800:]}")


def isa_pin_benchmark(
    systems=SYSTEMS, steps: int = 25, vocoder: str = "griffin-lim:32", items: int = 2, rounds: int = 2
) -> list[dict]:
    """Per system and task: CPU seconds per item without and with the pins, and their ratio."""
    from bench.core.registry import system_status

    rows = []
    for system in systems:
        if not system_status(system, {}).availability.ok:
            continue
        best: dict[bool, dict] = {}
        for _ in range(rounds):
            for pinned in (False, True):
                got = _run(system, pinned, steps, vocoder, items)
                kept = best.setdefault(pinned, got)
                for task in ("conditional", "blend"):
                    if task in got:
                        kept[task] = min(kept[task], got[task])
        for task in ("conditional", "blend"):
            if task in best[False]:
                free, pinned = best[False][task], best[True][task]
                rows.append(
                    {
                        "system": system,
                        "task": task,
                        "unpinned_s": free,
                        "pinned_s": pinned,
                        "ratio": pinned / free,
                        "capability": [best[False]["capability"], best[True]["capability"]],
                    }
                )
    return rows


def report(rows: list[dict], steps: int, vocoder: str) -> None:
    print(
        f"instruction-set pins (bench/core/determinism.py): CPU seconds per item, generated and scored, "
        f"1 thread, {steps} sampler steps, {vocoder}; best of alternating runs"
    )
    for r in rows:
        print(
            f"  {r['system']:16s} {r['task']:12s} without {r['unpinned_s']:7.3f} s"
            f"  with {r['pinned_s']:7.3f} s"
            f"  ratio {r['ratio']:.2f}x"
        )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--vocoder", default="griffin-lim:32")
    parser.add_argument("--items", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json")
    cli = parser.parse_args()
    rows = isa_pin_benchmark(cli.systems.split(","), cli.steps, cli.vocoder, cli.items, cli.rounds)
    report(rows, cli.steps, cli.vocoder)
    if cli.json:
        with open(cli.json, "w") as f:
            json.dump(rows, f, indent=1)
