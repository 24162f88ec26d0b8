"""NSynth (``ROOT/examples.json`` + ``ROOT/audio/NAME.wav``, 16 kHz, 4 s notes) as a labelled
note set like the embedded ``notes`` set: each note resampled to 22050 Hz and its first 32768
samples kept (level unchanged), with pitch, velocity and instrument family (NSynth's 11
families are the embedded set's). ``max_notes`` takes a seeded, family-balanced subset."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from bench.core.audio import SAMPLE_RATE, AudioError, load_audio, resample
from bench.core.seeds import stream_rng
from bench.datasets.clipset import ClipSet, clip_hash
from bench.datasets.notes_render import FAMILY_NAMES, NOTE_CLIP_SAMPLES


def load_nsynth(root: str | Path, seed: int = 0, max_notes: int | None = None) -> ClipSet:
    root = Path(root)
    index_path = root / "examples.json"
    if not index_path.is_file():
        raise AudioError(f"NSynth: {index_path} not found (expected ROOT/examples.json and ROOT/audio/)")
    examples = json.loads(index_path.read_text())
    names = sorted(examples)
    if max_notes is not None and max_notes < len(names):
        rng = stream_rng(seed, "nsynth-subset")
        by_family: dict[str, list[str]] = {}
        for name in rng.permutation(names):
            by_family.setdefault(examples[name]["instrument_family_str"], []).append(str(name))
        picked, round_robin = [], [iter(v) for _, v in sorted(by_family.items())]
        while len(picked) < max_notes and round_robin:
            for it in list(round_robin):
                item = next(it, None)
                if item is None:
                    round_robin.remove(it)
                elif len(picked) < max_notes:
                    picked.append(item)
        names = sorted(picked)
    clips, entries, skipped = [], [], []
    for name in names:
        meta = examples[name]
        family = meta.get("instrument_family_str")
        try:
            if family not in FAMILY_NAMES:
                raise AudioError(f"unknown instrument family {family!r}")
            audio, sr = load_audio(root / "audio" / f"{name}.wav")
            clip = resample(audio, sr, SAMPLE_RATE)[:NOTE_CLIP_SAMPLES]
            clip = np.pad(clip, (0, NOTE_CLIP_SAMPLES - clip.shape[0])).astype(np.float32)
        except (AudioError, OSError) as error:
            warnings.warn(f"NSynth: skipping {name}: {error}")
            skipped.append({"note": name, "reason": str(error)})
            continue
        clips.append(clip)
        entries.append(
            {
                "id": name,
                "family": family,
                "family_index": FAMILY_NAMES.index(family),
                "pitch": int(meta["pitch"]),
                "velocity": int(meta["velocity"]),
                "sha256": clip_hash(clip),
            }
        )
    if not clips:
        raise AudioError(f"NSynth: no usable note in {root} ({len(skipped)} skipped)")
    manifest = {
        "name": f"nsynth-{root.name}-n{len(clips)}",
        "kind": "nsynth",
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "clip_samples": NOTE_CLIP_SAMPLES,
        "families": list(FAMILY_NAMES),
        "clips": entries,
        "skipped": skipped,
    }
    return ClipSet(manifest["name"], np.stack(clips), [e["id"] for e in entries], manifest)
