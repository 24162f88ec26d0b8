"""Generating a work unit's missing outputs: batches of items through the system, one item at a
time when a batch raises (one bad item fails alone), each output checked, normalised like the
protocol's clips and saved to the output store (bench/core/item_cache.py)."""

from __future__ import annotations

import time
import traceback
from pathlib import Path

import numpy as np

from bench.core.audio import check_output, normalise_clip
from bench.core.system import CONDITIONAL, BlendBatch, ConditionalBatch
from bench.core.unit_context import UnitContext
from bench.datasets.clipset import ClipSet


def generate(unit, todo, ctx: UnitContext, records: dict, report) -> dict[str, np.ndarray]:
    audios: dict[str, np.ndarray] = {}
    if todo:
        system = ctx.system(unit.system)
        for start in range(0, len(todo), ctx.config.batch_size):
            audios.update(
                _generate_batch(system, unit.task, todo[start : start + ctx.config.batch_size], ctx, records)
            )
        report.generated += len(todo)
    return audios


def _generate_batch(system, task, chunk, ctx: UnitContext, records: dict) -> dict[str, np.ndarray]:
    config, store = ctx.config, ctx.outputs(system.name)
    began = time.perf_counter()
    with ctx.phase("generation (the system)"):
        generated = _generate_chunk(system, task, chunk, ctx.clipset)
    seconds = (time.perf_counter() - began) / len(chunk)  # the batch's time shared evenly
    with ctx.phase("check and save outputs"):
        return _save_outputs(generated, task, system.name, seconds, len(chunk), config, store, records)


def _save_outputs(generated, task, system_name, seconds, batch_size, config, store, records) -> dict:
    fresh = {}
    for (item, key, seed), audio, reason in generated:
        meta = {
            "item": item.key,
            "task": task,
            "system": system_name,
            "seed": seed,
            "generation_s": round(seconds, 6),
            "device": config.device,
            "batch_size": batch_size,
        }
        if reason is None:
            reason = check_output(audio)
        if reason is None:
            fresh[key], records[key] = store.save_ok(key, normalise_clip(audio), meta)
        else:
            records[key] = store.save_failed(key, reason, meta)
    return fresh


def _make_batch(task: str, items, clipset: ClipSet, seeds: list[int]):
    clip = lambda cid: np.asarray(clipset.clips[clipset.index(cid)], dtype=np.float64)  # noqa: E731
    if task == CONDITIONAL:
        return ConditionalBatch(
            np.stack([clip(i.clip_id) for i in items]),
            [i.band for i in items],
            seeds,
            [i.clip_id for i in items],
        )
    return BlendBatch(
        np.stack([clip(i.clip_id1) for i in items]),
        np.stack([clip(i.clip_id2) for i in items]),
        [i.band1 for i in items],
        [i.band2 for i in items],
        seeds,
        [i.clip_id1 for i in items],
        [i.clip_id2 for i in items],
    )


def _call(system, task: str, batch) -> np.ndarray:
    outputs = np.asarray(system.conditional(batch) if task == CONDITIONAL else system.blend(batch))
    outputs = np.asarray(outputs)
    if outputs.ndim != 2 or outputs.shape[0] != len(batch.seeds):
        raise ValueError(f"{system.name} returned shape {outputs.shape} for a batch of {len(batch.seeds)}")
    return outputs


def _generate_chunk(system, task, chunk, clipset):
    """Run a batch; when it raises, run its items one by one so one bad item fails alone."""
    try:
        batch = _make_batch(task, [c[0] for c in chunk], clipset, [c[2] for c in chunk])
        outputs = _call(system, task, batch)
        return [(c, out, None) for c, out in zip(chunk, outputs)]
    except Exception as error:
        if len(chunk) == 1:
            detail = traceback.extract_tb(error.__traceback__)[-1]
            return [
                (
                    chunk[0],
                    None,
                    f"{type(error).__name__}: {error} ({Path(detail.filename).name}:{detail.lineno})",
                )
            ]
        results = []
        for single in chunk:
            results.extend(_generate_chunk(system, task, [single], clipset))
        return results
