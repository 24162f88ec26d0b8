"""The Table 1 task runner: dataset -> systems -> cached outputs -> scores -> result record.

Every generated clip and every descriptor / embedding is cached under a content key, written
atomically, so a killed run restarts where it stopped and writes the same table. A failing
item (exception, NaN, silence, wrong length) is recorded with its reason and never averaged.
"""
from __future__ import annotations

import json
import logging
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.audio import CLIP_SAMPLES, check_output, normalise_clip
from bench.code_identity import system_code
from bench.config import RunConfig
from bench.datasets.clipset import ClipSet, clip_hash
from bench.embedders import get_embedder
from bench.metrics.adherence import HIGHER_IS_BETTER, adherence
from bench.metrics.descriptors import DESCRIPTOR_VERSION, Descriptors, compute_descriptors
from bench.metrics.distribution import DistributionError, fad, kad
from bench.metrics.statistics import stratified_bootstrap_ci
from bench.progress import stage
from bench.provenance import environment
from bench.registry import check_system_names, get_system_class, system_status
from bench.run_ledger import start_ledger
from bench.storage import atomic_save_npy, atomic_save_npz, atomic_write_json, content_key
from bench.system import BLEND, CONDITIONAL, BlendBatch, ConditionalBatch, RunContext
from bench.tasks import (blend_items, conditional_items, item_seed, scale_shortfall,
                         select_clips)
from bench.vocoders import get_vocoder

log = logging.getLogger(__name__)
METRICS = tuple(HIGHER_IS_BETTER)
CI_RESAMPLES, CI_SEED = 1000, 0  # the adherence entries' 95 % stratified bootstrap intervals
EMBEDDED_DATASET_VERSION = "music21-r2"
# every generated clip is prepared like the protocol's clips (de-meaned, peak 1) before scoring
OUTPUT_PREPARATION = "demean-peak1-v1"


def load_dataset(config: RunConfig, progress: bool = True) -> ClipSet:
    cache_root = Path(config.data_cache_dir)
    if config.data:
        from bench.datasets.folder import load_folder

        return load_folder(config.data, cache_root, seed=config.data_seed,
                           split_file=config.split_file, strict=config.strict)
    n = config.scale_spec.dataset_clips
    return embedded_dataset(n, config.data_seed, cache_root, "test")


def embedded_dataset(n: int, seed: int, cache_root: Path, split: str) -> ClipSet:
    """The music21 set of ``split`` ("test" evaluates, "train" trains), rendered once and cached."""
    from bench.datasets.music21_render import build, load_speed_independent_dataset

    root = Path(cache_root) / f"{EMBEDDED_DATASET_VERSION}-{split}-s{seed}-n{n}"
    if (root / "manifest.json").exists():
        cached = load_speed_independent_dataset(root)
        if cached is not None:
            return cached
    print(f"rendering {n} music21 clips ({split} split) into {root} ...", flush=True)
    return build(n, seed, root, split=split)


class DescriptorBackend:
    """The descriptor implementation: ``fast`` (batched torch, the default) or ``reference``
    (librosa, one clip per call). Its id keys the descriptor cache."""

    def __init__(self, name: str = "fast", device: str = "cpu"):
        if name == "fast":
            from bench.metrics.fast_descriptors import FAST_DESCRIPTOR_VERSION, FastDescriptorExtractor

            self._extract = FastDescriptorExtractor(device=device)
            self.id = f"{FAST_DESCRIPTOR_VERSION}-f32"
        elif name == "reference":
            self._extract = lambda clips: [compute_descriptors(np.asarray(c, dtype=np.float64)) for c in clips]
            self.id = DESCRIPTOR_VERSION
        else:
            raise ValueError(f"unknown descriptor implementation {name!r}: choose fast or reference")

    def __call__(self, clips: list[np.ndarray]) -> list[Descriptors]:
        return self._extract(np.stack([np.asarray(c, dtype=np.float64) for c in clips]))


