"""VampNet in the reports: Fig. 13's left half (bench/reports/band_figures.py), the labelled row of the
tables (bench/reports/tables.py, results.py), its blends in a listening study (bench/listening/build.py)
and the opt-in ``make bench`` part (tools/benchmarks.py); end to end with the tiny official-format
checkpoints of the VampNet fixture folder (tests/test_vampnet.py: ``VAMPNET_GOLDEN``)."""

import copy
import csv
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.paths import FIXTURES, ROOT

from bench.commands.cli import main
from bench.core.bands import CONDITIONAL_BANDS

GOLDEN = Path(os.environ.get("VAMPNET_GOLDEN") or (ROOT.parent / "shared" / "vampnet-golden")).resolve()
METRICS = ("fad", "kad", "loudness_in", "rhythm_in", "timbre_in", "harmony_in")
NOTE = "conditions on RVQ codebooks, not latent bands"


def _bands_run(folder: Path, stem: str, systems: dict, failed_levels=()) -> Path:
    """A table1 record and its bands CSV: ``systems`` maps a name to its vampnet ``settings`` (None for
    a latent-band system); random per-band scores, the levels in ``failed_levels`` without any."""
    rng = np.random.default_rng(len(stem))
    rows, record_rows = [], {}
    for system, settings in systems.items():
        record_rows[system] = {
            "fingerprint": {"system": system, "options": {"settings": settings} if settings else {}}
        }
        for index, band in enumerate(CONDITIONAL_BANDS):
            bad = settings is not None and index in failed_levels
            rows.append(
                {
                    "system": system,
                    "task": "conditional",
                    "band": band.name,
                    "n_ok": 0 if bad else 3,
                    "n_failed": 3 if bad else 0,
                    **{m: "" if bad else round(float(rng.uniform(0, 100)), 6) for m in METRICS},
                }
            )
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{stem}_bands.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    record = {
        "schema": "latentft-bench/table1/v1",
        "config": {"scale": "smoke", "seed": 0},
        "dataset": {"name": "tiny", "manifest_hash": "ab" * 32},
        "rows": record_rows,
        "unavailable": {},
    }
    (folder / f"{stem}.json").write_text(json.dumps(record))
    return folder / f"{stem}.json"


def _read(path: Path) -> list[dict]:
    with path.open() as stream:
        return list(csv.DictReader(stream))


def _source(run: Path, system: str) -> dict:
    return {r["band"]: r for r in _read(run.with_name(f"{run.stem}_bands.csv")) if r["system"] == system}


