"""``make bench``, scale-out part: executors' throughput and overhead, the harness's own cost.

- ``local:2`` against ``inline`` on the CPU-bound spectrogram system (the same units, fresh caches).
- the per-unit overhead of ``ray`` (a local cluster) and ``slurm`` (submitit on a real
  single-node SLURM when installed, else its local executor): units that are already finished,
  dispatched one after the other, so all that is timed is the round trip.
- the harness's cost per item besides generation: the ``reference`` system (generation is a
  copy), scored inline on one core, with the phases of bench/core/units.py; and the same measure of an
  earlier revision's cache layout (``EARLIER_LAYOUT``: one fsynced file per item for outputs,
  records, descriptors, embeddings and scores), run from a copy of that revision in a
  subprocess, alternating with this one so both see the same load.
- what an output never seen before adds on one core (its descriptors and embedding): the
  ``reference`` row's outputs are copies of 8 clips, so most of its features come from the
  content cache.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from bench.core.paths import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "audio"
EARLIER_LAYOUT = "98f6193"  # the last revision with one fsynced file per item (outputs, scores, features)


def _config(root: Path, systems, scale="quick", **changes):
    from bench.core.config import RunConfig

    return RunConfig(
        scale=scale,
        data=str(FIXTURES),
        systems=tuple(systems),
        cache_dir=str(root / "cache"),
        data_cache_dir=str(root / "data"),
        out_dir=str(root / "out"),
        progress=False,
        **changes,
    )


def _units_seconds(record: dict) -> float:
    return next(v for k, v in record["timings_s"].items() if k.startswith("work units"))


def executor_throughput(workers: int = 2) -> dict:
    """Items per second of the spectrogram row (8 clips x 14 bands + 4 pairs x 6 pairs) inline and
    on ``local:workers``, each on a fresh cache; the tables must be identical."""
    from bench.core.executors import Execution
    from bench.core.runner import run_table1
    from bench.reports.tables import table_rows

    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
        runs = {}
        for name, spec in (("inline", "inline"), (f"local:{workers}", f"local:{workers}")):
            record = run_table1(_config(Path(tmp) / name, ["spectrogram"]), Execution(spec, unit_items=8))
            runs[name] = (record, _units_seconds(record))
    items = sum(
        r["summary"]["n_ok"] + r["summary"]["n_failed"]
        for r in runs["inline"][0]["rows"]["spectrogram"]["tasks"].values()
    )
    inline_s, local_s = runs["inline"][1], runs[f"local:{workers}"][1]
    return {
        "system": "spectrogram",
        "items": items,
        "workers": workers,
        "inline_s": round(inline_s, 3),
        "local_s": round(local_s, 3),
        "ratio": round(inline_s / local_s, 3),
        "identical_tables": table_rows(runs["inline"][0]) == table_rows(runs[f"local:{workers}"][0]),
    }


def _finished_units(root: Path, n_units: int):
    """A cache in which every unit of a small plan is finished, and those units."""
    from bench.core.executors import Execution
    from bench.core.runner import _driver_context, load_dataset, plan, run_table1
    from bench.core.system import BLEND, CONDITIONAL
    from bench.core.tasks import blend_items, conditional_items, select_clips

    config = _config(root, ["reference"], scale="smoke")
    run_table1(config, Execution(unit_items=1))
    clipset = load_dataset(config, False)
    spec = config.scale_spec
    selection = select_clips(clipset.ids, spec.n_conditional, spec.n_pairs, config.seed)
    ctx = _driver_context(config, clipset)
    tasks = {CONDITIONAL: conditional_items(selection), BLEND: blend_items(selection)}
    the_plan = plan(config, ctx, tasks, 1)
    return config, the_plan.units[:n_units]


def ray_overhead(n_units: int = 20) -> dict:
    """Milliseconds per unit of a Ray task round trip (dispatch, the worker's finished check,
    result), after one warm-up unit per worker."""
    import ray

    from bench.core.executors import run_unit_in_worker

    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        config, units = _finished_units(Path(tmp), n_units)
        began = time.perf_counter()
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            logging_level="ERROR",
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}},
        )
        start_s = time.perf_counter() - began
        try:
            remote = ray.remote(run_unit_in_worker).options(num_cpus=1, max_retries=3)
            ray.get([remote.remote(config, u) for u in units[:2]])  # warm: context built per worker
            began = time.perf_counter()
            for unit in units:
                ray.get(remote.remote(config, unit))
            per_unit = (time.perf_counter() - began) / len(units)
        finally:
            ray.shutdown()
    return {
        "engine": "ray (local cluster)",
        "units": len(units),
        "ms_per_unit": round(1000 * per_unit, 2),
        "cluster_start_s": round(start_s, 2),
    }


def slurm_overhead(n_units: int = 6) -> dict:
    """Milliseconds per unit of a SLURM array task (sbatch, the task's start, the finished check):
    the array's wall time over its tasks, one unit per task, run one at a time."""
    from bench.core import single_node_slurm
    from bench.core.executors import SlurmExecutor

    real = os.geteuid() == 0 and not single_node_slurm.missing()
    with tempfile.TemporaryDirectory(prefix="bench-slurm-") as tmp:
        config, units = _finished_units(Path(tmp), n_units)
        options = {"tasks": str(len(units)), "parallelism": "1", "time": "10"}
        if not real:
            options["cluster"] = "local"

        def array_seconds() -> float:
            executor = SlurmExecutor(options, config)
            began = time.perf_counter()
            list(executor.run(units, config, None))
            return time.perf_counter() - began

        if real:
            saved = {k: os.environ.get(k) for k in ("SLURM_CONF", "PATH")}
            with single_node_slurm.single_node_slurm(Path(tmp) / "slurm") as env:
                os.environ.update(SLURM_CONF=env["SLURM_CONF"], PATH=env["PATH"])
                try:
                    seconds = array_seconds()
                finally:
                    for k, v in saved.items():
                        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        else:
            seconds = array_seconds()
    return {
        "engine": "slurm (real single-node slurm-wlm)" if real else "submitit local executor (no SLURM)",
        "units": len(units),
        "ms_per_unit": round(1000 * seconds / len(units), 1),
        "note": "one array task per unit, one task at a time: sbatch, job start, python start, "
        "loading the evaluation set, the unit, the result file",
    }


def harness_cost() -> dict:
    """Seconds per item of everything but generation, inline on one core, fresh cache: the
    ``reference`` row (generation is a copy) on 8 clips x 14 bands and 4 pairs x 6 pairs."""
    from bench.core.executors import Execution
    from bench.core.runner import run_table1

    with _one_core(), tempfile.TemporaryDirectory(prefix="bench-harness-") as tmp:
        config = _config(Path(tmp), ["reference"])
        run_table1(_config(Path(tmp), ["shuffled"]), Execution())  # warm: reference features, numba
        began = time.perf_counter()
        record = run_table1(config, Execution())
        total = time.perf_counter() - began
        outputs = Path(tmp) / "cache" / "outputs" / "reference"
        distinct = len({json.loads(p.read_text()).get("sha256") for p in outputs.glob("*.json")})
    phases = record["timings_s"]["unit phases (summed over workers)"]
    items = sum(
        r["summary"]["n_ok"] + r["summary"]["n_failed"] for r in record["rows"]["reference"]["tasks"].values()
    )
    generation = phases.get("generation (the system)", 0.0)
    units = _units_seconds(record)
    other = total - units
    return {
        "system": "reference",
        "items": items,
        "distinct_outputs": distinct,
        "cores": 1,
        "load_average": _load(),
        "ms_per_item": round(1000 * (units - generation) / items, 2),
        "ms_per_item_with_assembly": round(1000 * (total - generation) / items, 2),
        "breakdown_ms_per_item": {
            k: round(1000 * v / items, 2) for k, v in phases.items() if k != "generation (the system)"
        },
        "driver_ms_per_item (plan, finished checks, assembly, bootstrap)": round(1000 * other / items, 2),
    }


@contextmanager
def _one_core():
    """This process on its first allowed core with one torch thread and one BLAS thread (more
    threads than cores only contend), restored afterwards."""
    import torch
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency, through librosa

    affinity, threads = os.sched_getaffinity(0), torch.get_num_threads()
    os.sched_setaffinity(0, {min(affinity)})
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        os.sched_setaffinity(0, affinity)
        torch.set_num_threads(threads)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min) on {os.cpu_count()} cores"


