"""Answers simulated from known Bradley-Terry strengths, to test and demonstrate the analysis.

A participant rating blend F (first) against S (second) on a scale draws a latent preference
``s_S - s_F + Logistic(0, 1)`` (so P(S preferred) = e^{s_S} / (e^{s_F} + e^{s_S}), the Bradley-Terry
model, for a threshold at 0) and reports 1..5 by thresholds at -1.5, -0.5, 0.5, 1.5. Inattentive
participants answer uniformly at random and fail the attention check.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from bench.core.seeds import stream_rng
from bench.listening.study import EXPORT_COLUMNS

THRESHOLDS = (-1.5, -0.5, 0.5, 1.5)


def simulate_answers(
    strengths: dict[str, float],
    n_participants: int,
    n_inattentive: int = 0,
    seed: int = 0,
    blending_strengths: dict[str, float] | None = None,
) -> pd.DataFrame:
    blending_strengths = blending_strengths or strengths
    rng = stream_rng(seed, "listening-simulation")
    pairs = list(itertools.permutations(strengths, 2))
    rows = []
    for p in range(n_participants):
        attentive = p >= n_inattentive
        for index, pair in enumerate(pairs):
            first, second = pair[::-1] if rng.integers(2) else pair
            ratings = []
            for scale in (strengths, blending_strengths):
                if attentive:
                    latent = scale[second] - scale[first] + rng.logistic()
                    ratings.append(int(1 + np.digitize(latent, THRESHOLDS)))
                else:
                    ratings.append(int(rng.integers(1, 6)))
            rows.append([f"p{p + 1:03d}", f"q{index + 1:02d}", first, second, *ratings, int(attentive)])
    return pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))


def simulate_following_metric(
    questions: dict[str, dict],
    differences: dict[str, float],
    n_participants: int,
    n_inattentive: int = 0,
    seed: int = 0,
    weight: float = 2.0,
) -> pd.DataFrame:
    """Answers whose ratings follow one metric: ``differences[q]`` is the metric's difference
    (second minus first system of ``questions[q]``, oriented so that positive prefers the second),
    scaled to unit root mean square over the questions; a participant shown the blends in that
    order draws ``weight * d + Logistic(0, 1)`` on both scales (the order is flipped at random per
    participant and question, and d with it) and reports 1..5 by the thresholds above."""
    values = np.array([differences[q] for q in questions], dtype=float)
    if not np.isfinite(values).all():
        raise ValueError("every question needs a finite metric difference")
    rms = float(np.sqrt(np.mean(values**2)))
    scaled = {q: (differences[q] / rms if rms > 0 else 0.0) for q in questions}
    rng = stream_rng(seed, "listening-metric-simulation")
    rows = []
    for p in range(n_participants):
        attentive = p >= n_inattentive
        for question, truth in questions.items():
            flip = bool(rng.integers(2))
            first, second = truth["first_system"], truth["second_system"]
            d = scaled[question]
            if flip:
                first, second, d = second, first, -d
            ratings = []
            for _ in ("quality", "blending"):
                if attentive:
                    ratings.append(int(1 + np.digitize(weight * d + rng.logistic(), THRESHOLDS)))
                else:
                    ratings.append(int(rng.integers(1, 6)))
            rows.append([f"p{p + 1:03d}", question, first, second, *ratings, int(attentive)])
    return pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))
