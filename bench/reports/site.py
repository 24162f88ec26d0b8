"""``python -m bench report RUN --out DIR``: a static site to look at and listen to a run.

``DIR/index.html`` (open it from disk, no server): the run's table (sortable), its per-band figure
(bench/reports/band_figures.py) and, when given, the listening study against the run's metrics;
``DIR/system-NAME.html`` per system: for each task, the items that score worst on each adherence
metric and on distance to the reference distribution (bench/reports/site_items.py), each with its
clips (output; reference, or both references for a blend), its scores and the band-passed
descriptor curves of output against reference (bench/reports/site_media.py). Everything the pages
use is written under DIR; the index states the site's size.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pandas as pd

from bench.core.paths import REPO_ROOT
from bench.core.storage import atomic_write_json, atomic_write_text
from bench.core.system import BLEND, CONDITIONAL
from bench.metrics.adherence import adherence
from bench.metrics.specs import ADHERENCE_SPECS, SPECS
from bench.reports import site_html as h
from bench.reports.site_items import (
    DISTANCE,
    DISTANCE_LABEL,
    RunCache,
    SiteInputError,
    distances,
    load_clipset,
    worst_items,
)
from bench.reports.site_media import audio_format, curve_figure, write_audio
from bench.reports.tables import COLUMNS, table_rows

MARKER = ".latentft-report"
OWNED = ("assets", "audio", "curves", "figures")
TASK_NAMES = {CONDITIONAL: "conditional generation", BLEND: "blending"}


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise SiteInputError(f"{out}: exists and is not a report folder; choose another --out")
    for name in OWNED:
        shutil.rmtree(out / name, ignore_errors=True)
    for old in out.glob("*.html") if out.exists() else []:
        old.unlink()
    for name in ("assets", "audio", "curves"):
        (out / name).mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by python -m bench report; its contents are replaced on each run\n")


def _main_table(record: dict) -> str:
    header = ["system", "status"] + [
        f"{'cond' if prefix == 'cond' else 'bl.'} {label} {SPECS[key].arrow}"
        for prefix in ("cond", "blend")
        for key, label, _ in COLUMNS
    ]
    rows = []
    for flat in table_rows(record):
        row = [flat["system"], flat["status"]]
        for prefix in ("cond", "blend"):
            for key, _, _ in COLUMNS:
                value = flat.get(f"{prefix}_{key}")
                text, sort = h.number(value)
                low, high = flat.get(f"{prefix}_{key}_ci95_low"), flat.get(f"{prefix}_{key}_ci95_high")
                if value is not None and low is not None and high is not None:
                    text += f" <small>±{(high - low) / 2:.3f}</small>"
                row.append((text, sort))
        rows.append(row)
    return h.table(header, rows, table_id="results")


def _item_rows(results, cache: RunCache) -> pd.DataFrame:
    items = results.items
    ok = items[items["ok"].astype(str).str.lower() == "true"].copy()
    ok[DISTANCE] = distances(cache, ok)
    return ok


class _Media:
    """Writes each clip once: references by clip id, outputs by system, task and item."""

    def __init__(self, out: Path):
        self.out, self.written = out, {}

    def audio(self, name: str, audio) -> str:
        if name not in self.written:
            path = write_audio(self.out / "audio" / name, audio)
            self.written[name] = f"audio/{path.name}"
        return self.written[name]


def _item_name(system: str, task: str, key: str) -> str:
    return f"{_slug(system)}-{task}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def _show_item(cache: RunCache, media: _Media, out: Path, system: str, task: str, row, worst_on) -> str:
    item = cache.items[task][row["item"]]
    output, sha = cache.output(system, task, row["item"])
    name = _item_name(system, task, row["item"])
    players = [h.player(media.audio(name, output), f"output ({system})")]
    if task == CONDITIONAL:
        inputs = [(item.clip_id, item.band, "reference")]
    else:
        inputs = [(item.clip_id1, item.band1, "reference 1"), (item.clip_id2, item.band2, "reference 2")]
    output_descriptors = cache.descriptors(output, sha)
    references, scores = [], {}
    for r, (clip_id, band, label) in enumerate(inputs):
        audio, clip_sha = cache.clip(clip_id)
        players.append(
            h.player(media.audio(f"ref-{_slug(clip_id)}", audio), f"{label}: {clip_id}, band {band.name}")
        )
        descriptors = cache.descriptors(audio, clip_sha)
        references.append((label, descriptors, band))
        for metric, value in adherence(output_descriptors, descriptors, band).items():
            if metric.endswith("_in"):
                scores[(r, metric[: -len("_in")])] = value
    curve = curve_figure(out / "curves" / f"{name}.png", output_descriptors, references, scores)
    cells = [
        f"{SPECS[spec.key].label} {spec.arrow} {h.number(row[spec.key] * spec.scale)[0]}"
        for spec in ADHERENCE_SPECS
        if spec.key in row
    ]
    cells.append(f"D²/d {h.number(row[DISTANCE])[0]}")
    badges = "".join(f'<span class="badge">worst on {h.esc(w)}</span>' for w in worst_on)
    return "\n".join(
        [
            f'<div class="item" id="{h.esc(name)}"><h4>{h.esc(row["item"])}</h4>{badges}',
            f"<p>{' · '.join(h.esc(c) for c in cells)}</p>",
            f'<div class="players">{"".join(players)}</div>',
            f'<img src="curves/{h.esc(curve.name)}" loading="lazy" '
            f'alt="band-passed descriptor curves of {h.esc(row["item"])}">',
            "</div>",
        ]
    )


def _system_page(system, frame, picks, cache, media, out, worst) -> list[str]:
    body = [f'<p><a href="index.html">← the run</a></p><h1>{h.esc(system)}</h1>']
    for task in (CONDITIONAL, BLEND):
        chosen = picks.get((system, task))
        if not chosen:
            continue
        rows = frame[(frame.system == system) & (frame.task == task)].set_index("item")
        why: dict[str, list[str]] = {}
        for metric, keys in chosen.items():
            label = DISTANCE_LABEL if metric == DISTANCE else SPECS[metric].label
            for rank, key in enumerate(keys, 1):
                why.setdefault(key, []).append(f"{label} (#{rank})")
        body.append(f"<h2>{TASK_NAMES[task]}: the {worst} worst items per metric</h2>")
        header = ["item", "worst on"] + [f"{s.label} {s.arrow}" for s in ADHERENCE_SPECS] + ["D²/d ↓"]
        table_rows_ = []
        for key, reasons in why.items():
            name = _item_name(system, task, key)
            row = rows.loc[key]
            table_rows_.append(
                [(f'<a href="#{h.esc(name)}">{h.esc(key)}</a>', key), "; ".join(reasons)]
                + [row[s.key] * s.scale if s.key in row else None for s in ADHERENCE_SPECS]
                + [row[DISTANCE]]
            )
        body.append(h.table(header, table_rows_))
        for key, reasons in why.items():
            body.append(
                _show_item(cache, media, out, system, task, {"item": key, **rows.loc[key].to_dict()}, reasons)
            )
    return body


def _listening_section(listening: dict) -> list[str]:
    """The study's statistics and its metrics-against-listeners record, as given by the caller
    (bench/listening/analysis.py and against.py records, rendered without importing that layer)."""
    summary, against = listening["summary"], listening.get("against")
    body = ["<h2>Listening study</h2>"]
    people = summary["participants"]
    body.append(
        f"<p>{people['total']} participants, {people['excluded']} excluded, {people['kept']} kept.</p>"
    )
    rows = []
    for scale, value in summary["scales"].items():
        rows.append([scale, value.get("fleiss_kappa"), value.get("fleiss_kappa_oriented")])
    body.append(h.table(["scale", "Fleiss' kappa", "Fleiss' kappa (oriented)"], rows, table_id="kappa"))
    rows = [
        [scale, system, v["strength"], v["low"], v["high"]]
        for scale, value in summary["scales"].items()
        for system, v in value["bradley_terry"].items()
    ]
    body.append(h.table(["scale", "system", "Bradley-Terry strength", "low", "high"], rows))
    if against:
        method = against["method"]
        body.append(
            '<h3>Automatic metrics against the listeners</h3><p class="note">Kendall\'s tau-b of each rating '
            f"and the metric's difference ({h.esc(method['difference'])}); {h.esc(method['interval'])}. "
            "Positive: listeners agree with the metric.</p>"
        )
        rows = [
            [scale, metric, v["tau"], v["low"], v["high"], v["n_answers"]]
            for scale, metrics in against["answers"].items()
            for metric, v in metrics.items()
        ]
        body.append(h.table(["scale", "metric", "tau", "low", "high", "answers"], rows, table_id="against"))
        body.append(
            '<p class="note">Spearman\'s rho of Bradley-Terry strength and the blending entry (positive = '
            f"agreement). Caveat: {h.esc(method['caveat'])}.</p>"
        )
        rows = [
            [scale, metric, v["rho"], v["p"], len(v["systems"])]
            for scale, metrics in against["systems"].items()
            for metric, v in metrics.items()
        ]
        body.append(h.table(["scale", "metric", "rho", "p", "systems"], rows))
    return body


def _size(out: Path) -> tuple[int, int]:
    files = [p for p in out.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def build_site(
    run: str | Path,
    out: str | Path,
    cache_dir: str | Path | None = None,
    data: str | None = None,
    data_cache: str | None = None,
    worst: int = 3,
    listening: dict | None = None,
) -> dict:
    """Write the site; returns {"index", "pages", "files", "bytes", "audio_format"}."""
    from bench.reports.band_figures import FigureInputError, write_band_figures
    from bench.reports.results import ResultsError, load

    run, out = Path(run), Path(out)
    if worst < 1:
        raise SiteInputError(f"--worst {worst}: show at least one item per metric")
    try:
        results = load(run)
    except ResultsError as error:
        raise SiteInputError(str(error)) from None
    record = results.record
    if not str(record.get("schema", "")).startswith("latentft-bench/table1"):
        raise SiteInputError(f"{run}: not a Table 1 run record (no latentft-bench/table1 schema)")
    cache_dir = Path(cache_dir) if cache_dir else REPO_ROOT / "results" / "cache"
    clipset = load_clipset(record, run, data, data_cache)
    cache = RunCache(record, run, cache_dir, clipset)
    _prepare(out)
    atomic_write_text(out / "assets" / "site.css", h.CSS)
    atomic_write_text(out / "assets" / "site.js", h.JS)
    frame = _item_rows(results, cache)
    picks = worst_items(frame, worst)
    media = _Media(out)
    pages = {}
    systems = [s for s in record["rows"] if any(key[0] == s for key in picks)]
    for system in systems:
        body = _system_page(system, frame, picks, cache, media, out, worst)
        pages[system] = out / f"system-{_slug(system)}.html"
        atomic_write_text(pages[system], h.page(f"{system}: worst items", body))
    try:
        figure = write_band_figures(run, out / "figures")["png"]
        figure_html = f'<img src="figures/{h.esc(figure.name)}" alt="per-band figure">'
    except FigureInputError as error:
        figure_html = f'<p class="note">No per-band figure: {h.esc(error)}</p>'
    data_, cfg = record["dataset"], record["config"]
    _, audio_text = audio_format()
    intro = [
        "<h1>Table 1 run report</h1>",
        f"<p>Run <code>{h.esc(run)}</code>: dataset <code>{h.esc(data_['name'])}</code> (manifest "
        f"{h.esc(data_['manifest_hash'][:12])}), scale <code>{h.esc(cfg['scale'])}</code>, "
        f"seed {cfg['seed']}, vocoder <code>{h.esc(record['vocoder'])}</code>, "
        f"embedder <code>{h.esc(record['embedder']['id'])}</code>, "
        f"descriptors <code>{h.esc(record['descriptors'])}</code>.</p>",
        '<h2>Table</h2><p class="note">Click a header to sort. Timb. is MCD/100; ± is half the 95 % '
        "interval of the run's record.</p>",
        _main_table(record),
        "<h2>Per band</h2>",
        figure_html,
        '<h2>Worst items per system</h2><p class="note">Per system and task, the '
        f"{worst} items that score worst on each adherence metric and on {h.esc(DISTANCE_LABEL)} (the "
        "squared Mahalanobis distance of the item's embedding under the Gaussian of the reference set's "
        "embeddings, shrunk 10 % towards a scaled identity, divided by the dimension; "
        "metrics/item_distance.py), "
        f"with their clips ({h.esc(audio_text)}) and band-passed descriptor curves.</p><ul>",
        *[f'<li><a href="{h.esc(p.name)}">{h.esc(s)}</a></li>' for s, p in pages.items()],
        "</ul>",
    ]
    if listening:
        intro += _listening_section(listening)
    size_line = '<p class="note" id="size">This report: {files} files, {mib:.2f} MiB.</p>'
    index = out / "index.html"
    atomic_write_text(index, h.page("Table 1 run report", intro + [size_line.format(files=0, mib=0.0)]))
    files, size = _size(out)
    atomic_write_text(
        index, h.page("Table 1 run report", intro + [size_line.format(files=files, mib=size / 2**20)])
    )
    files, size = _size(out)
    summary = {
        "index": str(index),
        "pages": [str(p) for p in pages.values()],
        "files": files,
        "bytes": size,
        "audio_files": len(media.written),
        "audio_format": audio_text,
    }
    atomic_write_json(out / "report.json", summary)
    return summary