@dataclass
class FeatureCache:
    """Descriptors and embeddings of any clip, keyed by its audio hash."""

    root: Path
    embedder: object
    backend: DescriptorBackend

    def _descriptor_path(self, sha: str) -> Path:
        return self.root / "descriptors" / self.backend.id / sha[:2] / f"{sha}.npz"

    def descriptors_many(self, audios: list[np.ndarray], shas: list[str]) -> list[Descriptors]:
        """Cached where possible; the rest computed in one batched call."""
        results: list[Descriptors | None] = []
        missing = []
        for index, sha in enumerate(shas):
            path = self._descriptor_path(sha)
            if path.exists():
                with np.load(path) as data:
                    results.append(Descriptors(data["loudness"], data["onset"], data["mfcc"], data["tonnetz"]))
            else:
                results.append(None)
                missing.append(index)
        if missing:
            computed = self.backend([audios[i] for i in missing])
            for index, descriptors in zip(missing, computed):
                atomic_save_npz(self._descriptor_path(shas[index]), **descriptors.as_dict())
                results[index] = descriptors
        return results

    def descriptors(self, audio: np.ndarray, sha: str | None = None) -> Descriptors:
        return self.descriptors_many([audio], [sha or clip_hash(audio)])[0]

    def embedding(self, audio: np.ndarray, sha: str | None = None) -> np.ndarray:
        sha = sha or clip_hash(audio)
        path = self.root / "embeddings" / self.embedder.id / sha[:2] / f"{sha}.npy"
        if path.exists():
            return np.load(path)
        result = np.asarray(self.embedder.embed(np.asarray(audio, dtype=np.float64)), dtype=np.float32)
        atomic_save_npy(path, result)
        return result


@dataclass
class ItemResult:
    key: str
    group: str
    ok: bool
    reason: str = ""
    scores: dict = field(default_factory=dict)   # conditional: {metric_in/out}; blend: {metric_1, metric_2}
    embedding: np.ndarray | None = None


class OutputStore:
    """Generated clips of one system, one .npy per item plus a .json record (the sentinel)."""

    def __init__(self, root: Path, system: str):
        self.dir = root / "outputs" / system

    def record(self, key: str) -> dict | None:
        path = self.dir / f"{key}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def audio(self, key: str) -> np.ndarray:
        return np.load(self.dir / f"{key}.npy")

    def save_ok(self, key: str, audio: np.ndarray, meta: dict) -> None:
        audio = np.asarray(audio, dtype=np.float32)
        atomic_save_npy(self.dir / f"{key}.npy", audio)
        atomic_write_json(self.dir / f"{key}.json", {**meta, "ok": True, "sha256": clip_hash(audio)})

    def save_failed(self, key: str, reason: str, meta: dict) -> None:
        atomic_write_json(self.dir / f"{key}.json", {**meta, "ok": False, "reason": reason})


def _make_batch(task: str, items, clipset: ClipSet, seeds: list[int]):
    clip = lambda cid: np.asarray(clipset.clips[clipset.index(cid)], dtype=np.float64)  # noqa: E731
    if task == CONDITIONAL:
        return ConditionalBatch(np.stack([clip(i.clip_id) for i in items]), [i.band for i in items],
                                seeds, [i.clip_id for i in items])
    return BlendBatch(np.stack([clip(i.clip_id1) for i in items]), np.stack([clip(i.clip_id2) for i in items]),
                      [i.band1 for i in items], [i.band2 for i in items], seeds,
                      [i.clip_id1 for i in items], [i.clip_id2 for i in items])


def _call(system, task: str, batch) -> np.ndarray:
    outputs = system.conditional(batch) if task == CONDITIONAL else system.blend(batch)
    outputs = np.asarray(outputs)
    if outputs.ndim != 2 or outputs.shape[0] != len(batch.seeds):
        raise ValueError(f"{system.name} returned shape {outputs.shape} for a batch of {len(batch.seeds)}")
    return outputs


def output_key(fingerprint: dict, task: str, item, clipset: ClipSet, seed: int) -> str:
    if task == CONDITIONAL:
        inputs = [clipset.manifest["clips"][clipset.index(item.clip_id)]["sha256"], item.band.name]
    else:
        inputs = [clipset.manifest["clips"][clipset.index(item.clip_id1)]["sha256"],
                  clipset.manifest["clips"][clipset.index(item.clip_id2)]["sha256"],
                  item.band1.name, item.band2.name]
    return content_key(fingerprint, task, inputs, seed, CLIP_SAMPLES, OUTPUT_PREPARATION)