def test_figure_draws_vampnet_levels_from_the_same_run_and_leaves_it_out_of_the_latent_bands(
    tmp_path, capsys
):
    run = _bands_run(tmp_path, "run", {"alpha": None, "vampnet": "levels"}, failed_levels=(13,))
    assert main(["figures", "--run", str(run), "--out", str(tmp_path / "figs")]) == 0
    assert "note:" not in capsys.readouterr().out
    right = _read(tmp_path / "figs" / "bands-run.csv")
    assert {r["system"] for r in right} == {"alpha"} and len(right) == len(CONDITIONAL_BANDS)
    levels = _read(tmp_path / "figs" / "levels-run.csv")
    source = _source(run, "vampnet")
    assert [int(r["level"]) for r in levels] == list(range(14))
    for level, row in enumerate(levels):
        expected = source[CONDITIONAL_BANDS[level].name]
        assert row["band"] == CONDITIONAL_BANDS[level].name
        assert row["n_ok"] == expected["n_ok"] and row["n_failed"] == expected["n_failed"]
        for metric in ("fad", "kad"):
            if level == 13:
                assert row[metric] == ""
            else:
                assert float(row[metric]) == float(expected[metric])
    assert (tmp_path / "figs" / "bands-run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figure_takes_the_levels_from_another_run_or_says_it_has_none(tmp_path, capsys):
    run = _bands_run(tmp_path, "main", {"alpha": None, "vampnet": "paper"})
    assert main(["figures", "--run", str(run), "--out", str(tmp_path / "a")]) == 0
    assert "not drawn: no run with a vampnet row made with settings=levels" in capsys.readouterr().out
    assert {r["system"] for r in _read(tmp_path / "a" / "bands-main.csv")} == {"alpha"}
    assert not list((tmp_path / "a").glob("levels-*"))

    sweep = _bands_run(tmp_path / "sweep", "sweep", {"vampnet": "levels"})
    args = ["figures", "--run", str(run), "--vampnet-run", str(sweep), "--out", str(tmp_path / "b")]
    assert main(args) == 0
    levels = _read(tmp_path / "b" / "levels-sweep.csv")
    source = _source(sweep, "vampnet")
    assert [float(r["fad"]) for r in levels] == [float(source[b.name]["fad"]) for b in CONDITIONAL_BANDS]

    assert main(["figures", "--run", str(sweep), "--out", str(tmp_path / "c")]) == 0  # vampnet alone
    assert len(_read(tmp_path / "c" / "levels-sweep.csv")) == 14
    assert _read(tmp_path / "c" / "bands-sweep.csv") == []

    args[4] = str(run)  # a vampnet row made with settings=paper
    assert main(args) == 2
    assert "not made with settings=levels" in capsys.readouterr().err
    lone = _bands_run(tmp_path / "lone", "lone", {"alpha": None})
    args[4] = str(lone)
    assert main(args) == 2
    assert "no vampnet row" in capsys.readouterr().err


def test_a_run_that_pooled_fad_is_refused_with_the_reason(tmp_path, capsys):
    run = _bands_run(tmp_path, "smoke", {"vampnet": "levels"})
    rows = _read(tmp_path / "smoke_bands.csv")
    with (tmp_path / "smoke_bands.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=[k for k in rows[0] if k not in ("fad", "kad")])
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k not in ("fad", "kad")} for r in rows)
    record = json.loads(run.read_text())
    run.write_text(json.dumps(record | {"fad_aggregate": "pooled"}))
    main_run = _bands_run(tmp_path / "main", "main", {"alpha": None})
    assert main(["figures", "--run", str(main_run), "--vampnet-run", str(run), "--out", str(tmp_path)]) == 2
    assert "no per-band FAD (the run pooled FAD over its bands, scale smoke)" in capsys.readouterr().err


def _with_vampnet_row(record: dict) -> dict:
    """The committed run with a vampnet row (the figures of one of its rows) labelled by a note."""
    from bench.systems.vampnet import TABLE_NOTE

    record = copy.deepcopy(record)
    donor = next(name for name in record["rows"] if name not in ("reference", "shuffled"))
    row = copy.deepcopy(record["rows"][donor])
    row["info"] = {"table_note": TABLE_NOTE.format(settings="paper")}
    record["rows"]["vampnet"] = row
    return record


def test_the_vampnet_row_is_labelled_in_every_format_and_other_rows_are_not(tmp_path):
    from bench.reports import results
    from bench.reports.tables import render_markdown, write_all

    committed = results.load(ROOT / "results" / "table1.json")
    plain = render_markdown(committed.record)
    record = _with_vampnet_row(committed.record)
    markdown = render_markdown(record)
    vamp_line = next(line for line in markdown.splitlines() if line.startswith("| vampnet"))
    assert vamp_line.startswith("| vampnet § |")
    assert f"- § `vampnet`: {NOTE}" in markdown and "the paper reports FAD only" in markdown
    assert [line for line in markdown.splitlines() if line.startswith("|") and line != vamp_line] == [
        line for line in plain.splitlines() if line.startswith("|")
    ]

    paths = write_all(record, tmp_path, "table1")
    loaded = results.load(paths["json"])
    assert results.to_markdown(loaded) == paths["md"].read_text() == markdown
    assert NOTE in loaded.table.loc["vampnet", "note"] and loaded.table["note"].notna().sum() == 1
    latex = results.to_latex(loaded)
    assert r"vampnet$^\S$ &" in latex and r"{\footnotesize $^\S$ vampnet: conditions on RVQ" in latex
    assert results.to_latex(committed).count(r"\S") == 0
    systems = {row["system"]: row for row in json.loads(results.to_json(loaded))["systems"]}
    assert NOTE in systems["vampnet"]["note"] and "note" not in systems[next(iter(committed.table.index))]


