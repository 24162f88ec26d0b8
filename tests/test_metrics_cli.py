import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from conftest import FIXTURES, ROOT

from bench.metrics.separation import si_sdr, snr


def bench(*args):
    out = subprocess.run(
        [sys.executable, "-m", "bench", "metrics", *args], cwd=ROOT, capture_output=True, text=True
    )
    return out.returncode, out.stdout


def test_si_sdr_and_snr_by_hand():
    rng = np.random.default_rng(0)
    r = rng.normal(size=1000)
    r -= r.mean()
    noise = rng.normal(size=1000)
    noise -= noise.mean()
    noise -= noise @ r / (r @ r) * r  # orthogonal to r
    e = 2.0 * r + noise
    assert si_sdr(e, r) == pytest.approx(10 * np.log10(4 * (r @ r) / (noise @ noise)), abs=1e-9)
    assert snr(r, r) > 100
    with pytest.raises(ValueError, match="shape"):
        si_sdr(r[:10], r)


@pytest.mark.slow
def test_adherence_cli_prints_the_four_scores():
    files = sorted(FIXTURES.glob("*.flac"))
    code, out = bench("adherence", str(files[0]), str(files[0]), "--band", "0.0626:1")
    assert code == 0
    scores = json.loads(out)["scores"]
    assert scores["loudness_in"] == pytest.approx(1.0) and scores["timbre_in"] == 0.0


@pytest.mark.slow
def test_fad_kad_cli_on_folders_and_arrays(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(200, 8)))
    np.save(tmp_path / "b.npy", rng.normal(size=(200, 8)) + 1.0)
    code, out = bench("fad", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"))
    assert code == 0 and json.loads(out)["value"] > 5
    code, out = bench("kad", str(FIXTURES), str(FIXTURES))
    result = json.loads(out)
    assert code == 0 and result["n_eval"] == 48 and result["embedder"].startswith("melstats")
    np.save(tmp_path / "one.npy", rng.normal(size=(1, 8)))
    code, out = bench("fad", str(tmp_path / "one.npy"), str(tmp_path / "b.npy"))
    assert code == 2 and "eval set: 1 embeddings" in json.loads(out)["error"]


@pytest.mark.slow
def test_sisdr_cli_rejects_mismatched_rates(tmp_path):
    soundfile.write(tmp_path / "a.wav", np.ones(100) * 0.1, 8000)
    soundfile.write(tmp_path / "b.wav", np.ones(100) * 0.1, 16000)
    code, out = bench("sisdr", str(tmp_path / "a.wav"), str(tmp_path / "b.wav"))
    assert code == 2 and "8000 Hz" in json.loads(out)["error"]
