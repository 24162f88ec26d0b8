"""Bad input gets its true reason, named, every run; --strict names every bad file and exits 2."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from bench.audio import AudioError, load_audio
from bench.datasets.folder import DatasetError, load_folder
from conftest import FIXTURES, ROOT


def _bad_folder(tmp_path):
    data = tmp_path / "music"
    data.mkdir()
    for path in sorted(FIXTURES.glob("*.flac"))[:3]:
        shutil.copy(path, data / path.name)
    rng = np.random.default_rng(0)
    (data / "random.wav").write_bytes(rng.bytes(5000))
    (data / "random.mp3").write_bytes(rng.bytes(5000))
    (data / "empty.wav").write_bytes(b"")
    soundfile.write(data / "silent.wav", np.zeros(200_000), 22050)
    soundfile.write(data / "short.wav", rng.normal(size=20_000) * 0.1, 22050)
    quiet = np.zeros(140_000)
    quiet[1000] = 1.0                                                 # one click: mean power far below 0.003
    soundfile.write(data / "quiet.wav", quiet, 22050)
    os.symlink(tmp_path / "gone.wav", data / "dangling.wav")
    return data


REASONS = {
    "random.wav": "not decodable as WAV audio",
    "random.mp3": "not decodable as MP3 audio",
    "empty.wav": "is empty (0 bytes)",
    "silent.wav": "is silent",
    "short.wav": "shorter than one clip",
    "quiet.wav": "below the mean-power threshold",
    "dangling.wav": "dangling symbolic link",
}


def test_each_bad_file_is_skipped_with_its_true_reason_on_every_run(tmp_path):
    data = _bad_folder(tmp_path)
    for attempt in ("built", "cached"):
        with pytest.warns(UserWarning) as caught:
            clips = load_folder(data, tmp_path / "cache")
        assert len(clips) == 3, attempt
        reasons = {s["file"]: s["reason"] for s in clips.manifest["skipped"]}
        assert set(reasons) == set(REASONS), attempt
        for name, expected in REASONS.items():
            assert expected in reasons[name], (name, reasons[name])
            assert str(tmp_path) not in reasons[name]               # the manifest names no local path
            assert any(name in str(w.message) and expected in str(w.message) for w in caught), (attempt, name)
    assert "does not exist" not in reasons["random.mp3"] and "possibly a pipe" not in reasons["random.mp3"]
    assert "20000 samples" in reasons["short.wav"] and " or " not in reasons["silent.wav"]


def test_strict_fails_on_every_bad_file_even_when_the_set_was_cached(tmp_path):
    data = _bad_folder(tmp_path)
    with pytest.warns(UserWarning):
        load_folder(data, tmp_path / "cache")                        # lenient first: the set is cached
    with pytest.raises(DatasetError) as raised:
        load_folder(data, tmp_path / "cache", strict=True)
    for name in REASONS:
        assert name in str(raised.value)


def test_strict_on_the_command_line_names_every_bad_file_and_exits_2_without_traceback(tmp_path):
    data = _bad_folder(tmp_path)
    out = subprocess.run([sys.executable, "-m", "bench", "data", "--data", str(data), "--strict",
                          "--data-cache", str(tmp_path / "cache")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    for name, reason in REASONS.items():
        assert name in out.stderr and reason in out.stderr, name
    lenient = subprocess.run([sys.executable, "-m", "bench", "data", "--data", str(data),
                              "--data-cache", str(tmp_path / "cache")], cwd=ROOT, capture_output=True, text=True)
    assert lenient.returncode == 0 and len(json.loads(lenient.stdout)["skipped"]) == len(REASONS)
    assert all(name in lenient.stderr for name in REASONS)         # reported again, from the cache


def test_missing_and_non_audio_files_say_so(tmp_path):
    with pytest.raises(AudioError, match="file not found"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "folder.wav").mkdir()
    with pytest.raises(AudioError, match="not a regular file"):
        load_audio(tmp_path / "folder.wav")
    (tmp_path / "random.wav").write_bytes(np.random.default_rng(1).bytes(3000))
    for seed in range(3):   # random bytes: libsndfile may take them for WAV, or for MPEG frames
        (tmp_path / "random.wav").write_bytes(np.random.default_rng(seed).bytes(3000))
        with pytest.raises(AudioError, match="not decodable as WAV audio") as raised:
            load_audio(tmp_path / "random.wav")
        assert "does not exist" not in str(raised.value) and "pipe" not in str(raised.value)


def test_decoding_bad_files_prints_no_decoder_notes_or_leaked_handles(tmp_path):
    data = _bad_folder(tmp_path)
    code = ("import sys, gc\nfrom bench.audio import load_audio, AudioError\n"
            "for f in sys.argv[1:]:\n    try: load_audio(f)\n    except AudioError as e: print(e)\ngc.collect()\n")
    out = subprocess.run([sys.executable, "-W", "always", "-c", code,
                          *(str(data / n) for n in ("empty.wav", "random.mp3", "random.wav"))],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0
    assert "unclosed file" not in out.stderr and "Note:" not in out.stderr, out.stderr
    assert "random.mp3: not decodable as MP3 audio" in out.stdout
    assert "decoder notes: " in out.stdout                          # mpg123's notes are part of the reason
