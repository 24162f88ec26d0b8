"""make figures (bench/reports/band_figures.py): the figure CSV recomputed from a small bands CSV."""

import csv
import json

import numpy as np
import pytest

from bench.commands.cli import main
from bench.core.bands import BLEND_PAIRS, CONDITIONAL_BANDS, EIGHT_BAND_SPLIT, LATENT_NYQUIST_HZ

METRICS = ("fad", "loudness_in", "rhythm_in", "timbre_in", "harmony_in")


def _run(tmp_path, systems=("alpha", "beta")):
    """A table1 record and its bands CSV: random per-band scores, blend rows mixed in."""
    rng = np.random.default_rng(7)
    rows = []
    for system in systems:
        for band in CONDITIONAL_BANDS:
            rows.append(
                {
                    "system": system,
                    "task": "conditional",
                    "band": band.name,
                    "n_ok": 3,
                    "n_failed": 0,
                    **{m: round(float(rng.uniform(0, 100)), 6) for m in METRICS},
                }
            )
        for first, second in BLEND_PAIRS:
            rows.append(
                {
                    "system": system,
                    "task": "blend",
                    "band": f"{first.name}+{second.name}",
                    "n_ok": 3,
                    "n_failed": 0,
                    "fad": 1.5,
                    "loudness_both": 0.5,
                }
            )
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with (tmp_path / "run_bands.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    record = {
        "schema": "latentft-bench/table1/v1",
        "config": {"scale": "smoke", "seed": 0},
        "dataset": {"name": "tiny", "manifest_hash": "ab" * 32},
    }
    (tmp_path / "run.json").write_text(json.dumps(record))
    return tmp_path / "run.json", rows


def test_figure_csv_holds_the_bands_csv_values_per_system_and_band(tmp_path):
    run, rows = _run(tmp_path)
    assert main(["figures", "--run", str(run), "--out", str(tmp_path / "figs")]) == 0
    with (tmp_path / "figs" / "bands-run.csv").open() as stream:
        figure = list(csv.DictReader(stream))
    assert len(figure) == 2 * len(CONDITIONAL_BANDS)
    expected = {(r["system"], r["band"]): r for r in rows if r["task"] == "conditional"}
    assert {(r["system"], r["band"]) for r in figure} == set(expected)
    for row in figure:
        source = expected[(row["system"], row["band"])]
        for metric in METRICS:
            assert float(row[metric]) == source[metric]
        assert float(row["timbre_mcd100"]) == source["timbre_in"] / 100
        low, high = (float(x) for x in row["band"].split("-"))
        assert float(row["centre_hz"]) == pytest.approx((low + high) / 2 * LATENT_NYQUIST_HZ, rel=1e-12)
    assert sum(r["split"] == "8" for r in figure) == 2 * len(EIGHT_BAND_SPLIT)
    assert (tmp_path / "figs" / "bands-run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_is_a_clear_error_with_exit_code_2(tmp_path, capsys):
    assert main(["figures", "--run", str(tmp_path / "nope.json")]) == 2
    assert "run record not found" in capsys.readouterr().err
    run, _ = _run(tmp_path)
    (tmp_path / "run_bands.csv").unlink()
    assert main(["figures", "--run", str(run)]) == 2
    assert "run_bands.csv is missing" in capsys.readouterr().err
    (tmp_path / "run_bands.csv").write_text("system,task,band\nalpha,conditional,0-1\n")
    assert main(["figures", "--run", str(run)]) == 2
    assert "missing column(s)" in capsys.readouterr().err
    (tmp_path / "other.json").write_text(json.dumps({"rows": {}}))
    assert main(["figures", "--run", str(tmp_path / "other.json")]) == 2
    assert "not a table1 run record" in capsys.readouterr().err
