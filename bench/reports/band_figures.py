"""``make figures RUN=results/table1.json``: per-band quality and adherence against latent frequency.

For every system of a run, FAD and the four in-band adherence scores of each conditional band
(the paper's Fig. 13, right panel), read from the run's per-band CSV (``<stem>_bands.csv`` beside
``<stem>.json``, written by bench/reports/tables.py). ``band_frame`` computes the record (one row per
system and band, the CSV's values unchanged; Timb. also as MCD/100 like Table 1);
``render_band_figure`` draws it: one panel per metric, the 8 consecutive bands as a curve against
the band centre in Hz (log axis), each band's extent as a horizontal bar.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.core.bands import CONDITIONAL_BANDS, EIGHT_BAND_SPLIT, FOUR_BAND_SPLIT, LATENT_NYQUIST_HZ, Band
from bench.core.storage import atomic_write_text
from bench.metrics.specs import SPECS

METRICS = ("fad", "loudness_in", "rhythm_in", "timbre_in", "harmony_in")
LABELS = {
    "fad": SPECS["fad"].label,
    "loudness_in": SPECS["loudness"].label,
    "rhythm_in": SPECS["rhythm"].label,
    "timbre_mcd100": f"{SPECS['timbre'].label} (MCD/100)",
    "harmony_in": SPECS["harmony"].label,
}
PLOTTED = ("fad", "loudness_in", "rhythm_in", "timbre_mcd100", "harmony_in")


class FigureInputError(ValueError):
    """A run that cannot be drawn; the message names the file and what was wrong."""


def _split_of(band: Band) -> int:
    if band in EIGHT_BAND_SPLIT:
        return 8
    return 4 if band in FOUR_BAND_SPLIT else 2


def bands_csv_of(run: Path) -> Path:
    return run.with_name(f"{run.stem}_bands.csv")


def load_run(run: str | Path) -> tuple[dict, "object"]:
    """The run's JSON record and its per-band CSV as a DataFrame, checked."""
    import pandas as pd

    run = Path(run)
    if not run.is_file():
        raise FigureInputError(f"run record not found: {run}")
    try:
        record = json.loads(run.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FigureInputError(f"{run}: not a JSON run record ({error})") from error
    if not isinstance(record, dict) or not str(record.get("schema", "")).startswith("latentft-bench/table1"):
        raise FigureInputError(f"{run}: not a table1 run record (no latentft-bench/table1 schema)")
    bands = bands_csv_of(run)
    if not bands.is_file():
        raise FigureInputError(
            f"{run}: no per-band CSV beside it ({bands.name} is missing; `make table1` writes it)"
        )
    frame = pd.read_csv(bands)
    if "fad" not in frame.columns and record.get("fad_aggregate") == "pooled":
        frame["fad"] = float(
            "nan"
        )  # a pooled-FAD run (smoke scale) has no FAD per band: its panel stays empty
    absent = [c for c in ("system", "task", "band", "n_ok", "n_failed", *METRICS) if c not in frame.columns]
    if absent:
        raise FigureInputError(f"{bands}: missing column(s) {', '.join(absent)}")
    return record, frame


def band_frame(bands) -> "object":
    """One row per system and conditional band: edges (normalised and Hz), split, counts and the
    bands CSV's FAD and in-band scores as they are, plus Timb. as MCD/100."""
    conditional = bands[bands["task"] == "conditional"].copy()
    if conditional.empty:
        raise FigureInputError(
            "the per-band CSV has no conditional rows (a run without the conditional task)"
        )
    known = {band.name: band for band in CONDITIONAL_BANDS}
    unknown = sorted(set(conditional["band"]) - set(known))
    if unknown:
        raise FigureInputError(f"the per-band CSV names unknown conditional band(s) {', '.join(unknown)}")
    parsed = conditional["band"].map(known)
    conditional["low"] = parsed.map(lambda b: b.low)
    conditional["high"] = parsed.map(lambda b: b.high)
    conditional["low_hz"] = conditional["low"] * LATENT_NYQUIST_HZ
    conditional["high_hz"] = conditional["high"] * LATENT_NYQUIST_HZ
    conditional["centre_hz"] = (conditional["low_hz"] + conditional["high_hz"]) / 2
    conditional["split"] = parsed.map(_split_of)
    conditional["timbre_mcd100"] = conditional["timbre_in"] / 100
    order = {name: k for k, name in enumerate(dict.fromkeys(conditional["system"]))}
    conditional = conditional.assign(_system=conditional["system"].map(order)).sort_values(
        ["_system", "split", "low"], kind="stable"
    )
    columns = [
        "system",
        "band",
        "split",
        "low",
        "high",
        "low_hz",
        "high_hz",
        "centre_hz",
        "n_ok",
        "n_failed",
        *METRICS,
        "timbre_mcd100",
    ]
    return conditional[columns].reset_index(drop=True)


def render_band_figure(frame, path: Path, title: str) -> Path:
    """Draw the frame (only the 8 consecutive bands, which tile the latent spectrum)."""
    from bench.reports.figure_files import pyplot, save_figure

    plt = pyplot()
    figure, grid = plt.subplots(2, 3, figsize=(13, 7.5))
    axes, legend_axis = grid.flat[: len(PLOTTED)], grid.flat[len(PLOTTED)]
    fine = frame[frame["split"] == 8]
    for system, rows in fine.groupby("system", sort=False):
        for axis, metric in zip(axes, PLOTTED):
            (line,) = axis.plot(rows["centre_hz"], rows[metric], marker="o", label=system)
            axis.hlines(
                rows[metric],
                rows["low_hz"].clip(lower=rows["centre_hz"].min() / 2),
                rows["high_hz"],
                color=line.get_color(),
                alpha=0.25,
            )
    for axis, metric in zip(axes, PLOTTED):
        key = metric.split("_")[0]
        axis.set_xscale("log")
        axis.set_xlabel("latent frequency (Hz)")
        axis.set_title(f"{LABELS[metric]} {SPECS[key].arrow}")
        axis.grid(alpha=0.3)
    legend_axis.axis("off")
    legend_axis.legend(*axes[0].get_legend_handles_labels(), loc="center", title="system (8-band split)")
    return save_figure(figure, title, path)


def write_band_figures(run: str | Path, out_dir: str | Path | None = None) -> dict[str, Path]:
    """The CSV and PNG of a run's per-band curves; default folder results/figures/."""
    from bench.reports.figure_files import FIGURES

    record, bands = load_run(run)
    frame = band_frame(bands)
    out = Path(out_dir) if out_dir else FIGURES
    out.mkdir(parents=True, exist_ok=True)
    stem = f"bands-{Path(run).stem}"
    paths = {"csv": out / f"{stem}.csv", "png": out / f"{stem}.png"}
    atomic_write_text(paths["csv"], frame.to_csv(index=False, lineterminator="\n"))
    data, cfg = record.get("dataset", {}), record.get("config", {})
    layout = data.get("layout") or {}
    where = f"{layout['title']} {layout['split']}" if layout else f"dataset {data.get('name', '?')}"
    title = (
        f"Conditional generation per latent band: {where}, scale {cfg.get('scale', '?')}, "
        f"seed {cfg.get('seed', '?')}, manifest {str(data.get('manifest_hash', '?'))[:12]}"
    )
    render_band_figure(frame, paths["png"], title)
    return paths
