"""The paper's statistics on pairwise ratings (Sec. 4.4, App. A.7, Table 8), as a JSON-able record.

Ratings: 1 = the first blend much better, 3 = no preference, 5 = the second much better.
- Participants who failed the attention check are excluded (and counted).
- Kruskal-Wallis H across the ordered pairs (groups: the raw ratings of each ordered pair).
- For each unordered pair {a, b}: ratings oriented so that positive favours a (3 - r when a was
  first, r - 3 when b was), ``scipy.stats.wilcoxon`` with its defaults, Bonferroni and Holm
  corrections over the pairs (``statsmodels.stats.multitest.multipletests``).
- Fleiss' kappa over the questions answered by every kept participant (statsmodels ``fleiss_kappa``
  on ``aggregate_raters``): the standard statistic on the ratings as given (category = the option
  chosen, 1..5, whichever blend was shown first), and beside it, labelled ``fleiss_kappa_oriented``,
  the same with each rating first oriented to the question's alphabetical system order (6 - r when
  the alphabetically later system was shown first). Participants hear a question's blends in their
  own random order, so the standard statistic counts "A better" from two listeners as agreement
  even when A was a different system for each; the oriented one counts agreement on the systems.
- Bradley-Terry log-strengths (``choix.ilsr_pairwise``, mean zero; a rating below 3 is a win for the
  first blend, above 3 for the second, 3 a tie left out), with percentile 95 % intervals from a
  bootstrap over participants.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.seeds import stream_rng
from bench.listening.errors import StudyError
from bench.listening.study import EXPORT_COLUMNS

SCALES = ("quality", "blending")
BT_ALPHA = 0.01  # choix's regularisation: keeps strengths finite when a system never loses
CATEGORIES = ("a much better", "a better", "no preference", "b better", "b much better")


def read_answers(path: str | Path) -> pd.DataFrame:
    """The answers CSV, validated: every problem names the file and the row (the header is row 1)."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise StudyError(f"{path}: no such answers file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise StudyError(f"{path}: not a readable CSV ({error})") from None
    missing = [c for c in EXPORT_COLUMNS if c not in frame.columns]
    if missing:
        raise StudyError(
            f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(EXPORT_COLUMNS)})"
        )
    if frame.empty:
        raise StudyError(f"{path}: no answers")
    for index, row in frame.iterrows():
        where = f"{path} row {index + 2}"
        for column in ("participant", "question", "first_system", "second_system"):
            if not row[column].strip():
                raise StudyError(f"{where}: empty {column}")
        if row["first_system"] == row["second_system"]:
            raise StudyError(f"{where}: first_system and second_system are both {row['first_system']!r}")
        for column in SCALES:
            if row[column].strip() not in {"1", "2", "3", "4", "5"}:
                raise StudyError(f"{where}: {column} {row[column]!r} is not an integer rating from 1 to 5")
        if row["passed_attention"].strip() not in {"0", "1"}:
            raise StudyError(f"{where}: passed_attention {row['passed_attention']!r} is not 0 or 1")
    for column in (*SCALES, "passed_attention"):
        frame[column] = frame[column].str.strip().astype(int)
    for participant, group in frame.groupby("participant", sort=False):
        if group["passed_attention"].nunique() > 1:
            row = group.index[(group["passed_attention"] != group["passed_attention"].iloc[0]).to_numpy()][0]
            raise StudyError(
                f"{path} row {row + 2}: participant {participant!r} has conflicting "
                "passed_attention values (0 and 1)"
            )
    duplicated = frame.duplicated(["participant", "question"])
    if duplicated.any():
        row = frame.index[duplicated.to_numpy()][0]
        raise StudyError(
            f"{path} row {row + 2}: participant {frame.at[row, 'participant']!r} answered "
            f"question {frame.at[row, 'question']!r} twice"
        )
    return frame


def oriented(frame: pd.DataFrame, scale: str, a: str, b: str) -> np.ndarray:
    """The ratings of pair {a, b} as preferences for a: +2 (a much better) .. -2 (b much better)."""
    first_a = frame[(frame.first_system == a) & (frame.second_system == b)][scale].to_numpy()
    first_b = frame[(frame.first_system == b) & (frame.second_system == a)][scale].to_numpy()
    return np.concatenate([3 - first_a, first_b - 3])


def _kruskal(frame: pd.DataFrame, scale: str) -> dict:
    from scipy.stats import kruskal

    groups = [g[scale].to_numpy() for _, g in frame.groupby(["first_system", "second_system"])]
    try:
        result = kruskal(*groups)
    except ValueError:  # all ratings identical, or a single group
        return {"H": None, "p": None}
    return {"H": _num(result.statistic), "p": _num(result.pvalue)}


def _pairs(frame: pd.DataFrame, scale: str, systems: list[str]) -> list[dict]:
    from scipy.stats import wilcoxon
    from statsmodels.stats.multitest import multipletests

    pairs = []
    for a, b in itertools.combinations(systems, 2):
        scores = oriented(frame, scale, a, b)
        if scores.size == 0:
            continue
        try:
            p = float(wilcoxon(scores).pvalue)
        except ValueError:  # every difference zero
            p = float("nan")
        pairs.append(
            {
                "a": a,
                "b": b,
                "n": int(scores.size),
                "p": p,
                "median": float(np.median(scores)),
                "mean": float(scores.mean()),
            }
        )
    valid = [i for i, pair in enumerate(pairs) if np.isfinite(pair["p"])]
    corrected = {}
    if valid:
        raw = [pairs[i]["p"] for i in valid]
        for method, key in (("bonferroni", "p_bonferroni"), ("holm", "p_holm")):
            corrected[key] = dict(zip(valid, multipletests(raw, method=method)[1]))
    for i, pair in enumerate(pairs):
        for key in ("p_bonferroni", "p_holm"):
            pair[key] = _num(corrected[key][i]) if i in valid else None
        pair["p"] = _num(pair["p"])
    return pairs


