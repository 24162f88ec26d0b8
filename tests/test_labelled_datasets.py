"""Labelled sets for the hierarchy and linearity evaluations: the rendered notes, the music21
stems, and the loaders of NSynth, MUSDB18-HQ and Slakh2100 (on small folders laid out like them)."""

import json
import warnings

import numpy as np
import pytest
import soundfile

from bench.core.audio import CLIP_SAMPLES
from bench.datasets.music21_render import build
from bench.datasets.notes_render import FAMILY_NAMES, NOTE_CLIP_SAMPLES, build_notes, programs_for
from bench.datasets.nsynth import load_nsynth
from bench.datasets.stems import (
    HIGHEST_MIDI,
    LOWEST_MIDI,
    STEM_NAMES,
    lead_melody_chunks,
    load_musdb,
    load_slakh,
    music21_stems,
)


def test_notes_are_labelled_balanced_deterministic_and_split_by_instrument(tmp_path):
    first = build_notes(22, seed=1, out_root=tmp_path / "a")
    second = build_notes(22, seed=1, out_root=tmp_path / "b")
    assert first.clips.shape == (22, NOTE_CLIP_SAMPLES)
    assert [c["sha256"] for c in first.manifest["clips"]] == [c["sha256"] for c in second.manifest["clips"]]
    families = [c["family"] for c in first.manifest["clips"]]
    assert sorted(set(families)) == sorted(FAMILY_NAMES) and all(families.count(f) == 2 for f in FAMILY_NAMES)
    for family in FAMILY_NAMES:
        assert not set(programs_for(family, "train")) & set(programs_for(family, "test"))
    peaks = np.abs(first.clips).max(axis=1)
    assert peaks.max() <= 1.0 and peaks.min() < 0.5 * peaks.max()  # rendered level kept, not normalised


@pytest.mark.slow
def test_music21_stems_are_grouped_by_role_and_sum_to_the_mix(tmp_path):
    clipset = build(2, seed=3, out_root=tmp_path / "m21")
    stems = music21_stems(clipset)
    assert stems.stems.shape == (2, len(STEM_NAMES), CLIP_SAMPLES)
    np.testing.assert_allclose(
        stems.stems.sum(axis=1), np.asarray(clipset.clips, dtype=np.float64), atol=2e-4
    )
    assert np.abs(stems.stems[:, STEM_NAMES.index("lead")]).max() > 0.01


@pytest.mark.slow
def test_lead_melody_chunks_label_the_lead_part_frame_by_frame(tmp_path):
    clipset = build(2, seed=3, out_root=tmp_path / "m21")
    melody = lead_melody_chunks(clipset, 32768, 16)
    assert melody.rolls.shape == (len(melody.ids), 16, HIGHEST_MIDI - LOWEST_MIDI + 1)
    assert melody.audio.shape == (len(melody.ids), 32768) and 1 <= len(melody.ids) <= 8
    assert all(melody.rolls[i].any() for i in range(len(melody.ids)))
    clip_id, start = melody.ids[0].split("@")
    labels = json.loads((clipset.root / "stems" / f"{clip_id}.notes.json").read_text())
    entry = clipset.manifest["clips"][clipset.index(clip_id)]
    lead = [
        n for notes, stem in zip(labels["notes"], entry["stems"]) if stem["role"] == "lead" for n in notes
    ]
    for frame in range(16):
        centre = int(start) / 22050 + (frame + 0.5) * melody.frame_seconds
        sounding = sorted({int(p) for on, off, p, _ in lead if on <= centre < off})
        assert sorted((np.flatnonzero(melody.rolls[0, frame]) + LOWEST_MIDI).tolist()) == sounding
    np.testing.assert_array_equal(
        melody.audio[0], np.asarray(clipset.clips[clipset.index(clip_id)])[int(start) : int(start) + 32768]
    )
    with pytest.raises(ValueError, match="do not split"):
        lead_melody_chunks(clipset, 32768, 15)


def _tone(freq, seconds, sr):
    t = np.arange(int(seconds * sr)) / sr
    return 0.3 * np.sin(2 * np.pi * freq * t)


def test_musdb_loader_reads_four_stems_and_names_a_broken_track(tmp_path):
    for track, base in (("A", 110.0), ("B", 220.0)):
        folder = tmp_path / "test" / track
        folder.mkdir(parents=True)
        for k, name in enumerate(("bass", "drums", "vocals", "other")):
            soundfile.write(folder / f"{name}.wav", _tone(base * (k + 1), 8.0, 44100), 44100)
    (tmp_path / "test" / "C").mkdir()  # no audio
    with pytest.warns(UserWarning, match="skipping C"):
        stems = load_musdb(tmp_path, "test")
    assert stems.ids == ["A", "B"] and stems.stems.shape == (2, 4, CLIP_SAMPLES)
    np.testing.assert_allclose(stems.stems.sum(axis=1), stems.mixes)
    assert np.abs(stems.mixes).max() == pytest.approx(1.0)
    lead = stems.stems[0, STEM_NAMES.index("lead")]  # vocals: 3 x 110 Hz
    spectrum = np.abs(np.fft.rfft(lead))
    assert abs(np.argmax(spectrum) * 22050 / lead.shape[0] - 330.0) < 1.0


def test_slakh_loader_maps_instrument_classes_to_roles(tmp_path):
    track = tmp_path / "test" / "Track00001"
    (track / "stems").mkdir(parents=True)
    classes = {
        "S00": ("Bass", 55.0),
        "S01": ("Drums", 80.0),
        "S02": ("Piano", 440.0),
        "S03": ("Guitar", 660.0),
    }
    metadata = {"stems": {k: {"inst_class": c, "audio_rendered": True} for k, (c, _) in classes.items()}}
    (track / "metadata.yaml").write_text(json.dumps(metadata))  # JSON is YAML
    for stem_id, (_, freq) in classes.items():
        gain = 2.0 if stem_id == "S02" else 1.0
        soundfile.write(track / "stems" / f"{stem_id}.flac", gain * _tone(freq, 7.0, 44100), 44100)
    stems = load_slakh(tmp_path, "test")
    lead = stems.stems[0, STEM_NAMES.index("lead")]
    assert abs(np.argmax(np.abs(np.fft.rfft(lead))) * 22050 / lead.shape[0] - 440.0) < 1.0
    other = stems.stems[0, STEM_NAMES.index("other")]
    assert abs(np.argmax(np.abs(np.fft.rfft(other))) * 22050 / other.shape[0] - 660.0) < 1.0


def test_nsynth_loader_keeps_labels_and_skips_unknown_families(tmp_path):
    (tmp_path / "audio").mkdir()
    examples = {}
    for i, family in enumerate(("bass", "flute", "keyboard", "not-a-family")):
        name = f"{family}_synthetic_{i:03d}-060-100"
        soundfile.write(tmp_path / "audio" / f"{name}.wav", _tone(261.6, 4.0, 16000), 16000)
        examples[name] = {"pitch": 60, "velocity": 100, "instrument_family_str": family}
    (tmp_path / "examples.json").write_text(json.dumps(examples))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        notes = load_nsynth(tmp_path)
    assert any("not-a-family" in str(w.message) for w in caught)
    assert len(notes) == 3 and notes.clips.shape[1] == NOTE_CLIP_SAMPLES
    assert {c["family"] for c in notes.manifest["clips"]} == {"bass", "flute", "keyboard"}
    assert all(c["pitch"] == 60 for c in notes.manifest["clips"])
