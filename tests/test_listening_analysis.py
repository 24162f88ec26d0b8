"""The listening study's statistics on answers simulated from known Bradley-Terry strengths
(bench/listening/analysis.py, simulate.py): the order comes back, the p-values are scipy's."""

import itertools
import json

import numpy as np
import pytest
from scipy.stats import kruskal, wilcoxon

from bench.commands.cli import main
from bench.listening.analysis import analyze, read_answers
from bench.listening.simulate import simulate_answers

STRENGTHS = {"latentft-unet": 1.2, "ilvr": 0.5, "cross-synthesis": -0.3, "spectrogram": -1.4}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "answers.csv"
    frame = simulate_answers(STRENGTHS, n_participants=30, n_inattentive=3, seed=1)
    path.write_text(frame.to_csv(index=False))
    return path, read_answers(path), analyze(read_answers(path), bootstrap=100, seed=0)


@pytest.mark.slow
def test_the_json_summary_has_the_documented_structure(simulated, capsys):
    path, _, _ = simulated
    assert (
        main(
            [
                "listening",
                "analyze",
                "--answers",
                str(path),
                "--bootstrap",
                "50",
                "--json",
                "--out",
                str(path.parent / "report"),
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["participants"] == {"total": 30, "excluded": 3, "kept": 27}
    assert set(summary["scales"]) == {"quality", "blending"}
    for scale in summary["scales"].values():
        assert set(scale) == {"kruskal", "pairs", "fleiss_kappa", "fleiss_kappa_oriented", "bradley_terry"}
        assert set(scale["kruskal"]) == {"H", "p"} and len(scale["pairs"]) == 6
        assert all(set(p) == {"a", "b", "n", "p", "p_bonferroni", "p_holm"} for p in scale["pairs"])
        assert set(scale["bradley_terry"]) == set(STRENGTHS)
        assert all(set(v) == {"strength", "low", "high"} for v in scale["bradley_terry"].values())
    for name in ("report.md", "report.tex", "fig4.png", "fig4.csv", "pairs.csv", "bradley_terry.csv"):
        assert (path.parent / "report" / name).stat().st_size > 100
    assert "Provenance" in (path.parent / "report" / "report.md").read_text()


def test_bradley_terry_recovers_the_simulated_order_with_intervals(simulated):
    _, _, record = simulated
    truth = sorted(STRENGTHS, key=STRENGTHS.get)
    for scale in ("quality", "blending"):
        bt = record["summary"]["scales"][scale]["bradley_terry"]
        assert sorted(bt, key=lambda s: bt[s]["strength"]) == truth
        assert all(v["low"] < v["strength"] < v["high"] for v in bt.values())
        assert bt["latentft-unet"]["low"] > bt["spectrogram"]["high"]


def test_kruskal_and_wilcoxon_p_values_are_scipys_on_the_same_ratings(simulated):
    _, frame, record = simulated
    kept = frame[frame.passed_attention == 1]
    systems = sorted(STRENGTHS)
    for scale in ("quality", "blending"):
        result = record["summary"]["scales"][scale]
        groups = [g[scale].to_numpy() for _, g in kept.groupby(["first_system", "second_system"])]
        assert len(groups) == 12
        expected = kruskal(*groups)
        assert result["kruskal"]["H"] == pytest.approx(expected.statistic, rel=1e-12)
        assert result["kruskal"]["p"] == pytest.approx(expected.pvalue, rel=1e-12)
        raw = []
        for pair, (a, b) in zip(result["pairs"], itertools.combinations(systems, 2)):
            a_first = kept[(kept.first_system == a) & (kept.second_system == b)][scale]
            b_first = kept[(kept.first_system == b) & (kept.second_system == a)][scale]
            scores = np.concatenate([3 - a_first.to_numpy(), b_first.to_numpy() - 3])
            assert (pair["a"], pair["b"], pair["n"]) == (a, b, scores.size)
            assert pair["p"] == pytest.approx(wilcoxon(scores).pvalue, rel=1e-12)
            raw.append(pair["p"])
        order = np.argsort(raw)
        holm = np.maximum.accumulate([min(1, (len(raw) - i) * raw[j]) for i, j in enumerate(order)])
        assert [result["pairs"][j]["p_holm"] for j in order] == pytest.approx(holm, rel=1e-12)
        assert [p["p_bonferroni"] for p in result["pairs"]] == pytest.approx([min(1, 6 * p) for p in raw])
        strongest = next(p for p in result["pairs"] if {p["a"], p["b"]} == {"latentft-unet", "spectrogram"})
        assert strongest["p_bonferroni"] < 1e-3


def test_fleiss_kappa_is_statsmodels_on_the_ratings_as_given(simulated):
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    _, frame, record = simulated
    kept = frame[frame.passed_attention == 1]
    for scale in ("quality", "blending"):
        wide = kept.pivot(index="question", columns="participant", values=scale)
        assert wide.shape == (12, 27) and not wide.isna().any().any()
        table, _ = aggregate_raters(wide.to_numpy())
        assert record["summary"]["scales"][scale]["fleiss_kappa"] == pytest.approx(
            fleiss_kappa(table), abs=1e-12
        )


def test_the_oriented_kappa_is_labelled_beside_and_counts_each_question_once_per_kept_participant(simulated):
    from statsmodels.stats.inter_rater import fleiss_kappa

    _, frame, record = simulated
    kept = frame[frame.passed_attention == 1]
    table = np.zeros((12, 5))
    for i, (_, group) in enumerate(kept.groupby("question")):
        flip = (group.first_system > group.second_system).to_numpy()
        for rating in np.where(flip, 6 - group["quality"], group["quality"]):
            table[i, rating - 1] += 1
    assert table.sum(axis=1).tolist() == [27] * 12
    quality = record["summary"]["scales"]["quality"]
    assert quality["fleiss_kappa_oriented"] == pytest.approx(fleiss_kappa(table))
    # the display order is random per participant, so only the oriented ratings agree beyond chance
    assert quality["fleiss_kappa_oriented"] > 0.05 > abs(quality["fleiss_kappa"])


def test_random_answers_give_no_significant_pair(tmp_path):
    frame = simulate_answers({k: 0.0 for k in STRENGTHS}, n_participants=20, seed=3)
    record = analyze(frame, bootstrap=20)
    assert min(p["p_holm"] for p in record["summary"]["scales"]["quality"]["pairs"]) > 0.01
