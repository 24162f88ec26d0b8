"""Where figures go and how they are written: matplotlib without a display, one PNG per figure
(used by bench/reports/band_figures.py and bench/experiments/isolate_sweep.py)."""

from __future__ import annotations

from pathlib import Path

from bench.core.paths import WORK_ROOT

FIGURES = WORK_ROOT / "results" / "figures"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, title: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
