"""The Table 1 task runner: dataset -> systems -> cached outputs -> scores -> result record.

Every generated clip and every descriptor / embedding is cached under a content key, written
atomically, so a killed run restarts where it stopped and writes the same table. A failing
item (exception, NaN, silence, wrong length) is recorded with its reason and never averaged.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.code_identity import system_code
from bench.core.config import RunConfig
from bench.core.distribution_stats import LEVEL as DISTRIBUTION_LEVEL
from bench.core.distribution_stats import RESAMPLES as DISTRIBUTION_RESAMPLES
from bench.core.distribution_stats import SEED as DISTRIBUTION_SEED
from bench.core.distribution_stats import Reference, prepare_reference, task_intervals, write_bundle
from bench.core.evalset import EMBEDDED_DATASET_VERSION, embedded_dataset, load_dataset  # noqa: F401
from bench.core.executors import Execution, make_executor, shard_units
from bench.core.item_cache import DescriptorBackend, FeatureCache, OutputStore
from bench.core.progress import stage
from bench.core.provenance import environment
from bench.core.registry import UnknownNameError, check_system_names, system_status
from bench.core.run_ledger import start_ledger
from bench.core.system import BLEND, CONDITIONAL
from bench.core.tasks import blend_items, conditional_items, item_seed, scale_shortfall, select_clips
from bench.core.units import (
    METRICS,
    OUTPUT_PREPARATION,
    ItemScores,
    TaskResult,
    UnitContext,
    WorkUnit,
    output_key,
    plan_task,
    read_task,
)
from bench.metrics.distribution import DistributionError, fad, kad
from bench.metrics.specs import blend_score
from bench.metrics.statistics import stratified_bootstrap_ci

log = logging.getLogger(__name__)
CI_RESAMPLES, CI_SEED = 1000, 0  # the adherence entries' 95 % stratified bootstrap intervals
__all__ = ["run_table1", "load_dataset", "embedded_dataset", "output_key", "aggregate", "RunIncomplete"]


class RunIncomplete(Exception):
    """Some work units did not finish (a worker died past its retries, a job was preempted):
    the same command run again executes only those, then assembles."""


def _mean(values):
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else None


def _distribution(embeddings: list, reference: np.ndarray) -> dict:
    if not embeddings:
        return {"fad": None, "kad": None, "n_embeddings": 0}
    stacked = np.concatenate(embeddings).astype(np.float64)
    out: dict[str, Any] = {"n_embeddings": int(stacked.shape[0])}
    for name, fn in (("fad", fad), ("kad", kad)):
        try:
            out[name] = fn(stacked, reference)
        except DistributionError as error:
            out[name], out[f"{name}_error"] = None, str(error)
    return out


def _item_score(result: ItemScores, metric: str, task: str) -> float:
    """The item's share of the table entry: its in-band score, or for blending the mean of its
    adherence to both inputs."""
    if task == CONDITIONAL:
        value = result.scores.get(f"{metric}_in")
        return np.nan if value is None else value
    parts = [result.scores.get(f"{metric}_1"), result.scores.get(f"{metric}_2")]
    if parts[0] is None or parts[1] is None:
        return np.nan
    return blend_score(float(parts[0]), float(parts[1]))


def aggregate(
    task: str,
    results: list[ItemScores],
    reference: np.ndarray,
    fad_mode: str,
    reference_set: Reference | None = None,
) -> dict:
    """Per-group means over successful items, then the task summary over groups; with
    ``reference_set``, the FAD/KAD bootstrap intervals (bench/core/distribution_stats.py) too."""
    groups: dict[str, list[ItemScores]] = {}
    for r in results:
        groups.setdefault(r.group, []).append(r)
    per_group = {}
    for group, members in groups.items():
        ok = [r for r in members if r.ok]
        entry: dict[str, Any] = {"n_ok": len(ok), "n_failed": len(members) - len(ok)}
        score_keys = sorted({k for r in ok for k in r.scores})
        for k in score_keys:
            entry[k] = _mean(r.scores.get(k) for r in ok)
        if task == BLEND:
            for metric in METRICS:
                parts = [entry.get(f"{metric}_1"), entry.get(f"{metric}_2")]
                entry[f"{metric}_both"] = blend_score(parts[0], parts[1]) if None not in parts else None
        entry.update(
            _distribution([r.embedding for r in ok], reference) if fad_mode == "mean-over-bands" else {}
        )
        per_group[group] = entry
    suffix = "_in" if task == CONDITIONAL else "_both"
    summary = {m: _mean(g.get(f"{m}{suffix}") for g in per_group.values()) for m in METRICS}
    if fad_mode == "mean-over-bands":
        summary["fad"] = _mean(g.get("fad") for g in per_group.values())
        summary["kad"] = _mean(g.get("kad") for g in per_group.values())
    else:
        pooled = _distribution([r.embedding for r in results if r.ok], reference)
        summary["fad"], summary["kad"] = pooled["fad"], pooled["kad"]
    if reference_set is not None:
        ok_groups = {g: [(r.key, r.embedding) for r in members if r.ok] for g, members in groups.items()}
        band_ci, entry_ci = task_intervals(reference_set, task, ok_groups, fad_mode != "mean-over-bands")
        for group, intervals in band_ci.items():
            per_group[group].update(intervals)
        summary.update(entry_ci)
    for metric in METRICS:
        summary[f"{metric}_ci95"] = stratified_bootstrap_ci(
            [
                [_item_score(r, metric, task) for r in sorted(members, key=lambda r: r.key) if r.ok]
                for members in groups.values()
            ],
            CI_RESAMPLES,
            0.95,
            CI_SEED,
        )
    summary["n_ok"] = sum(g["n_ok"] for g in per_group.values())
    summary["n_failed"] = sum(g["n_failed"] for g in per_group.values())
    summary["groups_complete"] = sum(1 for g in per_group.values() if g["n_ok"] > 0)
    summary["groups_total"] = len(per_group)
    failures = [{"item": r.key, "reason": r.reason} for r in results if not r.ok]
    items = [
        {
            "item": r.key,
            "group": r.group,
            "ok": r.ok,
            **{m: (_item_score(r, m, task) if r.ok else None) for m in METRICS},
        }
        for r in sorted(results, key=lambda r: r.key)
    ]
    return {"summary": summary, "per_group": per_group, "failures": failures, "items": items}


def generation_cost(store: OutputStore, keys: list[str]) -> dict:
    """Seconds per generated item as measured when each was made (so a resumed run still reports
    them): a batch's wall time shared evenly by its items. Not part of the table: timings vary."""
    records = [store.record(key) for key in keys]
    timed = [r for r in records if r is not None and "generation_s" in r]
    if not timed:
        return {"items_timed": 0}
    seconds = np.array([r["generation_s"] for r in timed])
    return {
        "items_timed": len(timed),
        "mean_s": round(float(seconds.mean()), 6),
        "median_s": round(float(np.median(seconds)), 6),
        "total_s": round(float(seconds.sum()), 3),
        "devices": sorted({r["device"] for r in timed}),
        "batch_sizes": sorted({r["batch_size"] for r in timed}),
    }