def generate(system, task: str, items, keys: list[str], seeds: list[int], clipset: ClipSet,
             store: OutputStore, config: RunConfig, timings: dict) -> None:
    todo = []
    for item, key, seed in zip(items, keys, seeds):
        record = store.record(key)
        if record is None or (config.retry_failed and not record["ok"]):
            todo.append((item, key, seed))
    label = f"{system.name} {task}: generate"
    with stage(label, len(todo), config.progress, timings) as bar:
        for start in range(0, len(todo), config.batch_size):
            chunk = todo[start:start + config.batch_size]
            began = time.perf_counter()
            generated = _generate_chunk(system, task, chunk, clipset)
            seconds = (time.perf_counter() - began) / len(chunk)  # the batch's time shared evenly
            for (item, key, seed), audio, reason in generated:
                meta = {"item": item.key, "task": task, "system": system.name, "seed": seed,
                        "generation_s": round(seconds, 6), "device": config.device,
                        "batch_size": len(chunk)}
                if reason is None:
                    reason = check_output(audio)
                if reason is None:
                    store.save_ok(key, normalise_clip(audio), meta)
                else:
                    store.save_failed(key, reason, meta)
                bar.update(1)


def generation_cost(store: OutputStore, keys: list[str]) -> dict:
    """Seconds per generated item as measured when each was made (so a resumed run still reports
    them): a batch's wall time shared evenly by its items. Not part of the table: timings vary."""
    records = [store.record(key) for key in keys]
    timed = [r for r in records if r is not None and "generation_s" in r]
    if not timed:
        return {"items_timed": 0}
    seconds = np.array([r["generation_s"] for r in timed])
    return {"items_timed": len(timed), "mean_s": round(float(seconds.mean()), 6),
            "median_s": round(float(np.median(seconds)), 6), "total_s": round(float(seconds.sum()), 3),
            "devices": sorted({r["device"] for r in timed}),
            "batch_sizes": sorted({r["batch_size"] for r in timed})}


def _generate_chunk(system, task, chunk, clipset):
    """Run a batch; when it raises, run its items one by one so one bad item fails alone."""
    try:
        outputs = _call(system, task, _make_batch(task, [c[0] for c in chunk], clipset, [c[2] for c in chunk]))
        return [(c, out, None) for c, out in zip(chunk, outputs)]
    except Exception as error:
        if len(chunk) == 1:
            detail = traceback.extract_tb(error.__traceback__)[-1]
            return [(chunk[0], None, f"{type(error).__name__}: {error} "
                                     f"({Path(detail.filename).name}:{detail.lineno})")]
        results = []
        for single in chunk:
            results.extend(_generate_chunk(system, task, [single], clipset))
        return results


SCORE_BLOCK = 16


def score_items(system_name: str, task: str, items, keys, clipset: ClipSet, store: OutputStore,
                features: FeatureCache, config: RunConfig, timings: dict) -> list[ItemResult]:
    results: list[ItemResult] = []
    with stage(f"{system_name} {task}: score", len(items), config.progress, timings) as bar:
        for start in range(0, len(items), SCORE_BLOCK):
            block = list(zip(items[start:start + SCORE_BLOCK], keys[start:start + SCORE_BLOCK]))
            records = [store.record(key) for _, key in block]
            ready = [(item, key, rec) for (item, key), rec in zip(block, records) if rec and rec["ok"]]
            audios = {key: store.audio(key) for _, key, _ in ready}
            try:
                described = dict(zip([k for _, k, _ in ready], features.descriptors_many(
                    [audios[k] for _, k, _ in ready], [r["sha256"] for _, _, r in ready])))
            except Exception as error:  # one bad clip: fall back to one at a time
                described = {}
                for _, key, rec in ready:
                    try:
                        described[key] = features.descriptors(audios[key], rec["sha256"])
                    except Exception as single_error:
                        described[key] = single_error
                log.debug("batched descriptors failed (%s); scored one by one", error)
            for (item, key), record in zip(block, records):
                results.append(_score_one(task, item, key, record, audios, described, clipset, features))
                bar.update(1)
    return results


def _score_one(task, item, key, record, audios, described, clipset, features) -> ItemResult:
    if record is None or not record["ok"]:
        return ItemResult(item.key, item.group, False, record["reason"] if record else "not generated")
    pred = described.get(key)
    if isinstance(pred, Exception):
        return ItemResult(item.key, item.group, False, f"scoring failed: {pred}")
    try:
        if task == CONDITIONAL:
            scores = adherence(pred, _clip_descriptors(features, clipset, item.clip_id), item.band)
        else:
            a1 = adherence(pred, _clip_descriptors(features, clipset, item.clip_id1), item.band1)
            a2 = adherence(pred, _clip_descriptors(features, clipset, item.clip_id2), item.band2)
            scores = {}
            for metric in METRICS:
                scores[f"{metric}_1"] = a1[f"{metric}_in"]
                scores[f"{metric}_2"] = a2[f"{metric}_in"]
        embedding = features.embedding(audios[key], record["sha256"])
    except Exception as error:
        return ItemResult(item.key, item.group, False, f"scoring failed: {error}")
    return ItemResult(item.key, item.group, True, "", scores, embedding)


