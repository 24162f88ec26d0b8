import json

import pytest

from bench.experiments.drift import GOLDEN, compare, family, run_regress


def test_compare_flags_values_beyond_tolerance_with_a_readable_diff():
    golden = {"table.x.conditional.loudness": 0.5, "table.x.conditional.fad": 10.0}
    assert compare(golden, dict(golden)) == []
    moved = {"table.x.conditional.loudness": 0.51, "table.x.conditional.fad": 10.05}
    problems = compare(golden, moved)
    assert len(problems) == 1 and "loudness" in problems[0] and "golden 0.5 now 0.51" in problems[0]
    assert any("missing" in p for p in compare(golden, {"table.x.conditional.fad": 10.0}))
    assert family("band.spectrogram.blend.0-0.0157+0.0157-0.0626.timbre_1") == "timbre"


@pytest.mark.slow
def test_smoke_table_and_fixture_metrics_match_the_golden_results(capsys):
    assert GOLDEN.exists(), "results/golden/smoke.json is missing: run make regress-update"
    code = run_regress()
    out = capsys.readouterr().out
    assert code == 0, out


@pytest.mark.slow
def test_the_melstats_fast_embedder_matches_the_same_golden_results(capsys):
    """melstats-fast computes melstats' numbers (to rounding) under its own id: the drift check run on it."""
    code = run_regress(embedder="melstats-fast")
    out = capsys.readouterr().out
    assert code == 0, out


@pytest.mark.slow
def test_a_golden_value_changed_beyond_tolerance_fails(tmp_path, capsys):
    golden = json.loads(GOLDEN.read_text())
    key = "table.reference.conditional.loudness"
    golden["values"][key] += 0.01
    path = tmp_path / "golden.json"
    path.write_text(json.dumps(golden))
    assert run_regress(golden_path=path) == 1
    assert key in capsys.readouterr().out