def test_a_noted_row_is_never_bold_outside_fad():
    from bench.reports import results

    committed = results.load(ROOT / "results" / "table1.json")
    table = committed.table.copy()
    donor = next(name for name in table.index if name not in ("reference", "shuffled"))
    best = table.loc[donor].copy()
    for column in table.columns:
        if (
            column.startswith(("cond_", "blend_"))
            and not column.endswith("_failed")
            and "_ci95_" not in column
        ):
            best[column] = 1e6 if column.split("_")[1] in ("loudness", "rhythm") else -1e6
    table.loc["vampnet"] = best
    table["note"] = None
    table.loc["vampnet", "note"] = NOTE
    latex = results.to_latex(results.Results(table, committed.bands, committed.items, committed.record))
    line = next(line for line in latex.splitlines() if line.startswith("vampnet"))
    assert line.count(r"\textbf") == 2  # the conditional and the blending FAD, nothing else


def test_listening_build_finds_outputs_under_paths_the_record_made_portable(monkeypatch, tmp_path):
    from bench.core.paths import REPO_ROOT
    from bench.listening.build import _fingerprints

    monkeypatch.setenv("HOME", str(tmp_path))
    written = {"options": {"codec": "~/w/codec.pth", "coarse": "results/table1.json", "steps": 12, "x": None}}
    local = _fingerprints({"fingerprint": written})
    assert local[0] == written
    assert local[1]["options"] == {
        "codec": str(tmp_path / "w" / "codec.pth"),
        "coarse": str(REPO_ROOT / "results" / "table1.json"),
        "steps": 12,
        "x": None,
    }
    assert _fingerprints({"fingerprint": {"options": {"codec": "/abs/codec.pth"}}}) == [
        {"options": {"codec": "/abs/codec.pth"}}
    ]


def test_the_vampnet_bench_part_is_opt_in_and_writes_its_figures(monkeypatch, tmp_path, capsys):
    from tools import benchmarks
    from tools import vampnet_benchmark as benchmark

    assert "vampnet" not in benchmarks.PARTS and "vampnet" in benchmarks.OPT_IN_PARTS
    tiny = dict(n_heads=2, embedding_dim=16, vocab_size=16, latent_dim=8)
    monkeypatch.setattr(
        benchmark,
        "CODEC_KWARGS",
        dict(benchmark.CODEC_KWARGS, encoder_dim=4, decoder_dim=16, n_codebooks=3, codebook_size=16),
    )
    monkeypatch.setattr(
        benchmark, "COARSE_KWARGS", dict(tiny, n_layers=1, n_codebooks=2, n_conditioning_codebooks=0)
    )
    monkeypatch.setattr(
        benchmark, "C2F_KWARGS", dict(tiny, n_layers=1, n_codebooks=3, n_conditioning_codebooks=2)
    )
    measure = benchmarks._vampnet
    monkeypatch.setattr(benchmarks, "_vampnet", lambda devices: measure(devices, seconds=0.05))
    out = tmp_path / "bench.json"
    out.write_text(json.dumps({"schema": "latentft-bench/bench/v1", "descriptors": ["kept"]}))
    assert benchmarks.main(out=str(out), parts=("vampnet",)) == 0
    record = json.loads(out.read_text())
    assert record["descriptors"] == ["kept"] and record["partial_updates"][-1]["parts"] == ["vampnet"]
    (cpu,) = [r for r in record["vampnet_random_init"] if r["device"] == "cpu"]
    assert cpu["label"] == "random_init" and cpu["seconds_per_clip"] > 0 and cpu["peak_memory_mib"] > 0
    assert math.isclose(sum(cpu["stages_s"].values()), cpu["seconds_per_clip"], rel_tol=0.01, abs_tol=0.003)
    assert "vampnet (cpu, random_init" in capsys.readouterr().out


