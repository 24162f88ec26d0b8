"""Result tables: Table 1 (markdown, CSV), the per-band CSV and the JSON record."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from bench.core.paths import REPO_ROOT
from bench.core.storage import atomic_write_text, json_text
from bench.core.system import BLEND, CONDITIONAL
from bench.core.tasks import shortfall_text
from bench.metrics.specs import TABLE_SPECS

COLUMNS = tuple((spec.key, spec.label, spec.scale) for spec in TABLE_SPECS)  # metrics/specs.py
ARROWS = {spec.key: spec.arrow for spec in TABLE_SPECS}
EXTRA_COLUMNS = (  # bench/reports/distribution_metrics.py: (key, label, arrow)
    ("precision", "Prec.", "↑"),
    ("recall", "Rec.", "↑"),
    ("density", "Dens.", "↑"),
    ("coverage", "Cov.", "↑"),
    ("mauve", "MAUVE", "↑"),
    ("fad_inf", "FAD∞", "↓"),
)


def _fmt(value, interval=None) -> str:
    """A table cell (already scaled), with ± half the interval when there is one."""
    if value is None:
        return "–"
    if interval is None:
        return f"{value:.3f}"
    return f"{value:.3f} ±{(interval[1] - interval[0]) / 2:.3f}"


def table_rows(record: dict) -> list[dict]:
    """One flat row per system: cond_* and blend_* figures (Timb. as MCD/100)."""
    rows = []
    for name, row in record["rows"].items():
        flat = {"system": name, "status": "ok"}
        for task, prefix in ((CONDITIONAL, "cond"), (BLEND, "blend")):
            summary = row["tasks"].get(task, {}).get("summary")
            for key, _, scale in COLUMNS:
                value = summary.get(key) if summary else None
                flat[f"{prefix}_{key}"] = None if value is None else round(value * scale, 6)
                interval = summary.get(f"{key}_ci95") if summary else None
                if interval is not None:
                    flat[f"{prefix}_{key}_ci95_low"] = round(interval[0] * scale, 6)
                    flat[f"{prefix}_{key}_ci95_high"] = round(interval[1] * scale, 6)
            if summary:
                flat[f"{prefix}_failed"] = summary["n_failed"]
                if summary["n_failed"]:
                    flat["status"] = "partial"
        note = row_note(row)
        if note:
            flat["note"] = note
        rows.append(flat)
    distribution_columns(record, rows)
    for name, why in record["unavailable"].items():
        rows.append({"system": name, "status": f"unavailable: {why['reason']}"})
    return rows


def distribution_columns(record: dict, rows: list[dict]) -> None:
    """Append to each row, after the columns above, what a record made with FAD/KAD intervals has:
    ``{cond,blend}_fad_ci95_reference_{low,high}``, ``_kad``, ``_kad_ci95[_reference]_{low,high}``
    (bench/core/distribution_stats.py) and the optional metrics' ``_distribution`` entries (a
    record without them gets no column)."""
    for flat in rows:
        row = record["rows"].get(flat["system"])
        if row is None:
            continue
        for task, prefix in ((CONDITIONAL, "cond"), (BLEND, "blend")):
            summary = row["tasks"].get(task, {}).get("summary") or {}
            if "kad_ci95" not in summary and "distribution" not in summary:
                continue
            bounds = {"fad_ci95_reference": summary.get("fad_ci95_reference")}
            if "kad_ci95" in summary:
                flat[f"{prefix}_kad"] = None if summary.get("kad") is None else round(summary["kad"], 6)
                bounds.update(
                    kad_ci95=summary["kad_ci95"], kad_ci95_reference=summary.get("kad_ci95_reference")
                )
            for key, interval in bounds.items():
                if interval is not None:
                    flat[f"{prefix}_{key}_low"], flat[f"{prefix}_{key}_high"] = (
                        round(v, 6) for v in interval
                    )
            for key, value in (summary.get("distribution") or {}).items():
                if _is_interval(value):
                    flat[f"{prefix}_{key}_low"], flat[f"{prefix}_{key}_high"] = (round(v, 6) for v in value)
                elif isinstance(value, float):
                    flat[f"{prefix}_{key}"] = round(value, 6)


NOTE_MARK = "§"  # a row with a note: its figures are not those of a latent-band system


def row_note(row: dict) -> str | None:
    """The note a system's ``info()`` gives its row (``table_note``: e.g. systems/vampnet.py, which
    conditions on RVQ codebooks, not latent bands); None for most systems."""
    note = (row.get("info") or {}).get("table_note")
    return str(note) if note else None


def _interval(flat: dict, key: str):
    low, high = flat.get(f"{key}_ci95_low"), flat.get(f"{key}_ci95_high")
    return None if low is None or high is None else (low, high)


def _title(record: dict) -> list[str]:
    """A heading naming a recognised dataset and its split (datasets/layouts.py); none otherwise."""
    layout = record["dataset"].get("layout")
    if not layout:
        return []
    paper = f"; the paper's {layout['paper_table']} setting" if layout.get("paper_table") else ""
    return [
        f"### {layout['title']}, {layout['split']} split ({layout['found']} of {layout['listed']} listed "
        f"files from `{layout['split_source']}`, {record['dataset']['n_clips']} clips{paper})",
        "",
    ]


def render_markdown(record: dict, stem: str = "table1", rows: list[dict] | None = None) -> str:
    """The table in markdown; ``rows`` are :func:`table_rows`' (default) or a DataFrame's
    (bench/reports/results.py: ``to_markdown``)."""
    rows = table_rows(record) if rows is None else rows
    # the optional distribution metrics (table1 --distribution), only when the rows have them
    extras = [
        c for c in EXTRA_COLUMNS if any(f"{p}_{c[0]}" in flat for flat in rows for p in ("cond", "blend"))
    ]
    header = (
        ["system"]
        + [f"{label} {ARROWS[k]}" for k, label, _ in COLUMNS]
        + [f"{label} {arrow}" for _, label, arrow in extras]
        + [f"bl. {label} {ARROWS[k]}" for k, label, _ in COLUMNS]
        + [f"bl. {label} {arrow}" for _, label, arrow in extras]
    )
    lines = [*_title(record), "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    notes = []
    for flat in rows:
        name = flat["system"]
        if flat["status"].startswith("unavailable"):
            notes.append(
                f"- `{name}` not run: {flat['status'][len('unavailable: ') :]}"
                + (
                    f" (fix: {record['unavailable'][name]['fix']})"
                    if record["unavailable"][name].get("fix")
                    else ""
                )
            )
            lines.append(f"| {name} † |" + " n/a |" * (2 * (len(COLUMNS) + len(extras))))
            continue
        cells = [
            _fmt(flat.get(f"{prefix}_{k}"), _interval(flat, f"{prefix}_{k}"))
            for prefix in ("cond", "blend")
            for k in [k for k, _, _ in COLUMNS] + [k for k, _, _ in extras]
        ]
        mark = " ‡" if flat["status"] == "partial" else ""
        if flat.get("note"):
            mark += f" {NOTE_MARK}"
            notes.append(f"- {NOTE_MARK} `{name}`: {flat['note']}")
        lines.append(f"| {name}{mark} | " + " | ".join(cells) + " |")
        failed = (flat.get("cond_failed") or 0) + (flat.get("blend_failed") or 0)
        if failed:
            notes.append(f"- `{name}`: {failed} item(s) failed and are excluded (reasons in {stem}.json)")
    cfg, data, env = record["config"], record["dataset"], record["environment"]
    footer = [
        "",
        "Conditional: mean over the 14 bands of the in-band score; blending: mean over the 6 band "
        "pairs of the adherence to both inputs. Timb. is MCD/100. – = task not supported. "
        "± is half the 95 % stratified bootstrap interval over items (1000 resamples, seed 0; "
        f"the bounds are in {stem}.csv).",
        f"Dataset `{data['name']}` (manifest {data['manifest_hash'][:12]}), scale `{cfg['scale']}`, "
        f"seed {cfg['seed']}, vocoder `{record['vocoder']}`, embedder `{record['embedder']['id']}` "
        f"({record['fad_aggregate']} FAD), descriptors `{record['descriptors']}`, "
        f"git {env['git']['revision'][:10]}{' (dirty)' if env['git']['dirty'] else ''}.",
    ]
    # files of the user's folder that could not be used (the embedded set's skipped pieces are part of
    # its definition, listed in the record only)
    skipped = [e for e in record["dataset"].get("skipped_files", []) if "file" in e]
    if skipped:
        notes.append(
            f"- {len(skipped)} data file(s) skipped: "
            + "; ".join(f"`{e['file']}` {e['reason']}" for e in skipped[:5])
            + ("; ... (all in table1.json: dataset.skipped_files)" if len(skipped) > 5 else "")
        )
    if "distribution_intervals" in record:
        notes.append(
            f"- FAD ± is half the width of the 95 % bootstrap interval over the generated items (the "
            f"reference held fixed); FAD's small-set bias can put the interval above the figure: its "
            f"bounds, the interval over the reference clips and KAD's are in {stem}.csv (docs/metrics.md)"
        )
    if extras:
        notes.append(
            "- Prec., Rec., Dens., Cov. (k = 5) and MAUVE of the generated clips against the reference "
            "clips; FAD∞ ± is half its 95 % bootstrap interval (docs/metrics.md)"
        )
    for task, entry in record.get("scale_shortfall", {}).items():
        notes.append(f"- scale reduced, {shortfall_text(task, entry)}")
    for source in record.get("merged_from", []):
        notes.append(
            f"- merged: {', '.join(source['systems']) or 'no rows'} from `{source['file']}` "
            f"(git {source['git']['revision'][:10]}{' dirty' if source['git']['dirty'] else ''})"
        )
    if notes:
        footer += ["", *notes]
    return "\n".join(lines + footer) + "\n"


def render_csv(rows: list[dict], columns: tuple[str, ...] = ()) -> str:
    """The rows as CSV, ``columns`` first: a run with no rows (every system †) still writes a
    header that pandas reads back as an empty table."""
    keys = list(columns)
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in keys})
    return buffer.getvalue()


def per_band_rows(record: dict) -> list[dict]:
    rows = []
    for name, row in record["rows"].items():
        for task, result in row["tasks"].items():
            for group, entry in result["per_group"].items():
                rows.append(
                    {
                        "system": name,
                        "task": task,
                        "band": group,
                        **{
                            k: (round(v, 6) if isinstance(v, float) else v)
                            for k, v in entry.items()
                            if not k.endswith("_error") and not isinstance(v, (list, dict))
                        },
                        **_band_bounds(entry),
                    }
                )
    return rows


def _is_interval(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, float) for v in value)


def _band_bounds(entry: dict) -> dict:
    """A band's intervals ([low, high] lists, and those of its ``distribution`` entry) as
    KEY_low / KEY_high columns after the others; its optional metrics' values as KEY."""
    out = {}
    for key, value in [*entry.items(), *(entry.get("distribution") or {}).items()]:
        if _is_interval(value):
            out[f"{key}_low"], out[f"{key}_high"] = (round(float(v), 6) for v in value)
        elif key != "distribution" and isinstance(value, float) and key not in entry:
            out[key] = round(value, 6)
    return out


