"""The listening study's answers against a Table 1 run's automatic metrics, on the items heard.

Every question of a study is one blending item heard as the blends of two systems
(``manifest.json``: ``questions``). For an answer with blend F shown first and S second, a metric's
difference is oriented so that positive means the metric prefers S, like a rating above 3:

    d = m(S, item) - m(F, item)   for a metric where higher is better,
    d = m(F, item) - m(S, item)   where lower is better,

with m the item's share of the run's blending entry (the mean adherence to both inputs; the run's
``<stem>_items.csv``, bench/reports/tables.py: ``item_rows``).

- Per answer: Kendall's tau-b (``scipy.stats.kendalltau``) between the ratings (1..5) and d over
  every kept answer of a scale, with a 95 % percentile interval from a seeded bootstrap over
  participants (all answers of a drawn participant enter together). Positive tau: listeners
  prefer what the metric prefers.
- Per system: Spearman's rho between the Bradley-Terry strengths of the analysis and each
  metric's blending table entry, oriented so that positive means agreement, with its exact
  two-sided permutation p-value. With k systems rho takes few values (k = 4: multiples of 0.2; the
  p of rho = 1 is 2/24 = 0.083), so it says whether the orders agree, not that they agree
  significantly.
"""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.seeds import stream_rng
from bench.listening.errors import StudyError
from bench.metrics.specs import TABLE_SPECS

SCHEMA = "latentft-bench/listening-against-run/v1"
RESAMPLES = 1000
MAX_EXACT_SYSTEMS = 8  # 8! orderings for the exact Spearman p-value


def item_metric_names(items: pd.DataFrame) -> list[str]:
    """The per-item metrics of the run present in its items table, in metrics/specs.py's order."""
    return [spec.key for spec in TABLE_SPECS if spec.key in items.columns]


def higher_is_better(metric: str) -> bool:
    specs = {spec.key: spec for spec in TABLE_SPECS}
    if metric not in specs:
        raise StudyError(f"unknown metric {metric!r}: known are {', '.join(specs)}")
    return specs[metric].higher_is_better


def load_run(run: str | Path):
    """The run's results (bench/reports/results.py: JSON record, table, per-item scores), checked."""
    from bench.reports.results import ResultsError, load

    try:
        results = load(run)
    except ResultsError as error:
        raise StudyError(str(error)) from None
    if results.items.empty or "item" not in results.items.columns:
        raise StudyError(f"{run}: the run has no per-item scores (its _items.csv is empty)")
    return results


def check_same_run(manifest: dict, record: dict, run: str | Path) -> None:
    """The study's systems must be the run's, with the fingerprints the study was built from."""
    for system, fingerprint in manifest["run"]["fingerprints"].items():
        row = record["rows"].get(system)
        if row is None:
            raise StudyError(f"{run}: has no row for {system!r}, a system of the study")
        if row["fingerprint"] != fingerprint:
            raise StudyError(
                f"{run}: {system!r} has another fingerprint than in the run the study was built from "
                f"({manifest['run']['path']}); the items heard are not this run's"
            )


def answer_differences(
    answers: pd.DataFrame, questions: dict, items: pd.DataFrame, metrics: list[str]
) -> pd.DataFrame:
    """One row per answer: participant, question, item, ratings and each metric's oriented d."""
    blend = items[items["task"] == "blend"] if "task" in items.columns else items
    table = blend.set_index(["system", "item"])
    rows = []
    for answer in answers.itertuples(index=False):
        truth = questions.get(answer.question)
        if truth is None:
            raise StudyError(f"answers: question {answer.question!r} is not a question of the study")
        shown = {answer.first_system, answer.second_system}
        if shown != {truth["first_system"], truth["second_system"]}:
            raise StudyError(
                f"answers: question {answer.question!r} compares {sorted(shown)} in the answers but "
                f"{truth['first_system']} and {truth['second_system']} in the study"
            )
        row = {
            "participant": answer.participant,
            "question": answer.question,
            "item": truth["item"],
            "first_system": answer.first_system,
            "second_system": answer.second_system,
            "quality": answer.quality,
            "blending": answer.blending,
        }
        for metric in metrics:
            values = []
            for system in (answer.first_system, answer.second_system):
                try:
                    values.append(float(table.at[(system, truth["item"]), metric]))
                except KeyError:
                    raise StudyError(
                        f"the run has no blending score of {system!r} on item {truth['item']!r} "
                        f"(question {answer.question!r})"
                    ) from None
            difference = values[1] - values[0]
            row[metric] = difference if higher_is_better(metric) else -difference
        rows.append(row)
    return pd.DataFrame(rows)


def question_differences(questions: dict, items: pd.DataFrame, metric: str) -> dict[str, float]:
    """{question: the metric's oriented difference, second minus first system as the study lists them}."""
    shown = pd.DataFrame(
        [
            {
                "participant": "-",
                "question": q,
                "first_system": t["first_system"],
                "second_system": t["second_system"],
                "quality": 3,
                "blending": 3,
            }
            for q, t in questions.items()
        ]
    )
    frame = answer_differences(shown, questions, items, [metric])
    return dict(zip(frame["question"], frame[metric]))


def _tau(ratings: np.ndarray, differences: np.ndarray) -> float:
    from scipy.stats import kendalltau

    ok = np.isfinite(differences)
    if ok.sum() < 3:
        return float("nan")
    return float(kendalltau(ratings[ok], differences[ok]).statistic)