@dataclass
class Plan:
    """Every work unit of a run, and the rows (fingerprint, info) and unavailable systems."""

    units: list[WorkUnit]
    rows: dict
    unavailable: dict


def plan(config: RunConfig, ctx: UnitContext, tasks: dict, unit_items: int) -> Plan:
    """List the work units: one system's task cut into chunks of ``unit_items`` items."""
    units, rows, unavailable = [], {}, {}
    for name in config.systems:
        options = dict(config.system_options.get(name, {}))
        try:
            status = system_status(name, options)
        except UnknownNameError as error:
            unavailable[name] = {"reason": str(error), "fix": ""}
            continue
        if not status.availability.ok:
            unavailable[name] = {"reason": status.availability.reason, "fix": status.availability.fix}
            warnings.warn(f"system {name} unavailable: {status.availability.reason}")
            continue
        try:
            system = ctx.system(name)
            fingerprint = {**system_code(type(system)), **system.fingerprint()}  # even if not super()'d
        except Exception as error:
            unavailable[name] = {
                "reason": f"failed to load: {type(error).__name__}: {error}",
                "fix": getattr(error, "fix", ""),
            }  # a named file error says what to do
            continue
        rows[name] = {"fingerprint": fingerprint, "info": _safe_info(system), "tasks": {}}
        for task in config.tasks:
            if task in system.capabilities:
                items = tasks[task]
                seeds = [item_seed(config.seed, task, i) for i in items]
                units += plan_task(name, fingerprint, task, items, seeds, ctx.clipset, unit_items)
    return Plan(units, rows, unavailable)


