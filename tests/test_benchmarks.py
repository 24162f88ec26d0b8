"""``make bench`` writes what it prints, with provenance."""
import json

from bench.reports.benchmarks import main


def test_bench_writes_its_figures_with_provenance(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(n_clips=2, out=str(out), sampling_steps=2, embedders=("melstats", "vggish:/no/such/file")) == 0
    record = json.loads(out.read_text())
    descriptors = record["descriptors"][0]
    assert descriptors["clips"] == 2 and descriptors["ratio"] > 0
    assert max(descriptors["descriptor_deviation"].values()) < 1e-2
    assert record["sampling"][0]["steps"] == 2
    melstats, vggish = record["embedders"]
    assert melstats["available"] and melstats["seconds_per_clip"] > 0
    assert not vggish["available"] and "/no/such/file" in vggish["reason"]
    assert record["environment"]["git"]["revision"] and record["fast_descriptor_version"].startswith("torch-fast")
    assert f"ratio: {descriptors['ratio']:.1f}x" in capsys.readouterr().out