def per_answer(frame: pd.DataFrame, metrics: list[str], scale: str, resamples: int, seed: int) -> dict:
    """{metric: tau, 95 % interval over participants, n answers}."""
    groups = [g.index.to_numpy() for _, g in frame.groupby("participant", sort=True)]
    rng = stream_rng(seed, "listening-metric-bootstrap", scale)
    draws = [
        np.concatenate([groups[i] for i in rng.integers(len(groups), size=len(groups))])
        for _ in range(resamples)
    ]
    out = {}
    ratings = frame[scale].to_numpy(float)
    for metric in metrics:
        differences = frame[metric].to_numpy(float)
        taus = np.array([_tau(ratings[d], differences[d]) for d in draws]) if draws else np.array([np.nan])
        taus = taus[np.isfinite(taus)]
        low, high = np.percentile(taus, [2.5, 97.5]) if taus.size else (np.nan, np.nan)
        out[metric] = {
            "tau": _num(_tau(ratings, differences)),
            "low": _num(low),
            "high": _num(high),
            "n_answers": int(np.isfinite(differences).sum()),
        }
    return out


def exact_spearman(x, y) -> tuple[float, float]:
    """Spearman's rho and its exact two-sided permutation p-value (the share of the k! orderings of
    ``y`` whose |rho| is at least the observed one; scipy's t-approximation is wrong for k this small).
    """
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)

    def rho(a, b) -> float:
        a, b = a - a.mean(), b - b.mean()
        denominator = np.sqrt((a @ a) * (b @ b))
        return float(a @ b / denominator) if denominator > 0 else float("nan")

    observed = rho(rx, ry)
    if not np.isfinite(observed):
        return observed, float("nan")
    values = np.array([rho(rx, np.array(order)) for order in itertools.permutations(ry)])
    return observed, float(np.mean(np.abs(values) >= abs(observed) - 1e-12))


def per_system(strengths: dict, means: dict, metrics: list[str]) -> dict:
    """{metric: Spearman rho (oriented: positive = agreement), exact p, the systems used}."""
    out = {}
    for metric in metrics:
        systems = [s for s in strengths if means.get(s, {}).get(metric) is not None]
        entry = {"systems": systems, "rho": None, "p": None}
        if 3 <= len(systems) <= MAX_EXACT_SYSTEMS:
            sign = 1.0 if higher_is_better(metric) else -1.0
            x = [strengths[s]["strength"] for s in systems]
            y = [sign * means[s][metric] for s in systems]
            rho, p = exact_spearman(x, y)
            entry.update(rho=_num(rho), p=_num(p))
        out[metric] = entry
    return out


def blend_means(record: dict) -> dict:
    """{system: {metric: the run's blending table entry (raw, unscaled)}}."""
    means = {}
    for system, row in record["rows"].items():
        summary = row.get("tasks", {}).get("blend", {}).get("summary", {})
        means[system] = {spec.key: summary.get(spec.key) for spec in TABLE_SPECS}
    return means


def against_run(
    answers: pd.DataFrame,
    analysis: dict,
    manifest: dict,
    run: str | Path,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict:
    """The record: per-answer Kendall taus and per-system Spearman rhos for every metric and scale,
    and the per-question table (mean rating, the metrics' differences) it rests on."""
    from bench.core.storage import file_sha256

    results = load_run(run)
    check_same_run(manifest, results.record, run)
    participants = answers.groupby("participant")["passed_attention"].first()
    kept = answers[answers.participant.isin(participants[participants == 1].index)]
    if kept.empty:
        raise StudyError("answers: no participant passed the attention check")
    item_metrics = item_metric_names(results.items)
    frame = answer_differences(kept, manifest["questions"], results.items, item_metrics).reset_index(
        drop=True
    )
    means = blend_means(results.record)
    system_metrics = [
        spec.key for spec in TABLE_SPECS if any(m.get(spec.key) is not None for m in means.values())
    ]
    record = {"schema": SCHEMA, "answers": {}, "systems": {}}
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for scale in ("quality", "blending"):
            record["answers"][scale] = per_answer(frame, item_metrics, scale, resamples, seed)
            strengths = analysis["summary"]["scales"][scale]["bradley_terry"]
            record["systems"][scale] = per_system(strengths, means, system_metrics)
    questions = (
        frame.groupby(["question", "item", "first_system", "second_system"], sort=True)
        .agg(
            {
                "quality": "mean",
                "blending": "mean",
                "participant": "count",
                **{m: "first" for m in item_metrics},
            }
        )
        .rename(columns={"participant": "n", "quality": "mean_quality", "blending": "mean_blending"})
        .reset_index()
    )
    record["questions"] = [
        {k: (_num(v) if isinstance(v, float) else v) for k, v in row.items()}
        for row in questions.to_dict("records")
    ]
    k = len(analysis["systems"])
    record["method"] = {
        "item_metrics": item_metrics,
        "system_metrics": system_metrics,
        "difference": "metric of the blend shown second minus the first, negated where lower is better",
        "per_answer": "scipy.stats.kendalltau (tau-b) of rating and difference over kept answers",
        "interval": f"95 % percentile, {resamples} bootstrap resamples of participants (seed {seed})",
        "per_system": "Spearman's rho of Bradley-Terry strength and the oriented blending entry, "
        "exact two-sided permutation p",
        "caveat": (
            f"{k} systems: rho takes few values and the smallest exact two-sided p is "
            f"{2 / math.factorial(k):.3g} (4 systems: 0.083), so it says whether the orders agree, "
            "not that they agree significantly"
        ),
    }
    record["run"] = {"path": str(run), "sha256": file_sha256(str(run))}
    return record


def _num(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None
