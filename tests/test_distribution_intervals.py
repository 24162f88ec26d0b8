"""FAD / FAD-inf / KAD bootstrap intervals (metrics/distribution_intervals.py,
bench/core/distribution_stats.py): resampled sufficient statistics equal the metrics recomputed on
the resampled rows; seeded; in the record, table1.csv and ``compare``; old records render as before."""

import json

import numpy as np
import pytest
from support.paths import ROOT

from bench.metrics.distribution import fad, gaussian_stats, kad, median_pairwise_distance
from bench.metrics.distribution_intervals import (
    IntervalError,
    _fit_lines,
    bootstrap_counts,
    fad_inf_resampled,
    fad_resampled,
    frechet_resampler,
    kad_resampled,
    kernel_sums,
    percentile_interval,
)


def _sets(n_eval=20, n_ref=30, dim=8, rows=3, seed=0):
    rng = np.random.default_rng(seed)
    evals = [rng.normal(size=(rows, dim)) + 0.5 for _ in range(n_eval)]
    refs = [rng.normal(size=(rows + (i % 2), dim)) for i in range(n_ref)]  # unequal rows per item
    return evals, refs


def _rows(items, counts):
    return np.concatenate([items[i] for i in np.repeat(np.arange(len(items)), counts.astype(int))])


def test_resampled_fad_equals_fad_of_the_resampled_rows_either_side():
    evals, refs = _sets()
    ref_rows, eval_rows = np.concatenate(refs), np.concatenate(evals)
    counts = bootstrap_counts(np.random.default_rng(3), len(evals), 5)
    values = fad_resampled(frechet_resampler(evals, *gaussian_stats(ref_rows)), counts)
    for c, value in zip(counts, values):
        assert value == pytest.approx(fad(_rows(evals, c), ref_rows), rel=1e-8)
    ref_counts = bootstrap_counts(np.random.default_rng(4), len(refs), 5)
    values = fad_resampled(frechet_resampler(refs, *gaussian_stats(eval_rows)), ref_counts)
    for c, value in zip(ref_counts, values):
        assert value == pytest.approx(fad(eval_rows, _rows(refs, c)), rel=1e-8)
    whole = fad_resampled(frechet_resampler(evals, *gaussian_stats(ref_rows)))
    assert whole[0] == pytest.approx(fad(eval_rows, ref_rows), rel=1e-9)


def test_resampled_kad_equals_kad_of_the_resampled_rows_either_side():
    evals, refs = _sets()
    ref_rows, eval_rows = np.concatenate(refs), np.concatenate(evals)
    sigma = median_pairwise_distance(ref_rows)
    sums = kernel_sums(evals, refs, sigma)
    counts = bootstrap_counts(np.random.default_rng(5), len(evals), 4)
    ref_counts = bootstrap_counts(np.random.default_rng(6), len(refs), 4)
    for c, value in zip(counts, kad_resampled(sums, counts)):
        assert value == pytest.approx(kad(_rows(evals, c), ref_rows, bandwidth=sigma), rel=1e-9, abs=1e-12)
    for c, value in zip(ref_counts, kad_resampled(sums, None, ref_counts)):
        assert value == pytest.approx(kad(eval_rows, _rows(refs, c), bandwidth=sigma), rel=1e-9, abs=1e-12)
    assert kad_resampled(sums)[0] == pytest.approx(kad(eval_rows, ref_rows), rel=1e-9)


def test_draws_follow_the_adherence_bootstraps_convention_and_are_seeded():
    picks = np.random.default_rng(7).integers(0, 6, size=(3, 6))
    counts = bootstrap_counts(np.random.default_rng(7), 6, 3)
    assert np.array_equal(counts, np.stack([np.bincount(p, minlength=6) for p in picks]))
    assert counts.sum(axis=1).tolist() == [6, 6, 6]
    assert percentile_interval(np.arange(101.0), 0.9) == pytest.approx((5.0, 95.0))
    with pytest.raises(IntervalError, match="0 items"):
        bootstrap_counts(np.random.default_rng(0), 0, 3)


def test_fad_inf_fits_the_line_through_fad_against_one_over_n_like_polyfit():
    inv_n = 1.0 / np.array([10.0, 20.0, 40.0, 80.0])
    values = np.array([[3.0 + 5.0 * x for x in inv_n], [1.0, 2.0, 0.5, 0.25]])
    intercepts, slopes = _fit_lines(inv_n, values)
    for row, a, b in zip(values, intercepts, slopes):
        slope, intercept = np.polyfit(inv_n, row, 1)
        assert (a, b) == pytest.approx((intercept, slope))
    evals, refs = _sets(n_eval=60, dim=4)
    resampler = frechet_resampler(evals, *gaussian_stats(np.concatenate(refs)))
    first = fad_inf_resampled(resampler, np.random.default_rng(1), steps=6)
    again = fad_inf_resampled(resampler, np.random.default_rng(1), steps=6)
    assert first["values"][0] == again["values"][0] and first["sizes"][-1] == 60
    # FAD-inf lies below the full set's (biased upwards) FAD and within a plausible range
    assert first["values"][0] < fad_resampled(resampler)[0] + 0.5
    boot = fad_inf_resampled(
        resampler, np.random.default_rng(2), bootstrap_counts(np.random.default_rng(3), 60, 8)
    )
    assert boot["values"].shape == (8,) and np.all(np.isfinite(boot["values"]))
    with pytest.raises(IntervalError, match="too few"):
        fad_inf_resampled(
            frechet_resampler(evals[:2], *gaussian_stats(np.concatenate(refs))), np.random.default_rng(0)
        )