def _unfinished(units: list[WorkUnit], ctx: UnitContext) -> list[WorkUnit]:
    return [u for u in units if not u.finished(ctx)]


def execute(units: list[WorkUnit], ctx: UnitContext, executor, timings: dict) -> list:
    """Run the unfinished units with the chosen executor; one progress bar over their items."""
    config = ctx.config
    todo = _unfinished(units, ctx)
    failed: list = []
    phases: dict[str, float] = {}
    with stage(f"work units ({executor.name})", sum(len(u) for u in todo), config.progress, timings) as bar:
        for report in executor.run(todo, config, ctx):
            if report.error:
                failed.append(report)
            for name, seconds in report.phases.items():
                phases[name] = phases.get(name, 0.0) + seconds
            bar.update(report.n_items)
    timings["unit phases (summed over workers)"] = {k: round(v, 3) for k, v in sorted(phases.items())}
    return failed


def assemble(
    config: RunConfig,
    ctx: UnitContext,
    the_plan: Plan,
    reference: np.ndarray,
    reference_items: list | None = None,
) -> tuple[dict, dict]:
    """Every row's task results from the content cache alone; nothing is recomputed. With
    ``reference_items`` (one embedding array per reference clip), FAD/KAD intervals too, and the
    embeddings file ``compare`` reads is written (returned under ``generation["_bundle"]``)."""
    rows, missing = dict(the_plan.rows), []
    generation: dict[str, dict] = {}
    reference_set, why = prepare_reference(reference_items) if reference_items else (None, None)
    if why:
        warnings.warn(f"no FAD/KAD intervals: {why}")
    bundle: dict = {}
    by_task: dict[tuple[str, str], list[WorkUnit]] = {}
    for unit in the_plan.units:
        by_task.setdefault((unit.system, unit.task), []).append(unit)
    for (name, task), units in by_task.items():
        result: TaskResult | None = read_task(units, ctx.outputs(name), ctx.scores(name), config.retry_failed)
        if result is None:
            missing.append(f"{name} {task}")
            continue
        rows[name]["tasks"][task] = aggregate(
            task, result.items, reference, config.scale_spec.fad_aggregate, reference_set
        )
        bundle[(name, task)] = [(r.key, r.group, r.embedding) for r in result.items if r.ok]
        keys = [k for u in units for k in u.keys]
        generation.setdefault(name, {})[task] = generation_cost(ctx.outputs(name), keys)
    if missing:
        raise RunIncomplete(
            f"unfinished work units in {', '.join(missing)}; run the same command again "
            f"to finish them (finished items are not recomputed)"
        )
    if reference_items:
        generation["_bundle"] = write_bundle(config.cache_dir, reference_items, bundle)
    return rows, generation


def run_table1(config: RunConfig, execution: Execution | None = None) -> dict | None:
    """Run every requested system on every task it supports; return the result record.

    plan -> execute (``execution.executor``) -> assemble. With ``execution.shard`` or
    ``execution.wait=False`` only the units are run and None is returned; the same call without
    them assembles."""
    execution = execution or Execution()
    # an unknown name or a --system-option a system does not take stops the run before any work
    check_system_names(config.systems, config.system_options)
    executor = make_executor(execution, config)  # a bad spec or unreachable cluster stops here
    try:
        return _run(config, execution, executor)
    finally:
        executor.close()


