"""A prepared evaluation set: mono 22050 Hz clips of 131072 samples with a hashed manifest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.core.storage import atomic_write_bytes, atomic_write_json


def clip_hash(clip: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(clip, dtype=np.float32).tobytes()).hexdigest()


def manifest_hash(manifest: dict) -> str:
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class ClipSet:
    name: str
    clips: np.ndarray  # [N, T] float32
    ids: list[str]
    manifest: dict
    root: Path | None = None

    @property
    def manifest_hash(self) -> str:
        return manifest_hash(self.manifest)

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, clip_id: str) -> int:
        return self.ids.index(clip_id)

    def save(self, root: Path) -> None:
        import io

        root.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(self.clips, dtype=np.float32))
        atomic_write_bytes(root / "clips.npy", buffer.getvalue())
        atomic_write_json(root / "manifest.json", self.manifest)  # written last: marks complete
        self.root = root

    @classmethod
    def load(cls, root: Path) -> "ClipSet":
        manifest = json.loads((root / "manifest.json").read_text())
        clips = np.load(root / "clips.npy", mmap_mode="r")
        ids = [c["id"] for c in manifest["clips"]]
        if clips.shape[0] != len(ids):
            raise ValueError(f"{root}: clips.npy has {clips.shape[0]} clips, manifest lists {len(ids)}")
        return cls(manifest.get("name", root.name), clips, ids, manifest, root)

    def verify(self) -> list[str]:
        """Ids whose audio no longer matches the hash recorded in the manifest."""
        return [
            c["id"]
            for c, clip in zip(self.manifest["clips"], self.clips)
            if c.get("sha256") and c["sha256"] != clip_hash(clip)
        ]