def test_bad_items_are_named():
    evals, refs = _sets()
    evals[4] = np.full((3, 8), np.nan)
    with pytest.raises(IntervalError, match="item 4 has NaN"):
        frechet_resampler(evals, *gaussian_stats(np.concatenate(refs)))
    from bench.core.distribution_stats import prepare_reference

    reference, why = prepare_reference([np.ones((6, 8))] * 4)  # a run goes on without intervals
    assert reference is None and "identical embeddings" in why


def test_the_committed_record_predates_the_intervals_and_renders_as_before():
    from bench.reports.results import load, render

    record = json.loads((ROOT / "results" / "table1.json").read_text())
    summary = record["rows"]["reference"]["tasks"]["conditional"]["summary"]
    assert "fad_ci95" not in summary
    table = render(load(ROOT / "results" / "table1.json"), "md")
    assert table == (ROOT / "results" / "table1.md").read_text()
    assert "| 4.563 |" in table  # FAD without ±


@pytest.mark.slow
def test_a_run_carries_fad_kad_bounds_and_compare_pairs_them(tmp_path):
    from support.paths import FIXTURES

    from bench.commands.cli import main
    from bench.core.config import RunConfig
    from bench.core.runner import run_table1
    from bench.reports.results import load, render
    from bench.reports.tables import write_all

    config = RunConfig(
        scale="smoke",
        data=str(FIXTURES),
        systems=("reference", "shuffled"),
        cache_dir=str(tmp_path / "cache"),
        data_cache_dir=str(tmp_path / "data"),
        progress=False,
    )
    record = run_table1(config)
    for row in record["rows"].values():
        for result in row["tasks"].values():
            summary = result["summary"]
            for key in ("fad_ci95", "fad_ci95_reference", "kad_ci95", "kad_ci95_reference"):
                low, high = summary[key]
                assert low < high
    paths = write_all(record, tmp_path / "out")
    table = load(paths["json"]).table
    assert {"cond_fad_ci95_low", "cond_kad_ci95_high", "blend_fad_ci95_reference_low"} <= set(table.columns)
    assert table.loc["reference", "cond_fad_ci95_low"] <= table.loc["reference", "cond_fad_ci95_high"]
    markdown = render(load(paths["json"]), "md")
    fad_cell = f"{record['rows']['shuffled']['tasks']['conditional']['summary']['fad']:.3f} ±"
    assert fad_cell in markdown
    # compare: the paired FAD / KAD difference, the same resamples for both systems
    from bench.commands.run_reports import _embeddings
    from bench.reports.compare import compare, read_items

    bundle, pooled, note = _embeddings(paths["items"])
    assert note is None and pooled  # the smoke scale pools its bands
    result = compare(read_items(paths["items"]), "shuffled", "reference", bundle=bundle, pooled=pooled)
    for task, entry in result["tasks"].items():
        a = record["rows"]["shuffled"]["tasks"][task]["summary"]
        b = record["rows"]["reference"]["tasks"][task]["summary"]
        for metric in ("fad", "kad"):
            difference = entry["distribution"][metric]
            assert difference["advantage"] == pytest.approx(b[metric] - a[metric], rel=1e-6, abs=1e-9)
            low, high = difference["ci95"]
            assert low < high
    assert main(["compare", "reference", "shuffled", "--items", str(paths["items"])]) == 0
    # the same run again (all cached) gives the same bounds and the same embeddings file
    again = run_table1(config)
    assert again["distribution_embeddings"] == record["distribution_embeddings"]
    assert (
        again["rows"]["shuffled"]["tasks"]["blend"]["summary"]["fad_ci95"]
        == (record["rows"]["shuffled"]["tasks"]["blend"]["summary"]["fad_ci95"])
    )
    # the optional distribution metrics: added from the embeddings file, cached, as extra columns
    from bench.reports.distribution_metrics import extend_record

    assert extend_record(dict(record), ("fad", "kad"), config.cache_dir) == record  # the default adds nothing
    extended = extend_record(json.loads(json.dumps(record)), ("prdc", "mauve", "fad-inf"), config.cache_dir)
    entry = extended["rows"]["shuffled"]["tasks"]["conditional"]["summary"]["distribution"]
    assert 0 <= entry["precision"] <= 1 and 0 <= entry["mauve"] <= 1
    low, high = entry["fad_inf_ci95"]
    assert low < high
    paths = write_all(extended, tmp_path / "extended")
    markdown = render(load(paths["json"]), "md")
    assert "| MAUVE ↑ |" in markdown and "FAD∞ ↓" in markdown
    assert "cond_mauve" in load(paths["json"]).table.columns


def test_the_metrics_command_gives_prdc_and_mauve_of_two_arrays(tmp_path, capsys):
    from bench.commands.cli import main

    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(40, 6)))
    np.save(tmp_path / "y.npy", rng.normal(size=(50, 6)))
    assert (
        main(["metrics", "prdc", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--nearest-k", "3"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["nearest_k"] == 3 and 0 <= out["coverage"] <= 1
    assert main(["metrics", "mauve", str(tmp_path / "x.npy"), str(tmp_path / "y.npy")]) == 0
    assert json.loads(capsys.readouterr().out)["buckets"] == 4
    assert main(["metrics", "prdc", str(tmp_path / "x.npy"), str(tmp_path / "none.npy")]) == 2
    assert "none.npy" in capsys.readouterr().out


def test_the_benchmark_part_times_a_band():
    from tools.benchmarks import PARTS
    from tools.distribution_bench import distribution_interval_benchmark

    assert "distribution-intervals" in PARTS
    (quick,) = distribution_interval_benchmark(scales=("quick",), resamples=20)
    assert quick["items_per_band"] == 32 and quick["per_band_s"] > 0 and quick["fad_ci95_width"] > 0
