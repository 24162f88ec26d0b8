"""``make bench``, scale-out part: executors' throughput and overhead, the harness's own cost.

- ``local:2`` against ``inline`` on the CPU-bound spectrogram system (the same units, fresh caches).
- the per-unit overhead of ``ray`` (a local cluster) and ``slurm`` (submitit on a real
  single-node SLURM when installed, else its local executor): units that are already finished,
  dispatched one after the other, so all that is timed is the round trip.
- the harness's cost per item besides generation: the ``reference`` system (generation is a
  copy), scored inline on one core, with the phases of bench/core/units.py.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from bench.core.paths import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "audio"


def _config(root: Path, systems, scale="quick", **changes):
    from bench.core.config import RunConfig

    return RunConfig(scale=scale, data=str(FIXTURES), systems=tuple(systems), cache_dir=str(root / "cache"),
                     data_cache_dir=str(root / "data"), out_dir=str(root / "out"), progress=False, **changes)


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
    items = sum(r["summary"]["n_ok"] + r["summary"]["n_failed"]
                for r in runs["inline"][0]["rows"]["spectrogram"]["tasks"].values())
    inline_s, local_s = runs["inline"][1], runs[f"local:{workers}"][1]
    return {"system": "spectrogram", "items": items, "workers": workers, "inline_s": round(inline_s, 3),
            "local_s": round(local_s, 3), "ratio": round(inline_s / local_s, 3),
            "identical_tables": table_rows(runs["inline"][0]) == table_rows(runs[f"local:{workers}"][0])}


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
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="ERROR",
                 log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}})
        start_s = time.perf_counter() - began
        try:
            remote = ray.remote(run_unit_in_worker).options(num_cpus=1, max_retries=3)
            ray.get([remote.remote(config, u) for u in units[:2]])   # warm: context built per worker
            began = time.perf_counter()
            for unit in units:
                ray.get(remote.remote(config, unit))
            per_unit = (time.perf_counter() - began) / len(units)
        finally:
            ray.shutdown()
    return {"engine": "ray (local cluster)", "units": len(units), "ms_per_unit": round(1000 * per_unit, 2),
            "cluster_start_s": round(start_s, 2)}


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
    return {"engine": "slurm (real single-node slurm-wlm)" if real else "submitit local executor (no SLURM)",
            "units": len(units), "ms_per_unit": round(1000 * seconds / len(units), 1),
            "note": "one array task per unit, one task at a time: sbatch, job start, python start, "
                    "loading the evaluation set, the unit, the result file"}


def harness_cost() -> dict:
    """Seconds per item of everything but generation, inline on one core, fresh cache: the
    ``reference`` row (generation is a copy) on 8 clips x 14 bands and 4 pairs x 6 pairs."""
    import torch

    from bench.core.executors import Execution
    from bench.core.runner import run_table1

    affinity = os.sched_getaffinity(0)
    threads = torch.get_num_threads()
    os.sched_setaffinity(0, {min(affinity)})
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-harness-") as tmp:
            config = _config(Path(tmp), ["reference"])
            run_table1(_config(Path(tmp), ["shuffled"]), Execution())  # warm: reference features, numba
            began = time.perf_counter()
            record = run_table1(config, Execution())
            total = time.perf_counter() - began
    finally:
        os.sched_setaffinity(0, affinity)
        torch.set_num_threads(threads)
    phases = record["timings_s"]["unit phases (summed over workers)"]
    items = sum(r["summary"]["n_ok"] + r["summary"]["n_failed"]
                for r in record["rows"]["reference"]["tasks"].values())
    generation = phases.get("generation (the system)", 0.0)
    units = _units_seconds(record)
    other = total - units
    return {"system": "reference", "items": items, "cores": 1,
            "ms_per_item": round(1000 * (units - generation) / items, 2),
            "ms_per_item_with_assembly": round(1000 * (total - generation) / items, 2),
            "breakdown_ms_per_item": {k: round(1000 * v / items, 2) for k, v in phases.items()
                                      if k != "generation (the system)"},
            "driver_ms_per_item (plan, finished checks, assembly, bootstrap)": round(1000 * other / items, 2)}


def scaleout_benchmarks(print_line=print) -> dict:
    out = {}
    r = out["executor_throughput"] = executor_throughput()
    print_line(f"executors on {r['system']} ({r['items']} items): inline {r['inline_s']:.1f} s, "
               f"local:{r['workers']} {r['local_s']:.1f} s: {r['ratio']:.2f}x "
               f"(tables identical: {r['identical_tables']})")
    r = out["harness_cost"] = harness_cost()
    print_line(f"harness cost per item besides generation ({r['items']} items, one core): "
               f"{r['ms_per_item']:.1f} ms in the units, {r['ms_per_item_with_assembly']:.1f} ms with the "
               f"driver's assembly; per phase: " +
               ", ".join(f"{k} {v:.2f}" for k, v in r["breakdown_ms_per_item"].items()))
    for name, fn in (("ray_overhead", ray_overhead), ("slurm_overhead", slurm_overhead)):
        try:
            r = out[name] = fn()
            print_line(f"per-unit overhead, {r['engine']}: {r['ms_per_unit']:.1f} ms per unit "
                       f"({r['units']} finished units)")
        except Exception as error:  # an engine that cannot start here is reported, not fatal
            out[name] = {"error": f"{type(error).__name__}: {error}"}
            print_line(f"{name}: not measured: {out[name]['error']}")
    return out