def item_rows(record: dict) -> list[dict]:
    """One row per system, task and item: the item's share of each adherence entry (in-band score,
    or for blending the mean adherence to both inputs); the same item ids across systems."""
    rows = []
    for name, row in record["rows"].items():
        for task, result in row["tasks"].items():
            for item in result.get("items", []):
                rows.append(
                    {
                        "system": name,
                        "task": task,
                        **{k: (round(v, 9) if isinstance(v, float) else v) for k, v in item.items()},
                    }
                )
    return rows


def _without_items(record: dict) -> dict:
    lean = dict(record, rows={})
    for name, row in record["rows"].items():
        lean["rows"][name] = dict(
            row,
            tasks={
                task: {k: v for k, v in result.items() if k != "items"}
                for task, result in row["tasks"].items()
            },
        )
    return lean


def portable_paths(value):
    """``value`` (a record, a list, a string) with this checkout's paths made repository-relative
    (``/.../repo/results/x.pt`` -> ``results/x.pt``) and the home folder written ``~``, so a written
    result names no path of the machine that made it. Keys and non-strings are kept."""
    if isinstance(value, str):
        root = rf"{re.escape(str(REPO_ROOT))}(/|(?=[^\w.-]|$))"
        text = re.sub(root, lambda match: "" if match.group(1) else ".", value)
        home = str(Path.home())
        if home not in ("", "/"):
            text = re.sub(rf"{re.escape(home)}(?=/|[^\w.-]|$)", "~", text)
        return text
    if isinstance(value, dict):
        return {key: portable_paths(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(portable_paths(item) for item in value)
    return value


FILE_NAMES = {
    "md": "{}.md",
    "csv": "{}.csv",
    "bands": "{}_bands.csv",
    "items": "{}_items.csv",
    "json": "{}.json",
}


def table_files(record: dict, stem: str = "table1", markdown=None) -> dict[str, str]:
    """The text of every file of a run, by kind (:data:`FILE_NAMES`): the JSON record (items left
    out), the table (markdown, CSV), per-band and per-item CSVs; ``markdown(record, stem)`` renders
    the table (default :func:`render_markdown`). Paths in the record are written
    repository-relative (:func:`portable_paths`)."""
    record = portable_paths(record)
    return {
        "json": json_text(_without_items(record)),
        "items": render_csv(item_rows(record), ("system", "task", "item")),
        "csv": render_csv(table_rows(record), ("system", "status")),
        "bands": render_csv(per_band_rows(record), ("system", "task", "band")),
        "md": (markdown or render_markdown)(record, stem),
    }


def write_all(
    record: dict,
    out_dir: str | Path,
    stem: str = "table1",
    markdown=None,
    files: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Write :func:`table_files` (or ``files``, already rendered) into ``out_dir``; their paths."""
    files = files or table_files(record, stem, markdown)
    paths = {kind: Path(out_dir) / name.format(stem) for kind, name in FILE_NAMES.items()}
    for kind in ("json", "items", "csv", "bands", "md"):  # the record first, the table last
        atomic_write_text(paths[kind], files[kind])
    return paths


README_TABLE_HEADING = "## Latest table"


def replace_readme_table(readme: str, markdown: str) -> str:
    """The README with the table under its "## Latest table" heading replaced by the table lines of
    ``markdown`` (a rendered Table 1); the prose around it is kept."""
    lines = readme.split("\n")
    try:
        heading = next(i for i, line in enumerate(lines) if line.startswith(README_TABLE_HEADING))
        start = next(i for i in range(heading + 1, len(lines)) if lines[i].startswith("| system |"))
    except StopIteration:
        raise ValueError(f"the README has no table under a {README_TABLE_HEADING!r} heading") from None
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    table = [line for line in markdown.split("\n") if line.startswith("|")]
    return "\n".join(lines[:start] + table + lines[end:])
