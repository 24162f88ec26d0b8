"""The content cache a run's items live in: generated clips, descriptors, embeddings, item scores.

Every file is written to a temporary name and renamed (bench/core/storage.py). Per item there is the
generated clip (``outputs/SYSTEM/KEY.npy``) and its record (``KEY.json``, naming the clip's hash);
descriptors and embeddings are kept by the audio's hash. Those are written without an fsync each:
every reader checks them (a record that does not parse, a clip whose bytes are not the ones its
record names, an array that does not load: each counts as missing and is made again). A work
unit's scores and embeddings are one file (``scores/SYSTEM/UNITKEY.npz``), fsynced, written last:
it is what marks the unit's items finished, and it covers the output records by their hashes. So
two workers on the same unit leave one complete entry, and a worker killed mid-unit leaves
nothing that reads as finished (its generated clips are kept: the next run only scores them).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.core.code_identity import class_source_file, code_identity
from bench.core.storage import atomic_save_npy, atomic_save_npz, atomic_write_json, content_key
from bench.datasets.clipset import clip_hash
from bench.metrics.descriptors import DESCRIPTOR_VERSION, Descriptors, compute_descriptors

SCORES_VERSION = "unit-scores-v2"
_UNREADABLE = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


def _load_npz(path: Path) -> dict | None:
    """Every array of an .npz, or None when it is missing or does not load whole."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except _UNREADABLE:
        return None


def code_tag(source_file: Path | None) -> str:
    """12 hex digits of the code identity (bench/core/code_identity.py) of ``source_file`` and the
    project modules it imports; ``nocode`` for code without a file."""
    if source_file is None or not Path(source_file).is_file():
        return "nocode"
    return code_identity(source_file)["sha256"][:12]


def embedder_cache_id(embedder) -> str:
    """The embedder's id (what tables print) joined to its code's tag (what keys the cache): an
    edit to the embedding code misses the cache even when nobody bumped the id."""
    return f"{embedder.id}-code{code_tag(class_source_file(type(embedder)))}"


class DescriptorBackend:
    """The descriptor implementation: ``fast`` (batched torch, the default) or ``reference``
    (librosa, one clip per call). Its ``id`` is what provenance and tables print; its
    ``cache_id`` (the id and the implementing module's code tag) keys the descriptor and score
    caches, so descriptors computed by older code are never reused under an unchanged id."""

    def __init__(self, name: str = "fast", device: str = "cpu"):
        if name == "fast":
            from bench.metrics import fast_descriptors as module

            self._extract = module.FastDescriptorExtractor(device=device)
            self.id = f"{module.FAST_DESCRIPTOR_VERSION}-f32"
        elif name == "reference":
            from bench.metrics import descriptors as module

            self._extract = lambda clips: [
                compute_descriptors(np.asarray(c, dtype=np.float64)) for c in clips
            ]
            self.id = DESCRIPTOR_VERSION
        else:
            raise ValueError(f"unknown descriptor implementation {name!r}: choose fast or reference")
        self.cache_id = f"{self.id}-code{code_tag(Path(module.__file__))}"

    def __call__(self, clips: list[np.ndarray]) -> list[Descriptors]:
        return self._extract(np.stack([np.asarray(c, dtype=np.float64) for c in clips]))


@dataclass
class FeatureCache:
    """Descriptors and embeddings of any clip, keyed by its audio hash."""

    root: Path
    embedder: object
    backend: DescriptorBackend

    def __post_init__(self):
        self.embedder_cache_id = embedder_cache_id(self.embedder)

    def _descriptor_path(self, sha: str) -> Path:
        return self.root / "descriptors" / self.backend.cache_id / sha[:2] / f"{sha}.npz"

    def embedding_path(self, sha: str) -> Path:
        return self.root / "embeddings" / self.embedder_cache_id / sha[:2] / f"{sha}.npy"

    def descriptors_many(self, audios: list[np.ndarray], shas: list[str]) -> list[Descriptors]:
        """Cached where possible; the rest computed in one batched call."""
        results: list[Descriptors | None] = []
        missing = []
        for index, sha in enumerate(shas):
            data = _load_npz(self._descriptor_path(sha))
            if data is not None and {"loudness", "onset", "mfcc", "tonnetz"} <= set(data):
                results.append(Descriptors(data["loudness"], data["onset"], data["mfcc"], data["tonnetz"]))
            else:
                results.append(None)
                missing.append(index)
        if missing:
            computed = self.backend([audios[i] for i in missing])
            for index, descriptors in zip(missing, computed):
                atomic_save_npz(self._descriptor_path(shas[index]), durable=False, **descriptors.as_dict())
                results[index] = descriptors
        return results

    def descriptors(self, audio: np.ndarray, sha: str | None = None) -> Descriptors:
        return self.descriptors_many([audio], [sha or clip_hash(audio)])[0]

    def embedding(self, audio: np.ndarray, sha: str | None = None) -> np.ndarray:
        path = self.embedding_path(sha or clip_hash(audio))
        cached = self.cached_embedding(path.stem)
        if cached is not None:
            return cached
        result = np.asarray(self.embedder.embed(np.asarray(audio, dtype=np.float64)), dtype=np.float32)
        atomic_save_npy(path, result, durable=False)
        return result

    def cached_embedding(self, sha: str) -> np.ndarray | None:
        try:
            return np.load(self.embedding_path(sha), allow_pickle=False)
        except _UNREADABLE:
            return None


