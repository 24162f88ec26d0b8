"""The latent-frequency bands of the LatentFT protocol (protocol.md section 2): the 14 bands of the
conditional task and the 6 band pairs of blending. The band type and its band-pass live in
metrics/bands.py (the metrics use them too) and are re-exported here.
"""

from __future__ import annotations

from itertools import combinations

from bench.metrics.bands import LATENT_NYQUIST_HZ, Band, band_mask, band_pass, check_selects_bins  # noqa: F401

EDGES = (0.0, 0.0078, 0.0157, 0.0313, 0.0626, 0.1251, 0.2501, 0.5001, 1.0)

TWO_BAND_SPLIT = (Band(0.0, 0.0626), Band(0.0626, 1.0))
FOUR_BAND_SPLIT = (Band(0.0, 0.0157), Band(0.0157, 0.0626), Band(0.0626, 0.2501), Band(0.2501, 1.0))
EIGHT_BAND_SPLIT = tuple(Band(lo, hi) for lo, hi in zip(EDGES[:-1], EDGES[1:]))

CONDITIONAL_BANDS: tuple[Band, ...] = TWO_BAND_SPLIT + FOUR_BAND_SPLIT + EIGHT_BAND_SPLIT
BLEND_PAIRS: tuple[tuple[Band, Band], ...] = tuple(
    (FOUR_BAND_SPLIT[i], FOUR_BAND_SPLIT[j]) for i, j in combinations(range(4), 2)
)
