"""Multi-source sets for separation and latent arithmetic: a mix and its four stems
(bass, drums, lead, other) per clip, the stems summing to the mix.

- ``music21_stems``: the embedded music21 set regrouped by the renderer's stem roles (lead = the
  highest voice, bass = the lowest, other = the voices between, drums; a missing role is silence).
- ``load_musdb``: MUSDB18-HQ (``ROOT/{train,test}/TRACK/{mixture,bass,drums,other,vocals}.wav``);
  vocals are the lead.
- ``load_slakh``: Slakh2100 (``ROOT/{train,validation,test}/TrackNNNNN/{metadata.yaml, stems/SNN.flac}``):
  inst_class Bass and Drums give bass and drums; of the other rendered stems the loudest in the
  chosen chunk is the lead and the rest are summed into other; the mix is the sum of the stems.

Real tracks: resampled to 22050 Hz (Kaiser sinc), one seeded chunk per track among the chunks
whose mix is not quiet; mix and stems share one gain (the mix's peak normalisation). A track that
cannot be read is named in a warning and skipped.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.core.audio import CLIP_SAMPLES, MIN_MEAN_POWER, SAMPLE_RATE, AudioError, load_audio, resample
from bench.core.seeds import stream_rng
from bench.datasets.clipset import manifest_hash

STEM_NAMES = ("bass", "drums", "lead", "other")


@dataclass
class StemSet:
    name: str
    mixes: np.ndarray  # [N, T]
    stems: np.ndarray  # [N, 4, T] in STEM_NAMES order; sums to ``mixes``
    ids: list[str]
    manifest: dict

    @property
    def manifest_hash(self) -> str:
        return manifest_hash(self.manifest)

    def __len__(self) -> int:
        return len(self.ids)


def music21_stems(clipset) -> StemSet:
    from bench.datasets.music21_render import load_stems

    mixes, grouped = [], []
    for entry, clip_id in zip(clipset.manifest["clips"], clipset.ids):
        stems, _ = load_stems(clipset, clip_id)
        roles = [s["role"] for s in entry["stems"]]
        out = np.zeros((len(STEM_NAMES), stems.shape[-1]))
        for stem, role in zip(stems, roles):
            out[STEM_NAMES.index(role)] += stem
        grouped.append(out)
        mixes.append(out.sum(axis=0))
    manifest = {
        "name": f"{clipset.name}-stems",
        "kind": "music21-stems",
        "source": clipset.manifest_hash,
        "stems": list(STEM_NAMES),
        "clips": [{"id": i} for i in clipset.ids],
    }
    return StemSet(manifest["name"], np.stack(mixes), np.stack(grouped), list(clipset.ids), manifest)


def _chunk(mix: np.ndarray, stems: np.ndarray, key: str, seed: int, length: int):
    starts = [s for s in range(0, mix.shape[-1] - length + 1, length)]
    usable = []
    for start in starts:
        part = mix[start : start + length] - mix[start : start + length].mean()
        peak = np.abs(part).max()
        if peak > 0 and np.mean((part / peak) ** 2) >= MIN_MEAN_POWER:
            usable.append(start)
    if not usable:
        return None
    rng = stream_rng(seed, "stem-chunk", key)
    start = usable[int(rng.integers(len(usable)))]
    chunk = stems[:, start : start + length]
    chunk = chunk - chunk.mean(axis=1, keepdims=True)
    gain = 1.0 / np.abs(chunk.sum(axis=0)).max()
    return chunk * gain, start


def _stem_set(
    name: str, kind: str, tracks: list[tuple[str, np.ndarray]], skipped: list, seed: int
) -> StemSet:
    if not tracks:
        raise AudioError(f"{name}: no usable track ({len(skipped)} skipped)")
    ids = [t for t, _ in tracks]
    stems = np.stack([s for _, s in tracks])
    manifest = {
        "name": name,
        "kind": kind,
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "clip_samples": CLIP_SAMPLES,
        "stems": list(STEM_NAMES),
        "clips": [{"id": i} for i in ids],
        "skipped": skipped,
    }
    return StemSet(name, stems.sum(axis=1), stems, ids, manifest)


def _read(path: Path) -> np.ndarray:
    audio, sr = load_audio(path)
    return resample(audio, sr, SAMPLE_RATE)


def load_musdb(
    root: str | Path,
    split: str = "test",
    seed: int = 0,
    max_tracks: int | None = None,
    length: int = CLIP_SAMPLES,
) -> StemSet:
    folder = Path(root) / split
    if not folder.is_dir():
        raise AudioError(f"MUSDB18-HQ: {folder} not found (expected ROOT/{split}/TRACK/bass.wav ...)")
    tracks, skipped = [], []
    for track in sorted(p for p in folder.iterdir() if p.is_dir())[:max_tracks]:
        try:
            sources = [_read(track / f"{name}.wav") for name in ("bass", "drums", "vocals", "other")]
            n = min(s.shape[-1] for s in sources)
            picked = _chunk(
                sum(s[:n] for s in sources), np.stack([s[:n] for s in sources]), track.name, seed, length
            )
            if picked is None:
                raise AudioError(f"{track}: every chunk is quiet")
            tracks.append((track.name, picked[0]))
        except (AudioError, OSError) as error:
            warnings.warn(f"MUSDB18-HQ: skipping {track.name}: {error}")
            skipped.append({"track": track.name, "reason": str(error)})
    return _stem_set(f"musdb18hq-{split}-s{seed}-n{len(tracks)}", "musdb18hq", tracks, skipped, seed)


def load_slakh(
    root: str | Path,
    split: str = "test",
    seed: int = 0,
    max_tracks: int | None = None,
    length: int = CLIP_SAMPLES,
) -> StemSet:
    import yaml

    folder = Path(root) / split
    if not folder.is_dir():
        raise AudioError(f"Slakh2100: {folder} not found (expected ROOT/{split}/TrackNNNNN/metadata.yaml)")
    tracks, skipped = [], []
    for track in sorted(p for p in folder.iterdir() if p.is_dir())[:max_tracks]:
        try:
            metadata = yaml.safe_load((track / "metadata.yaml").read_text())
            classes, audio = [], []
            for stem_id, info in sorted(metadata.get("stems", {}).items()):
                path = track / "stems" / f"{stem_id}.flac"
                if info.get("audio_rendered", True) and path.exists():
                    classes.append(str(info.get("inst_class", "")))
                    audio.append(_read(path))
            if not audio:
                raise AudioError(f"{track}: no rendered stem")
            n = min(a.shape[-1] for a in audio)
            audio = np.stack([a[:n] for a in audio])
            picked = _chunk(audio.sum(axis=0), audio, track.name, seed, length)
            if picked is None:
                raise AudioError(f"{track}: every chunk is quiet")
            chunk, _ = picked
            grouped = np.zeros((len(STEM_NAMES), length))
            pitched = [i for i, c in enumerate(classes) if c not in ("Bass", "Drums")]
            lead = max(pitched, key=lambda i: float(np.sum(chunk[i] ** 2))) if pitched else None
            for i, inst_class in enumerate(classes):
                role = (
                    "bass"
                    if inst_class == "Bass"
                    else "drums"
                    if inst_class == "Drums"
                    else "lead"
                    if i == lead
                    else "other"
                )
                grouped[STEM_NAMES.index(role)] += chunk[i]
            tracks.append((track.name, grouped))
        except (AudioError, OSError, yaml.YAMLError) as error:
            warnings.warn(f"Slakh2100: skipping {track.name}: {error}")
            skipped.append({"track": track.name, "reason": str(error)})
    return _stem_set(f"slakh2100-{split}-s{seed}-n{len(tracks)}", "slakh2100", tracks, skipped, seed)


LOWEST_MIDI, HIGHEST_MIDI = 21, 108


@dataclass
class MelodySet:
    """Mix chunks with the lead part's notes as a frame-wise piano roll (MIDI 21-108)."""

    name: str
    audio: np.ndarray  # [M, chunk_samples] mixes
    rolls: np.ndarray  # [M, frames, 88] 1 where a lead note sounds at the frame's centre
    frame_seconds: float
    ids: list[str]  # "<clip id>@<chunk start sample>"