@pytest.fixture(scope="module")
def golden_files():
    if not (GOLDEN / "settings.json").is_file():
        pytest.skip(f"no VampNet fixture folder at {GOLDEN} (set VAMPNET_GOLDEN to one with a settings.json)")
    files = json.loads((GOLDEN / "settings.json").read_text())["checkpoints"]
    return {k: GOLDEN / files[k] for k in ("codec", "coarse", "c2f")}


@pytest.mark.slow
def test_a_levels_run_with_tiny_checkpoints_feeds_the_figure_the_table_and_a_study(
    golden_files, tmp_path, monkeypatch
):
    from bench.core.config import RunConfig
    from bench.core.runner import run_table1
    from bench.listening.build import build_study
    from bench.reports.tables import write_all

    home = tmp_path / "home"  # weights under the home folder: the record names them ~/...
    (home / "weights").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    options = {k: str(shutil.copy(path, home / "weights" / path.name)) for k, path in golden_files.items()}
    # the reports are under test, not the sampling (tests/test_vampnet.py): 2 clips, few steps
    options |= {"settings": "levels", "coarse_steps": "2", "c2f_steps": "1", "coarse_chunk_s": "1.0"}
    data = tmp_path / "clips"
    data.mkdir()
    for clip in sorted(FIXTURES.glob("*.flac"))[:2]:
        shutil.copy(clip, data / clip.name)
    config = RunConfig(
        scale="small",  # FAD per band (smoke pools it); on 2 clips: 2 per band, 1 blending pair
        vocoder="griffin-lim:16",
        data=str(data),
        systems=("spectrogram", "vampnet"),
        cache_dir=str(tmp_path / "cache"),
        data_cache_dir=str(tmp_path / "data"),
        out_dir=str(tmp_path / "out"),
        progress=False,
        system_options={"vampnet": options},
    )
    paths = write_all(run_table1(config), config.out_dir, "table1")
    record = json.loads(paths["json"].read_text())
    assert record["rows"]["vampnet"]["fingerprint"]["options"]["codec"] == "~/weights/codec.pth"

    # Fig. 13: the tiny codec has 6 codebooks, so levels 6..13 fail and are drawn without a score
    assert main(["figures", "--run", str(paths["json"]), "--out", str(tmp_path / "figs")]) == 0
    levels = _read(tmp_path / "figs" / "levels-table1.csv")
    source = _source(paths["json"], "vampnet")
    for level, row in enumerate(levels):
        if level < 6:
            assert int(row["n_ok"]) > 0 and float(row["fad"]) == float(source[row["band"]]["fad"])
        else:
            assert row["n_ok"] == "0" and row["fad"] == ""
    assert {r["system"] for r in _read(tmp_path / "figs" / "bands-table1.csv")} == {"spectrogram"}

    markdown = paths["md"].read_text()
    assert "| vampnet ‡ § |" in markdown and f"- § `vampnet`: {NOTE} (settings=levels" in markdown

    manifest = build_study(
        paths["json"],
        tmp_path / "study",
        ("spectrogram", "vampnet"),
        cache_dir=tmp_path / "cache",
        data=str(data),
        data_cache=str(tmp_path / "data"),
    )
    blends = [v for v in manifest["stimuli"].values() if v["kind"] == "blend"]
    assert sorted(v["system"] for v in blends) == ["spectrogram", "spectrogram", "vampnet", "vampnet"]
    assert len(manifest["questions"]) == 2 and manifest["run"]["fingerprints"]["vampnet"]["options"][
        "c2f"
    ] == ("~/weights/c2f.pth")
