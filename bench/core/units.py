"""Work units of a Table 1 run: plan -> execute (any executor) -> assemble from the cache.

A :class:`WorkUnit` is one system, one task and a chunk of its items with their seeds, input
hashes and output keys. Executing it generates the missing outputs and scores them (descriptors,
adherence, embedding), writing every result to the content cache (bench/core/item_cache.py); its
result depends only on its inputs, so any worker anywhere computes the same bytes. Assembling
reads :class:`ItemScores` back from the cache alone.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench.core.audio import CLIP_SAMPLES, check_output, normalise_clip
from bench.core.config import RunConfig
from bench.core.item_cache import DescriptorBackend, FeatureCache, OutputStore, ScoreStore
from bench.core.storage import content_key
from bench.core.system import CONDITIONAL, BlendBatch, ConditionalBatch, RunContext
from bench.datasets.clipset import ClipSet
from bench.metrics.adherence import HIGHER_IS_BETTER, adherence
from bench.metrics.descriptors import Descriptors

log = logging.getLogger(__name__)
METRICS = tuple(HIGHER_IS_BETTER)
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

    # what an executor calls on any unit (bench/core/executors.py; a sweep's units: bench/reports/figures.py)
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


@dataclass
class ItemScores:
    """One item's scores as cached: adherence in / out of the band (conditional) or to each input
    (blend), or the reason it failed. ``embedding`` is stored beside the JSON, in the unit's
    score file (bench/core/item_cache.py: ScoreStore)."""

    item: str
    group: str
    ok: bool
    reason: str = ""
    scores: dict = field(default_factory=dict)
    audio_sha: str = ""
    embedding: np.ndarray | None = None

    @property
    def key(self) -> str:
        return self.item

    def as_json(self) -> dict:
        d = asdict(self)
        d.pop("embedding")
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ItemScores":
        return cls(
            d["item"], d["group"], d["ok"], d.get("reason", ""), d.get("scores", {}), d.get("audio_sha", "")
        )


@dataclass
class TaskResult:
    """Every item of one system's task, in plan order, ready to aggregate."""

    system: str
    task: str
    items: list[ItemScores]


@dataclass
class UnitReport:
    unit: str
    n_items: int
    generated: int = 0
    scored: int = 0
    seconds: float = 0.0
    files: list | None = None  # (relative path, bytes) when results go back to the driver
    error: str = ""  # why the unit did not finish (executor-level failure)
    phases: dict = field(default_factory=dict)  # seconds per phase (bench/reports/scaleout_bench.py)


class _Phases:
    """Wall seconds spent in each phase of a unit, summed."""

    def __init__(self, into: dict):
        self.into = into

    def __call__(self, name: str):
        return _PhaseTimer(self.into, name)


class _PhaseTimer:
    def __init__(self, into: dict, name: str):
        self.into, self.name = into, name

    def __enter__(self):
        self.began = time.perf_counter()

    def __exit__(self, *exc):
        self.into[self.name] = self.into.get(self.name, 0.0) + time.perf_counter() - self.began


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
        keys = [
            content_key(fingerprint, task, f, s, CLIP_SAMPLES, OUTPUT_PREPARATION)
            for f, s in zip(fields, chunk_seeds)
        ]
        hashes = tuple(tuple(f[:1] if task == CONDITIONAL else f[:2]) for f in fields)
        units.append(WorkUnit(system, task, index, tuple(chunk), tuple(chunk_seeds), hashes, tuple(keys)))
    return units


class UnitContext:
    """What a worker holds across units: the evaluation set, vocoder, embedder, descriptor
    backend and each system's model, each loaded once."""

    def __init__(
        self,
        config: RunConfig,
        clipset: ClipSet,
        features: FeatureCache,
        vocoder,
        cache_root: Path | None = None,
    ):
        self.config = config
        self.clipset = clipset
        self.features = features
        self.vocoder = vocoder
        self.cache_root = Path(cache_root or config.cache_dir)
        self.systems: dict[str, object] = {}
        self.phase = _Phases({})
        self._clip_descriptors: dict[str, Descriptors] = {}

    @classmethod
    def build(cls, config: RunConfig, cache_root: Path | None = None) -> "UnitContext":
        from bench.core.evalset import load_dataset
        from bench.core.registry import make_embedder, make_vocoder

        clipset = load_dataset(config, False)
        root = Path(cache_root or config.cache_dir)
        features = FeatureCache(
            root,
            make_embedder(config.embedder, config.device),
            DescriptorBackend(config.descriptors, config.device),
        )
        return cls(config, clipset, features, make_vocoder(config.vocoder_spec, config.device), root)

    def system(self, name: str):
        if name not in self.systems:
            from bench.core.registry import get_system_class

            self.systems[name] = get_system_class(name)(self.run_context(name))
        return self.systems[name]

    def run_context(self, name: str) -> RunContext:
        return RunContext(
            np.asarray(self.clipset.clips),
            list(self.clipset.ids),
            self.vocoder,
            self.config.device,
            dict(self.config.system_options.get(name, {})),
            self.config.scale_spec.sampling_steps,
        )

    def outputs(self, system: str) -> OutputStore:
        return OutputStore(self.cache_root, system)

    def scores(self, system: str) -> ScoreStore:
        return ScoreStore(
            self.cache_root, system, self.features.backend.cache_id, self.features.embedder_cache_id
        )

    def clip_descriptors(self, clip_id: str) -> Descriptors:
        index = self.clipset.index(clip_id)
        sha = self.clipset.manifest["clips"][index]["sha256"]
        if sha not in self._clip_descriptors:
            self._clip_descriptors[sha] = self.features.descriptors(self.clipset.clips[index], sha)
        return self._clip_descriptors[sha]