def _fleiss(frame: pd.DataFrame, scale: str) -> tuple[float | None, float | None, int]:
    """(standard kappa on the raw ratings, kappa on the oriented ratings, questions used)."""
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    raters = frame["participant"].nunique()
    common = [q for q, g in frame.groupby("question") if g["participant"].nunique() == raters]
    if raters < 2 or not common:
        return None, None, len(common)
    rows = frame[frame.question.isin(common)].sort_values(["question", "participant"])
    raw = rows[scale].to_numpy().reshape(len(common), raters)
    flip = (rows.first_system > rows.second_system).to_numpy().reshape(len(common), raters)
    kappas = []
    for ratings in (raw, np.where(flip, 6 - raw, raw)):
        table, _ = aggregate_raters(ratings, n_cat=None)
        kappas.append(_num(fleiss_kappa(table, method="fleiss")))
    return kappas[0], kappas[1], len(common)


def _comparisons(frame: pd.DataFrame, scale: str, index: dict) -> list[tuple[int, int]]:
    first = frame.first_system.map(index).to_numpy()
    second = frame.second_system.map(index).to_numpy()
    ratings = frame[scale].to_numpy()
    return [(f, s) for f, s, r in zip(first, second, ratings) if r < 3] + [
        (s, f) for f, s, r in zip(first, second, ratings) if r > 3
    ]


def _bradley_terry(frame: pd.DataFrame, scale: str, systems: list[str], bootstrap: int, seed: int) -> dict:
    import choix

    index = {s: i for i, s in enumerate(systems)}
    estimate = choix.ilsr_pairwise(len(systems), _comparisons(frame, scale, index), alpha=BT_ALPHA)
    per_participant = [_comparisons(g, scale, index) for _, g in frame.groupby("participant")]
    rng = stream_rng(seed, "listening-bootstrap")
    draws = []
    for _ in range(bootstrap):
        chosen = rng.integers(len(per_participant), size=len(per_participant))
        sample = [pair for i in chosen for pair in per_participant[i]]
        draws.append(choix.ilsr_pairwise(len(systems), sample, alpha=BT_ALPHA))
    draws = np.array(draws) if draws else np.full((1, len(systems)), np.nan)
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    return {
        s: {"strength": _num(estimate[i]), "low": _num(low[i]), "high": _num(high[i])}
        for s, i in index.items()
    }


def _distribution(frame: pd.DataFrame, scale: str, systems: list[str]) -> list[dict]:
    rows = []
    for a, b in itertools.combinations(systems, 2):
        scores = oriented(frame, scale, a, b)
        if scores.size:
            counts = {
                name: int((scores == value).sum()) for name, value in zip(CATEGORIES, (2, 1, 0, -1, -2))
            }
            rows.append({"scale": scale, "a": a, "b": b, "n": int(scores.size), **counts})
    return rows


def _num(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def analyze(
    frame: pd.DataFrame,
    bootstrap: int = 1000,
    seed: int = 0,
    systems: list[str] | None = None,
    provenance: dict | None = None,
) -> dict:
    """The record: ``summary`` (the --json structure), per-pair details, Fig. 4's counts, provenance."""
    from bench.core.provenance import environment, package_versions

    participants = frame.groupby("participant")["passed_attention"].first()
    kept = frame[frame.participant.isin(participants[participants == 1].index)]
    if systems is None:
        systems = sorted(set(frame.first_system) | set(frame.second_system))
    summary = {
        "participants": {
            "total": int(participants.size),
            "excluded": int((participants == 0).sum()),
            "kept": int((participants == 1).sum()),
        },
        "scales": {},
    }
    details, distribution = {}, []
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        # degenerate samples (every rating equal, one rater) give NaN, reported as null / n/a
        warnings.simplefilter("ignore", RuntimeWarning)
        for scale in SCALES:
            if kept.empty:
                summary["scales"][scale] = {
                    "kruskal": {"H": None, "p": None},
                    "pairs": [],
                    "fleiss_kappa": None,
                    "fleiss_kappa_oriented": None,
                    "bradley_terry": {},
                }
                continue
            pairs = _pairs(kept, scale, systems)
            kappa, kappa_oriented, common = _fleiss(kept, scale)
            summary["scales"][scale] = {
                "kruskal": _kruskal(kept, scale),
                "pairs": [{k: p[k] for k in ("a", "b", "n", "p", "p_bonferroni", "p_holm")} for p in pairs],
                "fleiss_kappa": kappa,
                "fleiss_kappa_oriented": kappa_oriented,
                "bradley_terry": _bradley_terry(kept, scale, systems, bootstrap, seed),
            }
            details[scale] = {"pairs": pairs, "fleiss_questions": common}
            distribution += _distribution(kept, scale, systems)
    versions = package_versions(("pandas", "statsmodels", "choix", "scipy"))
    return {
        "schema": "latentft-bench/listening-analysis/v1",
        "summary": summary,
        "details": details,
        "distribution": distribution,
        "systems": systems,
        "method": {
            "bootstrap": bootstrap,
            "seed": seed,
            "bt_alpha": BT_ALPHA,
            "wilcoxon": "scipy.stats.wilcoxon defaults (two-sided, zero_method='wilcox')",
            "corrections": "statsmodels multipletests: bonferroni, holm",
            "fleiss_kappa": "statsmodels fleiss_kappa(aggregate_raters(ratings as given)); "
            "fleiss_kappa_oriented: the ratings oriented to the alphabetical system order first",
        },
        "provenance": {**(provenance or {}), "environment": {**environment(), "packages": versions}},
    }