def _run(config: RunConfig, execution: Execution, executor) -> dict | None:
    started = time.time()
    ledger = start_ledger(Path(config.cache_dir), config.public())  # CPU time over resumed processes
    timings: dict[str, float] = {}
    with stage("dataset", None, False, timings):
        clipset = load_dataset(config, config.progress)
    spec = config.scale_spec
    selection = select_clips(clipset.ids, spec.n_conditional, spec.n_pairs, config.seed)
    shortfall = scale_shortfall(selection, spec.n_conditional, spec.n_pairs, len(clipset))
    tasks = {CONDITIONAL: conditional_items(selection), BLEND: blend_items(selection)}
    ctx = _driver_context(config, clipset)
    features, backend, embedder = ctx.features, ctx.features.backend, ctx.features.embedder
    used = sorted(set(selection.conditional) | {c for p in selection.pairs for c in p})
    with stage("reference features", len(clipset.ids), config.progress, timings) as bar:
        reference_embeddings = []
        for index in range(len(clipset.ids)):
            sha = clipset.manifest["clips"][index]["sha256"]
            reference_embeddings.append(features.embedding(clipset.clips[index], sha))
            bar.update(1)
        used_index = [clipset.index(c) for c in used]
        features.descriptors_many(
            [clipset.clips[i] for i in used_index],
            [clipset.manifest["clips"][i]["sha256"] for i in used_index],
        )
    reference = np.concatenate(reference_embeddings).astype(np.float64)

    the_plan = plan(config, ctx, tasks, execution.unit_items)
    units = shard_units(the_plan.units, execution.shard)
    failed = execute(units, ctx, executor, timings)
    if execution.shard is not None or not execution.wait:
        if failed:
            raise RunIncomplete(_failure_text(failed))
        return None
    try:
        with stage("assemble (FAD/KAD intervals)", None, False, timings):
            rows, generation = assemble(config, ctx, the_plan, reference, reference_embeddings)
    except RunIncomplete as error:
        raise RunIncomplete(f"{error}\n{_failure_text(failed)}" if failed else str(error)) from None
    unavailable = the_plan.unavailable
    vocoder = ctx.vocoder
    bundle_entry = generation.pop("_bundle")

    return {
        "schema": "latentft-bench/table1/v1",
        "config": config.public(),
        "dataset": {
            "name": clipset.name,
            "manifest_hash": clipset.manifest_hash,
            "n_clips": len(clipset),
            "kind": clipset.manifest.get("kind"),
            "soundfont": clipset.manifest.get("soundfont"),
            "fluidsynth": clipset.manifest.get("fluidsynth"),
            "skipped": len(clipset.manifest.get("skipped", [])),
            "skipped_files": clipset.manifest.get("skipped", []),
            **({"layout": clipset.manifest["layout"]} if "layout" in clipset.manifest else {}),
        },
        "selection": selection.as_dict(),
        "scale_shortfall": shortfall,
        "embedder": {
            "id": embedder.id,
            "weights": embedder.weights,
            "cache_id": features.embedder_cache_id,
            "reference_set": f"all {len(clipset)} clips of {clipset.name}",
            "n_reference_embeddings": int(reference.shape[0]),
        },
        "vocoder": vocoder.id,
        "descriptors": backend.id,
        "descriptors_cache_id": backend.cache_id,
        "fad_aggregate": spec.fad_aggregate,
        "intervals": {
            "method": "stratified percentile bootstrap over items within each band (pair)",
            "level": 0.95,
            "resamples": CI_RESAMPLES,
            "seed": CI_SEED,
            "metrics": list(METRICS),
            "module": "metrics/statistics.py",
        },
        "distribution_intervals": {
            "method": "percentile bootstrap of FAD and KAD: over the generated items within each band "
            "(reference fixed; an entry from every band's resample), and separately over the reference "
            "clips (generated items fixed); KAD's bandwidth held at the full reference set's",
            "level": DISTRIBUTION_LEVEL,
            "resamples": DISTRIBUTION_RESAMPLES,
            "seed": DISTRIBUTION_SEED,
            "keys": ["fad_ci95", "fad_ci95_reference", "kad_ci95", "kad_ci95_reference"],
            "module": "metrics/distribution_intervals.py, bench/core/distribution_stats.py",
        },
        "distribution_embeddings": bundle_entry,
        "output_preparation": OUTPUT_PREPARATION,
        "kad": {
            "kernel": "gaussian",
            "bandwidth": "median pairwise distance of the reference set",
            "scale": 100,
            "estimator": "unbiased MMD^2",
        },
        "rows": rows,
        "unavailable": unavailable,
        "environment": environment(),
        "timings_s": {**timings, "total": round(time.time() - started, 3)},
        "generation_cost": generation,
        "execution": {
            "executor": execution.executor,
            "work_units": len(the_plan.units),
            "unit_items": execution.unit_items,
        },
        "resources": ledger.finish(),
    }


def _safe_info(system) -> dict:
    try:
        return system.info()
    except Exception as error:
        return {"error": str(error)}


def _driver_context(config: RunConfig, clipset) -> UnitContext:
    from bench.core.registry import make_embedder, make_vocoder

    features = FeatureCache(
        Path(config.cache_dir),
        make_embedder(config.embedder, config.device),
        DescriptorBackend(config.descriptors, config.device),
    )
    return UnitContext(config, clipset, features, make_vocoder(config.vocoder_spec, config.device))


def _failure_text(failed: list) -> str:
    return "work units that did not finish:\n" + "\n".join(f"  {r.unit}: {r.error}" for r in failed[:20])