def finished(scores: dict | None, record: dict | None, retry_failed: bool) -> bool:
    """An item is finished when its score record covers the output record now in the cache."""
    if scores is None or record is None:
        return False
    if not record["ok"]:
        return not retry_failed and not scores["ok"] and scores.get("audio_sha", "") == ""
    return scores.get("audio_sha") == record["sha256"]


def _entry_finished(entry: tuple | None, record: dict | None, retry_failed: bool) -> bool:
    """``entry`` (scores, embedding) from the unit's score file covers ``record``; a scored item
    has its embedding."""
    if entry is None or not finished(entry[0], record, retry_failed):
        return False
    return not entry[0]["ok"] or entry[1] is not None


def unit_finished(unit: WorkUnit, outputs: OutputStore, scores: ScoreStore, retry_failed: bool) -> bool:
    stored = scores.read(unit.keys)
    return stored is not None and all(
        _entry_finished(stored.get(k), outputs.record(k), retry_failed) for k in unit.keys
    )


def execute_unit(unit: WorkUnit, ctx: UnitContext) -> UnitReport:
    """Generate what is missing, score what is unscored; every result goes to the cache, the
    unit's scores last (one file)."""
    began = time.perf_counter()
    config = ctx.config
    outputs, scores = ctx.outputs(unit.system), ctx.scores(unit.system)
    report = UnitReport(unit.id, len(unit))
    phase = _Phases(report.phases)
    ctx.phase = phase
    with phase("finished checks"):
        stored = scores.read(unit.keys) or {}
        records = {k: outputs.record(k) for k in unit.keys}
    todo = [
        (item, key, seed)
        for item, key, seed in zip(unit.items, unit.keys, unit.seeds)
        if records[key] is None or (config.retry_failed and not records[key]["ok"])
    ]
    audios = _generate(unit, todo, ctx, records, report)
    pending = [
        (item, key, seed)
        for item, key, seed in zip(unit.items, unit.keys, unit.seeds)
        if key in audios or not _entry_finished(stored.get(key), records[key], config.retry_failed)
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
    audios.update(_generate(unit, torn, ctx, records, report))
    entries = {key: stored[key] for key in unit.keys if key in stored}
    for start in range(0, len(pending), SCORE_BLOCK):
        block = [(item, key) for item, key, _ in pending[start : start + SCORE_BLOCK]]
        for (item, key), result in zip(block, _score_block(unit.task, block, records, audios, ctx)):
            entries[key] = (result.as_json(), result.embedding)
            report.scored += 1
    with phase("unit score file (fsynced)"):
        scores.write(unit.keys, [entries[key] for key in unit.keys])
    report.seconds = time.perf_counter() - began
    return report


def _generate(unit, todo, ctx: UnitContext, records: dict, report: UnitReport) -> dict[str, np.ndarray]:
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


def _score_block(task, block, records, audios, ctx: UnitContext) -> list[ItemScores]:
    features = ctx.features
    ready = [key for _, key in block if key in audios]
    with ctx.phase("descriptors"):
        described = _describe(ready, audios, records, features)
    return [_score_one(task, item, key, records[key], audios, described, ctx) for item, key in block]


def _describe(ready, audios, records, features) -> dict:
    try:
        described = dict(
            zip(
                ready,
                features.descriptors_many([audios[k] for k in ready], [records[k]["sha256"] for k in ready]),
            )
        )
    except Exception as error:  # one bad clip: fall back to one at a time
        described = {}
        for key in ready:
            try:
                described[key] = features.descriptors(audios[key], records[key]["sha256"])
            except Exception as single_error:
                described[key] = single_error
        log.debug("batched descriptors failed (%s); scored one by one", error)
    return described


def _score_one(task, item, key, record, audios, described, ctx: UnitContext) -> ItemScores:
    if record is None or not record["ok"]:
        return ItemScores(item.key, item.group, False, record["reason"] if record else "not generated")
    sha = record["sha256"]
    pred = described.get(key)
    if isinstance(pred, Exception):
        return ItemScores(item.key, item.group, False, f"scoring failed: {pred}", audio_sha=sha)
    try:
        with ctx.phase("adherence"):
            if task == CONDITIONAL:
                scores = adherence(pred, ctx.clip_descriptors(item.clip_id), item.band)
            else:
                a1 = adherence(pred, ctx.clip_descriptors(item.clip_id1), item.band1)
                a2 = adherence(pred, ctx.clip_descriptors(item.clip_id2), item.band2)
                scores = {}
                for metric in METRICS:
                    scores[f"{metric}_1"] = a1[f"{metric}_in"]
                    scores[f"{metric}_2"] = a2[f"{metric}_in"]
        with ctx.phase("embedding"):
            embedding = ctx.features.embedding(audios[key], record["sha256"])
    except Exception as error:
        return ItemScores(item.key, item.group, False, f"scoring failed: {error}", audio_sha=sha)
    return ItemScores(item.key, item.group, True, "", scores, sha, embedding)


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
            if not _entry_finished(entry, outputs.record(key), retry_failed):
                return None
            result = ItemScores.from_json(entry[0])
            if result.ok:
                result.embedding = entry[1]
            items.append(result)
    return TaskResult(units[0].system, units[0].task, items)