class OutputStore:
    """Generated clips of one system, one .npy per item plus a .json record (the sentinel) naming
    the clip's hash: a clip whose bytes do not match its record is not taken as generated."""

    def __init__(self, root: Path, system: str):
        self.dir = Path(root) / "outputs" / system

    def record(self, key: str) -> dict | None:
        """The item's record, or None when it is missing or does not parse (torn by a crash)."""
        try:
            record = json.loads((self.dir / f"{key}.json").read_bytes())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and "ok" in record else None

    def audio(self, key: str) -> np.ndarray:
        return np.load(self.dir / f"{key}.npy")

    def verified_audio(self, key: str, sha: str) -> np.ndarray | None:
        """The clip when its bytes are the ones its record names (two workers that wrote
        different bytes for one item, e.g. on a non-deterministic GPU, are caught here)."""
        try:
            audio = self.audio(key)
        except _UNREADABLE:
            return None
        return audio if clip_hash(audio) == sha else None

    def save_ok(self, key: str, audio: np.ndarray, meta: dict) -> tuple[np.ndarray, dict]:
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        record = {**meta, "ok": True, "sha256": clip_hash(audio)}  # the only hash of a fresh clip
        atomic_save_npy(self.dir / f"{key}.npy", audio, durable=False)
        atomic_write_json(self.dir / f"{key}.json", record, durable=False)
        return audio, record

    def save_failed(self, key: str, reason: str, meta: dict) -> dict:
        record = {**meta, "ok": False, "reason": reason}
        atomic_write_json(self.dir / f"{key}.json", record, durable=False)
        return record


class ScoreStore:
    """A work unit's item scores (bench.core.units.ItemScores as JSON) and its items' embeddings, one
    .npz per unit under the unit's output keys and the scoring implementations' cache ids (their
    ids and code tags: FeatureCache.embedder_cache_id, DescriptorBackend.cache_id); written last
    and fsynced, it marks the unit's items finished."""

    def __init__(self, root: Path, system: str, descriptors_id: str, embedder_id: str):
        self.dir = Path(root) / "scores" / system
        self._ids = (SCORES_VERSION, descriptors_id, embedder_id)

    def path(self, keys: tuple[str, ...]) -> Path:
        return self.dir / f"{content_key(list(keys), *self._ids)}.npz"

    def read(self, keys: tuple[str, ...]) -> dict[str, tuple[dict, np.ndarray | None]] | None:
        """{output key: (scores as JSON, embedding or None)}, or None when the unit has no whole entry."""
        data = _load_npz(self.path(keys))
        if data is None or not {"items", "embeddings", "rows"} <= set(data):
            return None
        try:
            items = json.loads(data["items"].tobytes())
        except ValueError:
            return None
        if [item["key"] for item in items] != list(keys) or len(data["rows"]) != len(items):
            return None
        ends = np.cumsum(data["rows"])
        out = {}
        for item, start, end in zip(items, ends - data["rows"], ends):
            out[item.pop("key")] = (item, data["embeddings"][start:end] if end > start else None)
        return out

    def write(self, keys: tuple[str, ...], entries: list[tuple[dict, np.ndarray | None]]) -> None:
        """``entries`` in the order of ``keys``: each item's scores and its embedding (None when
        the item failed)."""
        embeddings = [e for _, e in entries if e is not None]
        width = embeddings[0].shape[1:] if embeddings else (0,)
        atomic_save_npz(
            self.path(keys),
            durable=True,
            items=np.frombuffer(
                json.dumps(
                    [{"key": k, **scores} for k, (scores, _) in zip(keys, entries)], sort_keys=True
                ).encode(),
                dtype=np.uint8,
            ),
            rows=np.array([0 if e is None else len(e) for _, e in entries], dtype=np.int64),
            embeddings=(
                np.concatenate(embeddings).astype(np.float32)
                if embeddings
                else np.zeros((0, *width), np.float32)
            ),
        )
