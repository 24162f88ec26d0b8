"""Bad input gets its true reason, named, every run; --strict names every bad file and exits 2."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from conftest import FIXTURES, ROOT

from bench.core.audio import AudioError, load_audio
from bench.datasets.folder import DatasetError, load_folder


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
    quiet[1000] = 1.0  # one click: mean power far below 0.003
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
            assert str(tmp_path) not in reasons[name]  # the manifest names no local path
            assert any(name in str(w.message) and expected in str(w.message) for w in caught), (attempt, name)
    assert "does not exist" not in reasons["random.mp3"] and "possibly a pipe" not in reasons["random.mp3"]
    assert "20000 samples" in reasons["short.wav"] and " or " not in reasons["silent.wav"]


def test_strict_fails_on_every_bad_file_even_when_the_set_was_cached(tmp_path):
    data = _bad_folder(tmp_path)
    with pytest.warns(UserWarning):
        load_folder(data, tmp_path / "cache")  # lenient first: the set is cached
    with pytest.raises(DatasetError) as raised:
        load_folder(data, tmp_path / "cache", strict=True)
    for name in REASONS:
        assert name in str(raised.value)


@pytest.mark.slow
def test_strict_on_the_command_line_names_every_bad_file_and_exits_2_without_traceback(tmp_path):
    data = _bad_folder(tmp_path)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "data",
            "--data",
            str(data),
            "--strict",
            "--data-cache",
            str(tmp_path / "cache"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    for name, reason in REASONS.items():
        assert name in out.stderr and reason in out.stderr, name
    lenient = subprocess.run(
        [sys.executable, "-m", "bench", "data", "--data", str(data), "--data-cache", str(tmp_path / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert lenient.returncode == 0 and len(json.loads(lenient.stdout)["skipped"]) == len(REASONS)
    assert all(name in lenient.stderr for name in REASONS)  # reported again, from the cache


def test_missing_and_non_audio_files_say_so(tmp_path):
    with pytest.raises(AudioError, match="file not found"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "folder.wav").mkdir()
    with pytest.raises(AudioError, match="not a regular file"):
        load_audio(tmp_path / "folder.wav")
    (tmp_path / "random.wav").write_bytes(np.random.default_rng(1).bytes(3000))
    for seed in range(3):  # random bytes: libsndfile may take them for WAV, or for MPEG frames
        (tmp_path / "random.wav").write_bytes(np.random.default_rng(seed).bytes(3000))
        with pytest.raises(AudioError, match="not decodable as WAV audio") as raised:
            load_audio(tmp_path / "random.wav")
        assert "does not exist" not in str(raised.value) and "pipe" not in str(raised.value)


def test_decoding_bad_files_prints_no_decoder_notes_or_leaked_handles(tmp_path):
    data = _bad_folder(tmp_path)
    code = (
        "import sys, gc\nfrom bench.core.audio import load_audio, AudioError\n"
        "for f in sys.argv[1:]:\n    try: load_audio(f)\n"
        "    except AudioError as e: print(e)\ngc.collect()\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-W",
            "always",
            "-c",
            code,
            *(str(data / n) for n in ("empty.wav", "random.mp3", "random.wav")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0
    assert "unclosed file" not in out.stderr and "Note:" not in out.stderr, out.stderr
    assert "random.mp3: not decodable as MP3 audio" in out.stdout
    assert "decoder notes: " in out.stdout  # mpg123's notes are part of the reason


def metrics(*args):
    out = subprocess.run(
        [sys.executable, "-m", "bench", "metrics", *args], cwd=ROOT, capture_output=True, text=True
    )
    assert "Traceback" not in out.stderr, out.stderr
    return out.returncode, json.loads(out.stdout) if out.stdout.strip().startswith("{") else out.stdout


@pytest.mark.slow
def test_metrics_cli_refuses_short_and_silent_audio_naming_the_file(tmp_path):
    good = str(sorted(FIXTURES.glob("*.flac"))[0])
    short = np.random.default_rng(0).normal(size=int(0.9 * 22050)) * 0.1
    soundfile.write(tmp_path / "short.wav", short, 22050)
    code, out = metrics("adherence", str(tmp_path / "short.wav"), good)
    assert code == 2 and "short.wav" in out["error"] and "0.90 s" in out["error"]
    clip, sr = soundfile.read(good)
    soundfile.write(tmp_path / "ref.wav", clip, sr)
    soundfile.write(tmp_path / "silent.wav", np.zeros_like(clip), sr)
    code, out = metrics("sisdr", str(tmp_path / "silent.wav"), str(tmp_path / "ref.wav"))
    assert code == 2 and "silent.wav" in out["error"] and "silent" in out["error"]
    code, out = metrics("sisdr", str(tmp_path / "ref.wav"), str(tmp_path / "silent.wav"))
    assert code == 2 and "silent.wav" in out["error"]
    folder = tmp_path / "eval"
    folder.mkdir()
    for path in sorted(FIXTURES.glob("*.flac"))[:3]:
        shutil.copy(path, folder / path.name)
    soundfile.write(folder / "zz_silent.wav", np.zeros(140_000), 22050)
    code, out = metrics("fad", str(folder), str(FIXTURES))
    assert code == 2 and "zz_silent.wav" in out["error"] and "silent" in out["error"]


@pytest.mark.slow
def test_mismatched_embedding_dimensions_name_both_sets(tmp_path):
    from bench.metrics.distribution import DistributionError, fad, kad

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 16)), rng.normal(size=(20, 8))
    for distance in (fad, kad):
        with pytest.raises(DistributionError, match=r"eval set has 16-dimensional .* reference set has 8"):
            distance(a, b)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    code, out = metrics("fad", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"))
    assert code == 2 and "a.npy" in out["error"] and "b.npy" in out["error"] and "16" in out["error"]


@pytest.mark.slow
def test_a_band_that_selects_no_bin_is_refused_naming_it():
    from bench.core.bands import Band, band_pass

    with pytest.raises(ValueError, match="0.3-0.3 selects no bin"):
        band_pass(np.ones(512), Band(0.3, 0.3))
    assert band_pass(np.ones(512), Band(0.5, 0.5)).shape == (512,)  # exactly on bin 256: one bin
    good = str(sorted(FIXTURES.glob("*.flac"))[0])
    code, out = metrics("adherence", good, good, "--band", "0.3:0.3")
    assert code == 2 and "0.3" in out["error"] and "no bin" in out["error"]


@pytest.mark.slow
def test_a_scale_the_set_cannot_fill_is_reported_in_the_output_and_the_record(tmp_path):
    from bench.core.config import RunConfig
    from bench.core.runner import run_table1
    from bench.reports.tables import render_markdown

    data = tmp_path / "three"
    data.mkdir()
    for path in sorted(FIXTURES.glob("*.flac"))[:3]:
        shutil.copy(path, data / path.name)
    config = RunConfig(
        scale="smoke",
        data=str(data),
        systems=("reference",),
        cache_dir=str(tmp_path / "c"),
        data_cache_dir=str(tmp_path / "d"),
        out_dir=str(tmp_path / "o"),
        progress=False,
    )
    with pytest.warns(UserWarning, match="blend: 1 of the 3 pairs"):
        record = run_table1(config)
    assert len(record["selection"]["pairs"]) == 1
    assert record["scale_shortfall"]["blend"] == {
        "asked": 3,
        "used": 1,
        "reason": record["scale_shortfall"]["blend"]["reason"],
    }
    assert "3 usable clips" in record["scale_shortfall"]["blend"]["reason"]
    assert "conditional" not in record["scale_shortfall"]
    assert "blend: 1 of the 3 pairs" in render_markdown(record)
    soundfile.write(data / "silent.wav", np.zeros(200_000), 22050)
    with pytest.warns(UserWarning, match="silent.wav: is silent"):
        record = run_table1(config)
    assert record["dataset"]["skipped_files"] == [
        {"file": "silent.wav", "reason": "is silent (every sample of its 9.07 s is the same value)"}
    ]
    assert "1 data file(s) skipped: `silent.wav` is silent" in render_markdown(record)


def test_a_singular_covariance_is_explained_once_in_words_not_as_a_scipy_warning(monkeypatch):
    import warnings

    from bench.metrics import distribution
    from bench.metrics.distribution import fad

    monkeypatch.setattr(distribution, "_SINGULAR_NOTED", False)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 8)), rng.normal(size=(50, 8))
    x[:, 0], y[:, 0] = 1.0, 2.0  # a dimension constant over each set
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        values = [fad(x, y), fad(x, y)]
    assert values[0] == values[1] and np.isfinite(values[0])
    messages = [str(w.message) for w in caught]
    assert not any("Matrix is singular" in m for m in messages), messages
    assert len(messages) == 1 and "FAD" in messages[0] and "constant" in messages[0]
