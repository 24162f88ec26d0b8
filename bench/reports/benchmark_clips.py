"""The clips every benchmark of ``make bench`` runs on (bench/reports/benchmarks.py,
bench/reports/scaleout_bench.py)."""

from __future__ import annotations

import numpy as np

from bench.core.paths import REPO_ROOT


def benchmark_clips(n: int) -> np.ndarray:
    """The committed fixtures, circularly shifted and gain-varied to make ``n`` distinct clips."""
    from bench.core.audio import load_audio, normalise_clip

    files = sorted((REPO_ROOT / "tests" / "fixtures" / "audio").glob("*.flac"))
    base = [normalise_clip(load_audio(f)[0]) for f in files]
    rng = np.random.default_rng(0)
    clips = []
    for i in range(n):
        clip = np.roll(base[i % len(base)], int(rng.integers(0, 131072)))
        clips.append(clip * rng.uniform(0.3, 1.0))
    return np.stack(clips)
