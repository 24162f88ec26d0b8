"""``make figures RUN=results/table1.json [VAMPNET_RUN=...]``: per-band quality and adherence against
latent frequency, and VampNet's FAD per RVQ level.

Right half (the paper's Fig. 13, right panel): for every latent-band system of a run, FAD and the four
in-band adherence scores of each conditional band, read from the run's per-band CSV
(``<stem>_bands.csv`` beside ``<stem>.json``, written by bench/reports/tables.py). ``band_frame``
computes the record (one row per system and band, the CSV's values unchanged; Timb. also as MCD/100
like Table 1). ``vampnet`` is left out there: its bands are labels of codebook settings
(systems/vampnet.py), not latent frequencies.

Left half (Fig. 13, left panel): VampNet's FAD (and KAD) when conditioning on each RVQ level 0..13 alone,
from a run whose ``vampnet`` row was made with ``--system-option vampnet.settings=levels`` (band i keeps
codebook i; docs/vampnet.md): the run itself when its vampnet row is such, else the one passed as
``vampnet_run``. ``level_frame`` computes it; without such a run the figure is the right half alone
and says so.

``render_band_figure`` draws both: one panel per metric, the 8 consecutive bands as a curve against
the band centre in Hz (log axis), each band's extent as a horizontal bar; the levels as a curve
against the level.
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
VAMPNET = "vampnet"


class FigureInputError(ValueError):
    """A run that cannot be drawn; the message names the file and what was wrong."""


def _split_of(band: Band) -> int:
    if band in EIGHT_BAND_SPLIT:
        return 8
    return 4 if band in FOUR_BAND_SPLIT else 2


def bands_csv_of(run: Path) -> Path:
    return run.with_name(f"{run.stem}_bands.csv")


def load_run(run: str | Path, per_band_fad: bool = False) -> tuple[dict, "object"]:
    """The run's JSON record and its per-band CSV as a DataFrame, checked. A pooled-FAD run (smoke
    scale) has no FAD per band: its FAD panel stays empty, or with ``per_band_fad`` (what the
    VampNet levels figure plots) it is refused naming the reason."""
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
    if "fad" not in frame.columns and record.get("fad_aggregate") == "pooled" and not per_band_fad:
        frame["fad"] = float("nan")
    absent = [c for c in ("system", "task", "band", "n_ok", "n_failed", *METRICS) if c not in frame.columns]
    if absent == ["fad"] and record.get("fad_aggregate") == "pooled":
        raise FigureInputError(
            f"{bands}: no per-band FAD (the run pooled FAD over its bands, scale "
            f"{record.get('config', {}).get('scale', '?')}); a scale with per-band FAD (quick, small, "
            "paper) is needed"
        )
    if absent:
        raise FigureInputError(f"{bands}: missing column(s) {', '.join(absent)}")
    return record, frame


FRAME_COLUMNS = (
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
)


def band_frame(bands, allow_empty: bool = False) -> "object":
    """One row per system and conditional band: edges (normalised and Hz), split, counts and the
    bands CSV's FAD and in-band scores as they are, plus Timb. as MCD/100. A run with no latent-band
    system (vampnet's levels alone) gives an empty frame when ``allow_empty``, else an error."""
    import pandas as pd

    conditional = bands[(bands["task"] == "conditional") & (bands["system"] != VAMPNET)].copy()
    if conditional.empty and allow_empty:
        return pd.DataFrame(columns=list(FRAME_COLUMNS))
    if conditional.empty:
        raise FigureInputError(
            "the per-band CSV has no conditional rows of a latent-band system "
            "(a run without the conditional task, or of vampnet alone)"
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
    return conditional[list(FRAME_COLUMNS)].reset_index(drop=True)


def vampnet_levels_run(record: dict) -> bool:
    """Whether a run record holds a ``vampnet`` row made with ``settings=levels``."""
    row = record.get("rows", {}).get(VAMPNET)
    return bool(row) and row.get("fingerprint", {}).get("options", {}).get("settings") == "levels"


def load_levels_run(run: str | Path) -> tuple[dict, "object"]:
    """A run for the left half: a table1 record whose vampnet row used ``settings=levels``."""
    record, bands = load_run(run, per_band_fad=True)
    if VAMPNET not in record.get("rows", {}):
        why = record.get("unavailable", {}).get(VAMPNET, {}).get("reason")
        raise FigureInputError(
            f"{run}: no vampnet row" + (f" (not run: {why})" if why else "") + "; make one with "
            "`python -m bench table1 --systems vampnet --system-option vampnet.settings=levels ...`"
        )
    if not vampnet_levels_run(record):
        raise FigureInputError(
            f"{run}: its vampnet row was not made with settings=levels (band i -> codebook i); "
            "Fig. 13's left half needs `--system-option vampnet.settings=levels`"
        )
    return record, bands


def level_frame(bands) -> "object":
    """One row per RVQ level 0..13 (the 14 conditional bands in order, band i keeping codebook i alone,
    systems/vampnet.py ``conditional_setting``): the bands CSV's counts, FAD and KAD unchanged; a level
    whose items all failed (a codec with fewer codebooks) keeps its row with empty scores."""
    import pandas as pd

    from bench.systems.vampnet import conditional_setting

    rows = bands[(bands["task"] == "conditional") & (bands["system"] == VAMPNET)]
    by_band = {name: row for name, row in zip(rows["band"], rows.to_dict("records"))}
    out = []
    for band in CONDITIONAL_BANDS:
        level = conditional_setting(band, "levels")[0]
        row = by_band.get(band.name, {})
        out.append(
            {
                "system": VAMPNET,
                "level": level,
                "band": band.name,
                "n_ok": int(row.get("n_ok", 0) or 0),
                "n_failed": int(row.get("n_failed", 0) or 0),
                "fad": row.get("fad", float("nan")),
                "kad": row.get("kad", float("nan")),
            }
        )
    return pd.DataFrame(out)


def _draw_levels(axis, text_axis, levels) -> None:
    scored = levels.dropna(subset=["fad"])
    axis.plot(scored["level"], scored["fad"], marker="o", color="black", label="vampnet FAD")
    axis.set_xticks(range(len(levels)))
    axis.set_xlabel("RVQ level conditioned alone")
    axis.set_title(f"VampNet: {LABELS['fad']} {SPECS['fad'].arrow} per RVQ level")
    axis.grid(alpha=0.3)
    missing = sorted(set(levels["level"]) - set(scored["level"]))
    lines = [
        "VampNet (Fig. 13 left): FAD when the codebook",
        "of one RVQ level is kept and the rest regenerated",
        "(settings=levels; docs/vampnet.md)",
    ]
    if missing:
        lines.append(f"no score (every item failed): level {', '.join(str(int(m)) for m in missing)}")
    text_axis.axis("off")
    text_axis.text(0.0, 1.0, "\n".join(lines), transform=text_axis.transAxes, va="top", fontsize=9)


def render_band_figure(frame, path: Path, title: str, levels=None, note: str = "") -> Path:
    """Draw the frame (only the 8 consecutive bands, which tile the latent spectrum) and, when
    ``levels`` (:func:`level_frame`) is given, VampNet's FAD per RVQ level in a left column;
    ``note`` is written under the legend."""
    from bench.reports.figure_files import pyplot, save_figure

    plt = pyplot()
    if levels is None:
        figure, grid = plt.subplots(2, 3, figsize=(13, 7.5))
        axes, legend_axis = grid.flat[: len(PLOTTED)], grid.flat[len(PLOTTED)]
    else:
        figure, grid = plt.subplots(2, 4, figsize=(17, 7.5))
        _draw_levels(grid[0, 0], grid[1, 0], levels)
        right = [grid[r, c] for r in range(2) for c in range(1, 4)]
        axes, legend_axis = right[: len(PLOTTED)], right[len(PLOTTED)]
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
    if not frame.empty:
        legend_axis.legend(*axes[0].get_legend_handles_labels(), loc="center", title="system (8-band split)")
    if note:
        legend_axis.text(
            0.5, 0.02, note, transform=legend_axis.transAxes, ha="center", va="bottom", wrap=True
        )
    return save_figure(figure, title, path)


NO_LEVELS_NOTE = (
    "Fig. 13 left (VampNet FAD per RVQ level) not drawn: no run with a vampnet row made with "
    "settings=levels (pass --vampnet-run)"
)


def write_band_figures(
    run: str | Path, out_dir: str | Path | None = None, vampnet_run: str | Path | None = None
) -> dict[str, Path]:
    """The CSV and PNG of a run's per-band curves (default folder results/figures/), and with a
    VampNet levels run (``vampnet_run``, else ``run`` itself when its vampnet row used
    ``settings=levels``) the CSV of its FAD per RVQ level (``levels_csv``; absent without one)."""
    from bench.reports.figure_files import FIGURES

    record, bands = load_run(run)
    levels = levels_source = None
    if vampnet_run is not None:
        levels, levels_source = level_frame(load_levels_run(vampnet_run)[1]), Path(vampnet_run)
    elif vampnet_levels_run(record):
        levels, levels_source = level_frame(bands), Path(run)
    frame = band_frame(bands, allow_empty=levels is not None)
    out = Path(out_dir) if out_dir else FIGURES
    out.mkdir(parents=True, exist_ok=True)
    stem = f"bands-{Path(run).stem}"
    paths = {"csv": out / f"{stem}.csv", "png": out / f"{stem}.png"}
    atomic_write_text(paths["csv"], frame.to_csv(index=False, lineterminator="\n"))
    if levels is not None:
        paths["levels_csv"] = out / f"levels-{levels_source.stem}.csv"
        atomic_write_text(paths["levels_csv"], levels.to_csv(index=False, lineterminator="\n"))
    data, cfg = record.get("dataset", {}), record.get("config", {})
    layout = data.get("layout") or {}
    where = f"{layout['title']} {layout['split']}" if layout else f"dataset {data.get('name', '?')}"
    title = (
        f"Conditional generation per latent band: {where}, scale {cfg.get('scale', '?')}, "
        f"seed {cfg.get('seed', '?')}, manifest {str(data.get('manifest_hash', '?'))[:12]}"
    )
    note = "" if levels is not None else NO_LEVELS_NOTE
    if frame.empty:
        note = "no latent-band system in this run: Fig. 13's left half alone"
    if levels is not None and levels_source != Path(run):
        title += f"; VampNet levels from {levels_source.name}"
    render_band_figure(frame, paths["png"], title, levels, note)
    return paths
