"""Automatic metrics against listeners (bench/listening/against.py) on answers simulated to follow one
metric (bench/listening/simulate.py: simulate_following_metric): the analysis finds that metric and
not an independent one, per answer (Kendall's tau with its bootstrap interval) and per system."""

import json

import numpy as np
import pandas as pd
import pytest

from bench.listening.against import answer_differences, per_answer, per_system, question_differences
from bench.listening.simulate import simulate_following_metric

pytest_plugins = ("support.listening_support",)  # the session-wide smoke run and its study

SYSTEMS = ("a", "b", "c", "d")
N_QUESTIONS = 60


@pytest.fixture(scope="module")
def planted():
    """60 questions, a random ordered pair of systems on an item each, and two metrics: timbre (the
    listeners follow it) and harmony, independent of it by design (questions come in twins that
    compare the same systems on items with the same timbre and the harmony of the two systems
    swapped), so no chance correlation over the questions can make harmony look followed."""
    rng = np.random.default_rng(5)
    questions, rows = {}, []
    for k in range(N_QUESTIONS // 2):
        first, second = rng.choice(SYSTEMS, size=2, replace=False)
        timbre = dict(zip(SYSTEMS, rng.normal(300, 40, len(SYSTEMS))))  # lower is better
        harmony = dict(zip(SYSTEMS, rng.normal(0.5, 0.1, len(SYSTEMS))))
        for twin, item in enumerate((f"item{k}", f"item{k}-twin")):
            questions[f"q{k:02d}{'ab'[twin]}"] = {
                "first_system": first,
                "second_system": second,
                "item": item,
            }
            if twin:
                harmony[first], harmony[second] = harmony[second], harmony[first]
            rows += [
                {"system": s, "task": "blend", "item": item, "timbre": timbre[s], "harmony": harmony[s]}
                for s in SYSTEMS
            ]
    items = pd.DataFrame(rows)
    differences = question_differences(questions, items, "timbre")
    answers = simulate_following_metric(questions, differences, 24, n_inattentive=2, seed=3)
    kept = answers[answers.passed_attention == 1]
    frame = answer_differences(kept, questions, items, ["timbre", "harmony"]).reset_index(drop=True)
    return questions, items, answers, frame


def test_the_difference_is_oriented_so_that_positive_prefers_the_second_blend(planted):
    questions, items, _, frame = planted
    row = frame.iloc[0]
    scores = items.set_index(["system", "item"])
    first = scores.at[(row.first_system, row["item"]), "timbre"]
    second = scores.at[(row.second_system, row["item"]), "timbre"]
    assert row.timbre == pytest.approx(first - second)  # lower timbre (MCD) is better
    assert row.harmony == pytest.approx(
        scores.at[(row.first_system, row["item"]), "harmony"]
        - scores.at[(row.second_system, row["item"]), "harmony"]
    )


@pytest.mark.parametrize("scale", ["quality", "blending"])
def test_the_planted_metric_is_found_and_the_independent_one_is_not(planted, scale):
    from scipy.stats import kendalltau

    _, _, _, frame = planted
    result = per_answer(frame, ["timbre", "harmony"], scale, resamples=300, seed=0)
    timbre, harmony = result["timbre"], result["harmony"]
    assert timbre["tau"] == pytest.approx(kendalltau(frame[scale], frame["timbre"]).statistic)
    assert timbre["n_answers"] == 22 * N_QUESTIONS
    assert 0.3 < timbre["low"] < timbre["tau"] < timbre["high"]
    # over 30 simulation seeds harmony's tau is 0.00 +- 0.015 (sd); the planted metric's is 0.55
    assert abs(harmony["tau"]) < 0.08 and harmony["high"] < timbre["low"] - 0.3
    assert per_answer(frame, ["timbre"], scale, resamples=300, seed=0)["timbre"] == timbre  # seeded


def test_spearman_per_system_is_oriented_and_says_which_systems():
    strengths = {s: {"strength": v} for s, v in zip(SYSTEMS, (1.0, 0.4, -0.3, -1.1))}
    means = {s: {"timbre": v, "loudness": v / 1000} for s, v in zip(SYSTEMS, (200.0, 250.0, 300.0, 400.0))}
    result = per_system(strengths, means, ["timbre", "loudness"])
    assert result["timbre"]["rho"] == pytest.approx(1.0)  # lower MCD, stronger: agreement
    assert result["loudness"]["rho"] == pytest.approx(-1.0)
    assert result["timbre"]["systems"] == list(SYSTEMS) and result["timbre"]["p"] == pytest.approx(2 / 24)


@pytest.mark.slow
def test_analyze_against_the_run_finds_the_metric_the_simulated_listeners_followed(
    listening_run, built_study, tmp_path, capsys
):
    from bench.commands.cli import main

    run = listening_run / "out" / "table1.json"
    answers = tmp_path / "answers.csv"
    common = ["--study", str(built_study), "--against", str(run)]
    assert (
        main(
            [
                "listening",
                "simulate",
                "--follow",
                "loudness",
                *common,
                "--participants",
                "30",
                "--out",
                str(answers),
            ]
        )
        == 0
    )
    capsys.readouterr()
    out = tmp_path / "report"
    argv = ["listening", "analyze", str(built_study), "--answers", str(answers), "--against", str(run)]
    assert main([*argv, "--bootstrap", "200", "--json", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)["against"]
    for scale in ("quality", "blending"):
        loudness = summary["answers"][scale]["loudness"]
        assert loudness["low"] > 0.3, loudness
        assert set(summary["answers"][scale]) == {"loudness", "rhythm", "timbre", "harmony"}
        assert summary["systems"][scale]["loudness"]["systems"] == [
            "reference",
            "shuffled",
            "cross-synthesis",
        ]
    report = (out / "report.md").read_text()
    assert "Automatic metrics against the listeners" in report and "Caveat" in report
    assert (out / "against_answers.csv").read_text().count("\n") == 1 + 2 * 4


def test_analyze_against_refuses_answers_without_the_study(tmp_path, capsys):
    from bench.commands.cli import main
    from bench.listening.simulate import simulate_answers

    answers = tmp_path / "answers.csv"
    answers.write_text(simulate_answers({"a": 0.0, "b": 1.0}, 3).to_csv(index=False))
    assert (
        main(["listening", "analyze", "--answers", str(answers), "--against", str(tmp_path / "run.json")])
        == 2
    )
    assert "--against: give the study folder" in capsys.readouterr().err


def test_the_system_level_p_value_is_exact():
    from scipy.stats import spearmanr

    from bench.listening.against import exact_spearman

    assert exact_spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx((1.0, 2 / 24))
    assert exact_spearman([1, 2, 3], [3, 2, 1]) == pytest.approx((-1.0, 2 / 6))
    x, y = [0.3, -1.2, 0.8, 2.0, 0.1], [5.0, 1.0, 2.0, 9.0, 4.0]
    rho, p = exact_spearman(x, y)
    assert rho == pytest.approx(spearmanr(x, y).statistic)
    assert 0 < p < 1