def _clip_descriptors(features: FeatureCache, clipset: ClipSet, clip_id: str) -> Descriptors:
    index = clipset.index(clip_id)
    return features.descriptors(clipset.clips[index], clipset.manifest["clips"][index]["sha256"])


def _mean(values):
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else None


def _distribution(embeddings: list[np.ndarray], reference: np.ndarray) -> dict:
    if not embeddings:
        return {"fad": None, "kad": None, "n_embeddings": 0}
    stacked = np.concatenate(embeddings).astype(np.float64)
    out = {"n_embeddings": int(stacked.shape[0])}
    for name, fn in (("fad", fad), ("kad", kad)):
        try:
            out[name] = fn(stacked, reference)
        except DistributionError as error:
            out[name], out[f"{name}_error"] = None, str(error)
    return out


def _item_score(result: ItemResult, metric: str, task: str) -> float:
    """The item's share of the table entry: its in-band score, or for blending the mean of its
    adherence to both inputs."""
    if task == CONDITIONAL:
        value = result.scores.get(f"{metric}_in")
        return np.nan if value is None else value
    parts = [result.scores.get(f"{metric}_1"), result.scores.get(f"{metric}_2")]
    return np.nan if None in parts else float(np.mean(parts))


def aggregate(task: str, results: list[ItemResult], reference: np.ndarray, fad_mode: str) -> dict:
    """Per-group means over successful items, then the task summary over groups."""
    groups: dict[str, list[ItemResult]] = {}
    for r in results:
        groups.setdefault(r.group, []).append(r)
    per_group = {}
    for group, members in groups.items():
        ok = [r for r in members if r.ok]
        entry = {"n_ok": len(ok), "n_failed": len(members) - len(ok)}
        score_keys = sorted({k for r in ok for k in r.scores})
        for k in score_keys:
            entry[k] = _mean(r.scores.get(k) for r in ok)
        if task == BLEND:
            for metric in METRICS:
                parts = [entry.get(f"{metric}_1"), entry.get(f"{metric}_2")]
                entry[f"{metric}_both"] = _mean(parts) if None not in parts else None
        entry.update(_distribution([r.embedding for r in ok], reference) if fad_mode == "mean-over-bands"
                     else {})
        per_group[group] = entry
    suffix = "_in" if task == CONDITIONAL else "_both"
    summary = {m: _mean(g.get(f"{m}{suffix}") for g in per_group.values()) for m in METRICS}
    if fad_mode == "mean-over-bands":
        summary["fad"] = _mean(g.get("fad") for g in per_group.values())
        summary["kad"] = _mean(g.get("kad") for g in per_group.values())
    else:
        pooled = _distribution([r.embedding for r in results if r.ok], reference)
        summary["fad"], summary["kad"] = pooled["fad"], pooled["kad"]
    for metric in METRICS:
        summary[f"{metric}_ci95"] = stratified_bootstrap_ci(
            [[_item_score(r, metric, task) for r in sorted(members, key=lambda r: r.key) if r.ok]
             for members in groups.values()], CI_RESAMPLES, 0.95, CI_SEED)
    summary["n_ok"] = sum(g["n_ok"] for g in per_group.values())
    summary["n_failed"] = sum(g["n_failed"] for g in per_group.values())
    summary["groups_complete"] = sum(1 for g in per_group.values() if g["n_ok"] > 0)
    summary["groups_total"] = len(per_group)
    failures = [{"item": r.key, "reason": r.reason} for r in results if not r.ok]
    items = [{"item": r.key, "group": r.group, "ok": r.ok,
              **{m: (_item_score(r, m, task) if r.ok else None) for m in METRICS}}
             for r in sorted(results, key=lambda r: r.key)]
    return {"summary": summary, "per_group": per_group, "failures": failures, "items": items}


