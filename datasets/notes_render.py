"""The embedded ``notes`` dataset: single General MIDI notes rendered with FluidSynth, labelled
like NSynth (pitch, instrument family, velocity).

Deterministic from the seed. Each note is held for 1 s in a clip of 32768 samples (1.49 s,
128 mel frames), played by a program drawn from one of 11 NSynth-like families (below), at a
pitch inside the family's range and one of five velocities. Notes are rendered 128 to a
FluidSynth call, each in its own slot (datasets/music21_render.py) and de-meaned; the
rendered level is kept (not peak-normalised) so that velocity stays audible. Splits: the program list of each family alternates between "train" and "test",
so test notes come from instruments never heard in training (as NSynth's split does).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from bench.core.audio import SAMPLE_RATE
from bench.core.seeds import stream_rng
from bench.core.storage import file_sha256
from bench.datasets.clipset import ClipSet, clip_hash
from bench.datasets.music21_render import (
    Note,
    RenderError,
    Stem,
    find_soundfont,
    fluidsynth_version,
    render_midi,
    write_slotted_midi,
)

NOTES_RENDER_VERSION = 1
NOTE_CLIP_SAMPLES = 32768
HELD_S = 1.0
LEAD_IN_S = 0.5
SLOT_SAMPLES = 3 * SAMPLE_RATE
NOTES_PER_RENDER = 128
VELOCITIES = (25, 50, 75, 100, 127)

# family -> (GM programs, lowest and highest MIDI pitch)
FAMILIES: dict[str, tuple[tuple[int, ...], tuple[int, int]]] = {
    "keyboard": ((0, 1, 2, 4, 5, 6), (36, 84)),
    "mallet": ((8, 9, 11, 12, 13, 14), (48, 84)),
    "organ": ((16, 17, 18, 19, 20, 21), (36, 84)),
    "guitar": ((24, 25, 26, 27, 28, 29), (40, 76)),
    "bass": ((32, 33, 34, 35, 38, 39), (28, 55)),
    "string": ((40, 41, 42, 44, 48, 49), (36, 84)),
    "vocal": ((52, 53, 54, 85, 91), (48, 76)),
    "brass": ((56, 57, 58, 60, 61, 62), (40, 76)),
    "reed": ((64, 65, 66, 68, 70, 71), (48, 80)),
    "flute": ((72, 73, 74, 75, 78, 79), (60, 88)),
    "synth_lead": ((80, 81, 82, 83, 84, 85), (48, 84)),
}
FAMILY_NAMES = tuple(FAMILIES)


def programs_for(family: str, split: str) -> tuple[int, ...]:
    programs = FAMILIES[family][0]
    return programs[0::2] if split == "train" else programs[1::2]


def draw_notes(n: int, seed: int, split: str) -> list[dict]:
    rng = stream_rng(seed, "notes", 0 if split == "train" else 1)
    notes = []
    for index in range(n):
        family = FAMILY_NAMES[index % len(FAMILY_NAMES)]  # balanced families
        programs = programs_for(family, split)
        low, high = FAMILIES[family][1]
        notes.append(
            {
                "family": family,
                "family_index": FAMILY_NAMES.index(family),
                "program": int(programs[rng.integers(len(programs))]),
                "pitch": int(rng.integers(low, high + 1)),
                "velocity": int(VELOCITIES[rng.integers(len(VELOCITIES))]),
            }
        )
    order = rng.permutation(n)
    return [notes[i] for i in order]


def build_notes(
    n_notes: int, seed: int, out_root: Path, split: str = "test", soundfont: str | None = None, progress=None
) -> ClipSet:
    import soundfile  # noqa: F401  (render_midi reads the wav with it)

    version = fluidsynth_version()
    font = find_soundfont(soundfont)
    labels = draw_notes(n_notes, seed, split)
    clips, entries, skipped = [], [], []
    lead = int(LEAD_IN_S * SAMPLE_RATE)
    for first in range(0, n_notes, NOTES_PER_RENDER):
        chunk = labels[first : first + NOTES_PER_RENDER]
        stems = [
            [
                Stem(
                    "note",
                    "note",
                    label["program"],
                    False,
                    [Note(0.0, HELD_S, label["pitch"], label["velocity"])],
                )
            ]
            for label in chunk
        ]
        with tempfile.TemporaryDirectory() as tmp:
            midi_path, wav_path = Path(tmp) / "notes.mid", Path(tmp) / "notes.wav"
            starts = write_slotted_midi(stems, midi_path, SLOT_SAMPLES, LEAD_IN_S)
            rendered = render_midi(midi_path, wav_path, font)
        rendered = np.pad(rendered, (0, max(0, starts[-1][0] + SLOT_SAMPLES - rendered.shape[0])))
        for label, (start,) in zip(chunk, starts):
            clip = rendered[start + lead : start + lead + NOTE_CLIP_SAMPLES]
            clip = clip - clip.mean()
            peak = np.abs(clip).max()
            if peak < 1e-4:
                skipped.append({**label, "reason": "silent (the soundfont has no sound for it)"})
                continue
            clip = (clip / max(1.0, peak)).astype(np.float32)  # raw level kept: velocity stays audible
            clip_id = f"note-{len(clips):05d}"
            clips.append(clip)
            entries.append({"id": clip_id, **label, "sha256": clip_hash(clip)})
        if progress:
            progress(min(first + NOTES_PER_RENDER, n_notes))
    if not clips:
        raise RenderError("the notes dataset rendered no audible note")
    manifest = {
        "name": f"notes-{split}-s{seed}-n{len(clips)}",
        "kind": "notes-fluidsynth",
        "split": split,
        "render_version": NOTES_RENDER_VERSION,
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "clip_samples": NOTE_CLIP_SAMPLES,
        "families": list(FAMILY_NAMES),
        "soundfont": {"file": font.name, "sha256": file_sha256(str(font))},
        "fluidsynth": version,
        "clips": entries,
        "skipped": skipped,
    }
    clipset = ClipSet(manifest["name"], np.stack(clips), [e["id"] for e in entries], manifest)
    clipset.save(out_root)
    return clipset


def notes_dataset(n: int, seed: int, cache_root: Path, split: str = "test") -> ClipSet:
    root = Path(cache_root) / f"notes-r{NOTES_RENDER_VERSION}-{split}-s{seed}-n{n}"
    if (root / "manifest.json").exists():
        return ClipSet.load(root)
    print(f"rendering {n} single notes ({split} split) into {root} ...", flush=True)
    return build_notes(n, seed, root, split)