def lead_melody_chunks(clipset, chunk_samples: int, frames: int) -> MelodySet:
    """Every whole ``chunk_samples`` chunk of each music21 clip whose lead part sounds somewhere in
    it; frame t of a chunk covers samples [t h, (t + 1) h), h = chunk_samples / frames."""
    import json

    if chunk_samples % frames:
        raise ValueError(f"{chunk_samples} samples do not split into {frames} frames")
    hop = chunk_samples // frames
    centres = (np.arange(frames) + 0.5) * hop / SAMPLE_RATE
    audio, rolls, ids = [], [], []
    for clip, clip_id, entry in zip(clipset.clips, clipset.ids, clipset.manifest["clips"]):
        labels = json.loads((clipset.root / "stems" / f"{clip_id}.notes.json").read_text())
        lead = [
            note
            for notes, stem in zip(labels["notes"], entry["stems"])
            if stem["role"] == "lead"
            for note in notes
        ]
        for start in range(0, len(clip) - chunk_samples + 1, chunk_samples):
            roll = np.zeros((frames, HIGHEST_MIDI - LOWEST_MIDI + 1), dtype=np.float32)
            t0 = start / SAMPLE_RATE
            for onset, offset, pitch, _ in lead:
                if LOWEST_MIDI <= pitch <= HIGHEST_MIDI:
                    roll[(centres + t0 >= onset) & (centres + t0 < offset), int(pitch) - LOWEST_MIDI] = 1.0
            if roll.any():
                audio.append(np.asarray(clip[start : start + chunk_samples], dtype=np.float64))
                rolls.append(roll)
                ids.append(f"{clip_id}@{start}")
    if not ids:
        raise AudioError(f"{clipset.name}: no chunk of {chunk_samples} samples has a sounding lead part")
    return MelodySet(f"{clipset.name}-lead-melody", np.stack(audio), np.stack(rolls), hop / SAMPLE_RATE, ids)
