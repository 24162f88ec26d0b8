"""Work units of a Table 1 run: plan -> execute (any executor) -> assemble from the cache.

A :class:`WorkUnit` is one system, one task and a chunk of its items with their seeds, input
hashes and output keys. Executing it generates the missing outputs and scores them (descriptors,
adherence, embedding), writing every result to the content cache (bench/core/item_cache.py); its
result depends only on its inputs, so any worker anywhere computes the same bytes. Assembling
reads :class:`ItemScores` back from the cache alone. Generation is bench/core/generation.py,
scoring bench/core/scoring.py, the worker's context bench/core/unit_context.py, the cached results
bench/core/unit_results.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench.core.audio import CLIP_SAMPLES
from bench.core.generation import generate
from bench.core.item_cache import OutputStore, ScoreStore
from bench.core.scoring import METRICS, score_block
from bench.core.storage import content_key
from bench.core.system import CONDITIONAL
from bench.core.unit_context import Phases, UnitContext
from bench.core.unit_results import ItemScores, TaskResult, UnitReport, entry_finished, finished
from bench.datasets.clipset import ClipSet

__all__ = [
    "WorkUnit",
    "ItemScores",
    "TaskResult",
    "UnitReport",
    "UnitContext",
    "METRICS",
    "finished",
    "output_key",
    "plan_task",
    "execute_unit",
    "unit_finished",
    "read_task",
]
# every generated clip is prepared like the protocol's clips (de-meaned, peak 1) before scoring
OUTPUT_PREPARATION = "demean-peak1-v1"
SCORE_BLOCK = 16  # items whose descriptors are computed in one batched call
UNIT_ITEMS = 32  # items per work unit by default (a multiple of the default batch of 8)


@dataclass(frozen=True)
class WorkUnit:
    """One system's chunk of one task's items: everything a worker needs besides the config."""

    system: str
    task: str
    index: int  # the chunk's position in the task's item list
    items: tuple  # ConditionalItem / BlendItem (bench/core/tasks.py)
    seeds: tuple[int, ...]
    input_hashes: tuple[tuple[str, ...], ...]  # the input clips' sha256 per item
    keys: tuple[str, ...]  # output keys (content keys of all of the above)

    @property
    def id(self) -> str:
        return f"{self.system}/{self.task}/{self.index:05d}"

    def __len__(self) -> int:
        return len(self.items)

    # what an executor calls on any unit (bench/core/executors.py; a sweep's units:
    # bench/experiments/isolate_sweep.py)
    def execute(self, ctx: "UnitContext") -> "UnitReport":
        return execute_unit(self, ctx)

    def finished(self, ctx: "UnitContext") -> bool:
        return unit_finished(self, ctx.outputs(self.system), ctx.scores(self.system), ctx.config.retry_failed)

    def files(self, ctx: "UnitContext") -> list[tuple[str, bytes]]:
        """The cache files that make this unit finished, in the order they must be written (the
        unit's score file, which covers the others, last)."""
        outputs, scores = ctx.outputs(self.system), ctx.scores(self.system)
        paths = [outputs.dir / f"{key}{suffix}" for key in self.keys for suffix in (".npy", ".json")]
        paths.append(scores.path(self.keys))
        return [(str(p.relative_to(ctx.cache_root)), p.read_bytes()) for p in paths if p.exists()]


def output_key(fingerprint: dict, task: str, item, clipset: ClipSet, seed: int) -> str:
    return content_key(
        fingerprint, task, _input_fields(task, item, clipset), seed, CLIP_SAMPLES, OUTPUT_PREPARATION
    )


def _input_fields(task: str, item, clipset: ClipSet) -> list[str]:
    sha = lambda cid: clipset.manifest["clips"][clipset.index(cid)]["sha256"]  # noqa: E731
    if task == CONDITIONAL:
        return [sha(item.clip_id), item.band.name]
    return [sha(item.clip_id1), sha(item.clip_id2), item.band1.name, item.band2.name]


def plan_task(
    system: str,
    fingerprint: dict,
    task: str,
    items: list,
    seeds: list[int],
    clipset: ClipSet,
    unit_items: int = UNIT_ITEMS,
) -> list[WorkUnit]:
    units = []
    for index, start in enumerate(range(0, len(items), unit_items)):
        chunk = items[start : start + unit_items]
        chunk_seeds = seeds[start : start + unit_items]
        fields = [_input_fields(task, item, clipset) for item in chunk]
        keys = [output_key(fingerprint, task, item, clipset, seed) for item, seed in zip(chunk, chunk_seeds)]
        hashes = tuple(tuple(f[:1] if task == CONDITIONAL else f[:2]) for f in fields)
        units.append(WorkUnit(system, task, index, tuple(chunk), tuple(chunk_seeds), hashes, tuple(keys)))
    return units


def unit_finished(unit: WorkUnit, outputs: OutputStore, scores: ScoreStore, retry_failed: bool) -> bool:
    stored = scores.read(unit.keys)
    return stored is not None and all(
        entry_finished(stored.get(k), outputs.record(k), retry_failed) for k in unit.keys
    )


def execute_unit(unit: WorkUnit, ctx: UnitContext) -> UnitReport:
    """Generate what is missing, score what is unscored; every result goes to the cache, the
    unit's scores last (one file)."""
    began = time.perf_counter()
    config = ctx.config
    outputs, scores = ctx.outputs(unit.system), ctx.scores(unit.system)
    report = UnitReport(unit.id, len(unit))
    phase = Phases(report.phases)
    ctx.phase = phase
    with phase("finished checks"):
        stored = scores.read(unit.keys) or {}
        records: dict[str, Any] = {k: outputs.record(k) for k in unit.keys}
    todo = [
        (item, key, seed)
        for item, key, seed in zip(unit.items, unit.keys, unit.seeds)
        if records[key] is None or (config.retry_failed and not records[key]["ok"])
    ]
    audios = generate(unit, todo, ctx, records, report)
    pending = [
        (item, key, seed)
        for item, key, seed in zip(unit.items, unit.keys, unit.seeds)
        if key in audios or not entry_finished(stored.get(key), records[key], config.retry_failed)
    ]
    if not pending:
        report.seconds = time.perf_counter() - began
        return report
    torn = []
    with phase("load outputs"):
        for item, key, seed in pending:
            if key not in audios and records[key]["ok"]:
                audio = outputs.verified_audio(key, records[key]["sha256"])
                if audio is None:
                    torn.append((item, key, seed))  # its bytes are not the ones its record names
                else:
                    audios[key] = audio
    audios.update(generate(unit, torn, ctx, records, report))
    entries = {key: stored[key] for key in unit.keys if key in stored}
    for start in range(0, len(pending), SCORE_BLOCK):
        block = [(item, key) for item, key, _ in pending[start : start + SCORE_BLOCK]]
        for (item, key), result in zip(block, score_block(unit.task, block, records, audios, ctx)):
            entries[key] = (result.as_json(), result.embedding)
            report.scored += 1
    with phase("unit score file (fsynced)"):
        scores.write(unit.keys, [entries[key] for key in unit.keys])
    report.seconds = time.perf_counter() - began
    return report


def read_task(
    units: list[WorkUnit], outputs: OutputStore, scores: ScoreStore, retry_failed: bool
) -> TaskResult | None:
    """One system's task from the cache alone, or None when any of its items is unfinished."""
    items = []
    for unit in units:
        stored = scores.read(unit.keys)
        if stored is None:
            return None
        for key in unit.keys:
            entry = stored.get(key)
            if entry is None or not entry_finished(entry, outputs.record(key), retry_failed):
                return None
            result = ItemScores.from_json(entry[0])
            if result.ok:
                result.embedding = entry[1]
            items.append(result)
    return TaskResult(units[0].system, units[0].task, items)
