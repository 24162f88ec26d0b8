"""The content cache a run's items live in: generated clips, descriptors, embeddings, item scores.

Every file is written to a temporary name and renamed (bench/core/storage.py), and each entry has a
record written last that names the hash of what it covers, so two workers on the same item leave
one complete entry and a worker killed mid-item leaves nothing that reads as finished.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.datasets.clipset import clip_hash
from bench.metrics.descriptors import DESCRIPTOR_VERSION, Descriptors, compute_descriptors
from bench.core.storage import atomic_save_npy, atomic_save_npz, atomic_write_json, content_key

SCORES_VERSION = "item-scores-v1"


class DescriptorBackend:
    """The descriptor implementation: ``fast`` (batched torch, the default) or ``reference``
    (librosa, one clip per call). Its id keys the descriptor cache."""

    def __init__(self, name: str = "fast", device: str = "cpu"):
        if name == "fast":
            from bench.metrics.fast_descriptors import FAST_DESCRIPTOR_VERSION, FastDescriptorExtractor

            self._extract = FastDescriptorExtractor(device=device)
            self.id = f"{FAST_DESCRIPTOR_VERSION}-f32"
        elif name == "reference":
            self._extract = lambda clips: [compute_descriptors(np.asarray(c, dtype=np.float64))
                                           for c in clips]
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

    def embedding_path(self, sha: str) -> Path:
        return self.root / "embeddings" / self.embedder.id / sha[:2] / f"{sha}.npy"

    def descriptors_many(self, audios: list[np.ndarray], shas: list[str]) -> list[Descriptors]:
        """Cached where possible; the rest computed in one batched call."""
        results: list[Descriptors | None] = []
        missing = []
        for index, sha in enumerate(shas):
            path = self._descriptor_path(sha)
            if path.exists():
                with np.load(path) as data:
                    results.append(Descriptors(data["loudness"], data["onset"], data["mfcc"],
                                               data["tonnetz"]))
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
        path = self.embedding_path(sha or clip_hash(audio))
        if path.exists():
            return np.load(path)
        result = np.asarray(self.embedder.embed(np.asarray(audio, dtype=np.float64)), dtype=np.float32)
        atomic_save_npy(path, result)
        return result

    def cached_embedding(self, sha: str) -> np.ndarray | None:
        path = self.embedding_path(sha)
        return np.load(path) if path.exists() else None


class OutputStore:
    """Generated clips of one system, one .npy per item plus a .json record (the sentinel) naming
    the clip's hash: a clip whose bytes do not match its record is not taken as generated."""

    def __init__(self, root: Path, system: str):
        self.dir = Path(root) / "outputs" / system

    def record(self, key: str) -> dict | None:
        path = self.dir / f"{key}.json"
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None

    def audio(self, key: str) -> np.ndarray:
        return np.load(self.dir / f"{key}.npy")

    def verified_audio(self, key: str, sha: str) -> np.ndarray | None:
        """The clip when its bytes are the ones its record names (two workers that wrote
        different bytes for one item, e.g. on a non-deterministic GPU, are caught here)."""
        try:
            audio = self.audio(key)
        except (FileNotFoundError, ValueError, OSError):
            return None
        return audio if clip_hash(audio) == sha else None

    def save_ok(self, key: str, audio: np.ndarray, meta: dict) -> tuple[np.ndarray, dict]:
        audio = np.asarray(audio, dtype=np.float32)
        record = {**meta, "ok": True, "sha256": clip_hash(audio)}
        atomic_save_npy(self.dir / f"{key}.npy", audio)
        atomic_write_json(self.dir / f"{key}.json", record)
        return audio, record

    def save_failed(self, key: str, reason: str, meta: dict) -> dict:
        record = {**meta, "ok": False, "reason": reason}
        atomic_write_json(self.dir / f"{key}.json", record)
        return record


class ScoreStore:
    """An item's scores (bench.core.units.ItemScores as JSON) under its output key and the scoring
    implementations' ids; written last, it marks the item finished."""

    def __init__(self, root: Path, system: str, descriptors_id: str, embedder_id: str):
        self.dir = Path(root) / "scores" / system
        self._ids = (SCORES_VERSION, descriptors_id, embedder_id)

    def path(self, output_key: str) -> Path:
        return self.dir / f"{content_key(output_key, *self._ids)}.json"

    def read(self, output_key: str) -> dict | None:
        try:
            return json.loads(self.path(output_key).read_text())
        except FileNotFoundError:
            return None

    def write(self, output_key: str, scores: dict) -> None:
        atomic_write_json(self.path(output_key), scores)
