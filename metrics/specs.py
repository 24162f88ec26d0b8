"""What each Table 1 metric is called and which way is better: the one table that the tables, the
LaTeX bolding, the figures, ``compare`` and ``regress`` read (docs/metrics.md).

A table cell is ``raw * scale`` (timbre, a mel cepstral distortion in dB, is shown as MCD/100, as
in the paper's Table 1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    higher_is_better: bool
    scale: float = 1.0

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


ADHERENCE_SPECS = (
    MetricSpec("loudness", "Loud.", True),
    MetricSpec("rhythm", "Rhyth.", True),
    MetricSpec("timbre", "Timb.", False, 0.01),
    MetricSpec("harmony", "Harm.", False),
)
TABLE_SPECS = (*ADHERENCE_SPECS, MetricSpec("fad", "FAD", False))
SPECS = {spec.key: spec for spec in TABLE_SPECS}


def blend_score(adherence_1: float, adherence_2: float) -> float:
    """A blend's adherence: the mean of its adherence to each input in that input's band
    (docs/protocol.md section 4)."""
    return (adherence_1 + adherence_2) / 2