def earlier_harness_cost(revision: str = EARLIER_LAYOUT) -> dict:
    """:func:`harness_cost` of ``revision`` (its own code, from ``git archive``), in a subprocess."""
    with tempfile.TemporaryDirectory(prefix="bench-earlier-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", revision], capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        # the module's name at that revision (the flat layout, before bench/reports/)
        script = (
            "import json; from bench" + ".scaleout_bench import harness_cost; "
            "print(json.dumps(harness_cost()))"
        )
        one_thread = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        env = {**os.environ, "PYTHONPATH": tmp, **one_thread}  # as _one_core's BLAS limit
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=tmp, env=env, capture_output=True, text=True, timeout=1800
        )
        if done.returncode != 0:
            raise RuntimeError(f"revision {revision}: {done.stderr.strip().splitlines()[-1:]}")
    return {"revision": revision, "load_average": _load(), **json.loads(done.stdout.strip().splitlines()[-1])}


def harness_cost_against_earlier_layout(rounds: int = 2) -> dict:
    """This layout and the earlier one alternately (``rounds`` each), so both see the same load;
    the ratio of the medians of the harness's ms per item."""
    ours, earlier = [], []
    for _ in range(rounds):
        ours.append(harness_cost())
        earlier.append(earlier_harness_cost())
    median = lambda runs: float(sorted(r["ms_per_item"] for r in runs)[len(runs) // 2])  # noqa: E731
    best = min(ours, key=lambda r: r["ms_per_item"])
    return {
        **best,
        "runs_ms_per_item": [r["ms_per_item"] for r in ours],
        "earlier_layout": {
            "revision": EARLIER_LAYOUT,
            "runs_ms_per_item": [r["ms_per_item"] for r in earlier],
            "breakdown_ms_per_item": min(earlier, key=lambda r: r["ms_per_item"])["breakdown_ms_per_item"],
            "load_average": [r["load_average"] for r in earlier],
        },
        "earlier_over_this_median": round(median(earlier) / median(ours), 2),
    }


def new_output_features() -> dict:
    """Milliseconds an output never seen before adds on one core: its descriptors (fast path) and
    its embedding (melstats), on 8 distinct clips after one warm-up clip."""
    import numpy as np

    from bench.core.item_cache import DescriptorBackend
    from bench.core.registry import make_embedder
    from bench.reports.benchmark_clips import benchmark_clips

    with _one_core():
        clips = benchmark_clips(9).astype(np.float32)
        backend, embedder = DescriptorBackend("fast"), make_embedder("melstats")
        backend([clips[0]])
        embedder.embed(clips[0])
        began = time.perf_counter()
        backend(list(clips[1:]))
        described = time.perf_counter()
        for clip in clips[1:]:
            embedder.embed(clip)
        embedded = time.perf_counter()
    return {
        "clips": 8,
        "cores": 1,
        "load_average": _load(),
        "descriptors_ms_per_clip": round(1000 * (described - began) / 8, 2),
        "embedding_ms_per_clip (melstats)": round(1000 * (embedded - described) / 8, 2),
    }


SCALEOUT_PARTS = ("executors", "harness", "ray", "slurm")


def scaleout_benchmarks(print_line=print, parts=SCALEOUT_PARTS) -> dict:
    out = {}
    if "executors" in parts:
        r = out["executor_throughput"] = executor_throughput()
        print_line(
            f"executors on {r['system']} ({r['items']} items): inline {r['inline_s']:.1f} s, "
            f"local:{r['workers']} {r['local_s']:.1f} s: {r['ratio']:.2f}x "
            f"(tables identical: {r['identical_tables']})"
        )
    if "harness" in parts:
        r = out["harness_cost"] = harness_cost_against_earlier_layout()
        e = r["earlier_layout"]
        print_line(
            f"harness cost per item besides generation ({r['items']} items, {r['distinct_outputs']} "
            f"distinct outputs, one core, load {r['load_average']}): {r['ms_per_item']:.1f} ms in the "
            f"units (runs {r['runs_ms_per_item']}), {r['ms_per_item_with_assembly']:.1f} ms with the "
            f"driver's assembly; per phase: "
            + ", ".join(f"{k} {v:.2f}" for k, v in r["breakdown_ms_per_item"].items())
        )
        print_line(
            f"  earlier layout ({e['revision']}, one fsynced file per item), alternating: runs "
            f"{e['runs_ms_per_item']} ms per item; per phase: "
            + ", ".join(f"{k} {v:.2f}" for k, v in e["breakdown_ms_per_item"].items())
            + f"; earlier / this (medians): {r['earlier_over_this_median']:.2f}x"
        )
        r = out["new_output_features"] = new_output_features()
        print_line(
            f"  an output never seen before adds (one core): descriptors "
            f"{r['descriptors_ms_per_clip']:.1f} ms, melstats embedding "
            f"{r['embedding_ms_per_clip (melstats)']:.1f} ms"
        )
    for name, fn in (("ray_overhead", ray_overhead), ("slurm_overhead", slurm_overhead)):
        if name.split("_")[0] not in parts:
            continue
        try:
            r = out[name] = fn()
            print_line(
                f"per-unit overhead, {r['engine']}: {r['ms_per_unit']:.1f} ms per unit "
                f"({r['units']} finished units)"
            )
        except Exception as error:  # an engine that cannot start here is reported, not fatal
            out[name] = {"error": f"{type(error).__name__}: {error}"}
            print_line(f"{name}: not measured: {out[name]['error']}")
    return out
