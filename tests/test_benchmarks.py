"""``make bench`` writes what it prints, with provenance."""

import json

import pytest

from tools.benchmarks import main

pytestmark = pytest.mark.slow  # end to end: deselected by -m 'not slow'


def test_bench_writes_its_figures_with_provenance(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert (
        main(
            n_clips=2,
            out=str(out),
            sampling_steps=2,
            embedders=("melstats", "vggish:/no/such/file"),
            isa_pins=False,  # minutes; tests/test_isa_invariance.py times it on one system
            costly_parts=False,  # minutes each; measured by make bench, not by this test
        )
        == 0
    )
    record = json.loads(out.read_text())
    descriptors = record["descriptors"][0]
    assert descriptors["clips"] == 2
    reference_s, fast_s = descriptors["reference_s"], descriptors["fast_s"]
    assert descriptors["ratio"] == pytest.approx(reference_s / fast_s, rel=1e-12)
    assert descriptors["cold_ratio"] == pytest.approx(reference_s / descriptors["fast_cold_s"], rel=1e-12)
    assert descriptors["fast_clips_per_s"] == pytest.approx(2 / fast_s, rel=1e-12)
    assert max(descriptors["descriptor_deviation"].values()) < 1e-2
    assert record["sampling"][0]["steps"] == 2
    melstats, vggish = record["embedders"]
    assert melstats["available"] and melstats["seconds_per_clip"] > 0
    assert not vggish["available"] and "/no/such/file" in vggish["reason"]
    assert record["environment"]["git"]["revision"] and record["fast_descriptor_version"].startswith(
        "torch-fast"
    )
    assert f"ratio: {descriptors['ratio']:.1f}x" in capsys.readouterr().out
