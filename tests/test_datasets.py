import shutil

import numpy as np
import pytest
import soundfile
from conftest import FIXTURES

from bench.core.audio import CLIP_SAMPLES, SAMPLE_RATE
from bench.datasets.folder import DatasetError, load_folder


def _folder_with_bad_files(tmp_path):
    data = tmp_path / "music"
    (data / "sub").mkdir(parents=True)
    for path in sorted(FIXTURES.glob("*.flac"))[:3]:
        shutil.copy(path, data / "sub" / path.name)
    stereo = np.random.default_rng(0).normal(size=(int(7 * 44100), 2)) * 0.2
    soundfile.write(data / "stereo_44k.wav", stereo, 44100)
    (data / "corrupt.mp3").write_bytes(b"\x00" * 100)
    soundfile.write(data / "tiny.wav", np.ones(100) * 0.1, 22050)
    return data


def test_folder_loader_skips_bad_files_with_named_warnings(tmp_path):
    data = _folder_with_bad_files(tmp_path)
    with pytest.warns(UserWarning) as caught:
        clips = load_folder(data, tmp_path / "cache", seed=0)
    messages = " ".join(str(w.message) for w in caught)
    assert "corrupt.mp3" in messages and "tiny.wav" in messages
    assert len(clips) == 4 and clips.clips.shape == (4, CLIP_SAMPLES)
    assert {s["file"] for s in clips.manifest["skipped"]} == {"corrupt.mp3", "tiny.wav"}
    assert np.allclose(np.abs(clips.clips).max(axis=1), 1.0, atol=1e-6)
    again = load_folder(data, tmp_path / "cache", seed=0)  # from the cache
    assert again.manifest_hash == clips.manifest_hash


def test_folder_loader_strict_and_split_file(tmp_path):
    data = _folder_with_bad_files(tmp_path)
    with pytest.raises(ValueError, match="corrupt.mp3"):
        load_folder(data, tmp_path / "strict", strict=True)
    split = tmp_path / "split.txt"
    split.write_text("# test split\nstereo_44k.wav\nsub/" + sorted(FIXTURES.glob("*.flac"))[0].name + "\n")
    clips = load_folder(data, tmp_path / "split", split_file=str(split))
    assert [c["file"] for c in clips.manifest["clips"]] == [
        "stereo_44k.wav",
        "sub/" + sorted(FIXTURES.glob("*.flac"))[0].name,
    ]
    with pytest.raises(DatasetError, match="not found"):
        load_folder(tmp_path / "nope", tmp_path / "c")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="needs FluidSynth (make deps)")
def test_music21_render_is_deterministic_and_stems_sum_to_the_mix(tmp_path):
    from bench.datasets.music21_render import build, load_stems

    first = build(2, seed=3, out_root=tmp_path / "a")
    second = build(2, seed=3, out_root=tmp_path / "b")
    assert first.manifest_hash == second.manifest_hash
    assert first.clips.shape == (2, CLIP_SAMPLES)
    clip = np.asarray(first.clips[0], dtype=np.float64)
    assert abs(clip.mean()) < 1e-6 and np.isclose(np.abs(clip).max(), 1.0, atol=1e-6)
    assert np.mean(clip**2) >= 0.003
    stems, notes = load_stems(first, first.ids[0])
    assert stems.shape[0] == len(notes["stems"]) >= 2
    assert np.abs(stems.sum(axis=0) - clip).max() < 1e-4
    entry = first.manifest["clips"][0]
    assert entry["piece"] and 72 <= entry["tempo_bpm"] <= 132
    assert all(0 <= p <= 127 for stem in notes["notes"] for _, _, p, _ in stem)
    assert SAMPLE_RATE == first.manifest["sample_rate"]