def run_table1(config: RunConfig) -> dict:
    """Run every requested system on every task it supports; return the result record."""
    started = time.time()
    check_system_names(config.systems)   # an unknown name stops the run before any work
    ledger = start_ledger(Path(config.cache_dir), config.public())   # CPU time over resumed processes
    timings: dict[str, float] = {}
    with stage("dataset", None, False, timings):
        clipset = load_dataset(config, config.progress)
    spec = config.scale_spec
    selection = select_clips(clipset.ids, spec.n_conditional, spec.n_pairs, config.seed)
    shortfall = scale_shortfall(selection, spec.n_conditional, spec.n_pairs, len(clipset))
    tasks = {CONDITIONAL: conditional_items(selection), BLEND: blend_items(selection)}
    embedder = get_embedder(config.embedder, config.device)
    vocoder = get_vocoder(config.vocoder_spec, config.device)
    cache_root = Path(config.cache_dir)
    backend = DescriptorBackend(config.descriptors, config.device)
    features = FeatureCache(cache_root, embedder, backend)
    used = sorted(set(selection.conditional) | {c for p in selection.pairs for c in p})
    with stage("reference features", len(clipset.ids), config.progress, timings) as bar:
        reference_embeddings = []
        for index in range(len(clipset.ids)):
            sha = clipset.manifest["clips"][index]["sha256"]
            reference_embeddings.append(features.embedding(clipset.clips[index], sha))
            bar.update(1)
        used_index = [clipset.index(c) for c in used]
        features.descriptors_many([clipset.clips[i] for i in used_index],
                                  [clipset.manifest["clips"][i]["sha256"] for i in used_index])
    reference = np.concatenate(reference_embeddings).astype(np.float64)

    rows, unavailable, generation = {}, {}, {}
    for name in config.systems:
        options = dict(config.system_options.get(name, {}))
        try:
            status = system_status(name, options)
        except KeyError as error:
            unavailable[name] = {"reason": str(error.args[0]), "fix": ""}
            continue
        if not status.availability.ok:
            unavailable[name] = {"reason": status.availability.reason, "fix": status.availability.fix}
            warnings.warn(f"system {name} unavailable: {status.availability.reason}")
            continue
        context = RunContext(np.asarray(clipset.clips), list(clipset.ids), vocoder, config.device, options,
                             spec.sampling_steps)
        try:
            system = get_system_class(name)(context)
            fingerprint = {**system_code(type(system)), **system.fingerprint()}  # even if not super()'d
        except Exception as error:
            unavailable[name] = {"reason": f"failed to load: {type(error).__name__}: {error}", "fix": ""}
            continue
        store = OutputStore(cache_root, name)
        row = {"fingerprint": fingerprint, "info": _safe_info(system), "tasks": {}}
        for task in config.tasks:
            if task not in system.capabilities:
                continue
            items = tasks[task]
            seeds = [item_seed(config.seed, task, i) for i in items]
            keys = [output_key(fingerprint, task, i, clipset, s) for i, s in zip(items, seeds)]
            generate(system, task, items, keys, seeds, clipset, store, config, timings)
            results = score_items(name, task, items, keys, clipset, store, features, config, timings)
            row["tasks"][task] = aggregate(task, results, reference, spec.fad_aggregate)
            generation.setdefault(name, {})[task] = generation_cost(store, keys)
        rows[name] = row

    return {
        "schema": "latentft-bench/table1/v1",
        "config": config.public(),
        "dataset": {"name": clipset.name, "manifest_hash": clipset.manifest_hash,
                    "n_clips": len(clipset), "kind": clipset.manifest.get("kind"),
                    "soundfont": clipset.manifest.get("soundfont"),
                    "fluidsynth": clipset.manifest.get("fluidsynth"),
                    "skipped": len(clipset.manifest.get("skipped", [])),
                    "skipped_files": clipset.manifest.get("skipped", []),
                    **({"layout": clipset.manifest["layout"]} if "layout" in clipset.manifest else {})},
        "selection": selection.as_dict(),
        "scale_shortfall": shortfall,
        "embedder": {"id": embedder.id, "weights": embedder.weights,
                     "reference_set": f"all {len(clipset)} clips of {clipset.name}",
                     "n_reference_embeddings": int(reference.shape[0])},
        "vocoder": vocoder.id,
        "descriptors": backend.id,
        "fad_aggregate": spec.fad_aggregate,
        "intervals": {"method": "stratified percentile bootstrap over items within each band (pair)",
                      "level": 0.95, "resamples": CI_RESAMPLES, "seed": CI_SEED,
                      "metrics": list(METRICS), "module": "metrics/statistics.py"},
        "output_preparation": OUTPUT_PREPARATION,
        "kad": {"kernel": "gaussian", "bandwidth": "median pairwise distance of the reference set",
                "scale": 100, "estimator": "unbiased MMD^2"},
        "rows": rows,
        "unavailable": unavailable,
        "environment": environment(),
        "timings_s": {**timings, "total": round(time.time() - started, 3)},
        "generation_cost": generation,
        "resources": ledger.finish(),
    }



def _safe_info(system) -> dict:
    try:
        return system.info()
    except Exception as error:
        return {"error": str(error)}
