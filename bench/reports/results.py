"""Table 1 results as pandas data, for notebooks and papers.

``load("results/table1.json")`` reads a run's record and the CSVs written beside it
(bench/reports/tables.py: ``write_all``) and returns :class:`Results`: the systems x metrics table with
its 95 % intervals, the per-band table, the per-item scores and the provenance record.
``render(results, "md" | "csv" | "latex" | "json")`` renders its table from those DataFrames
(``to_latex``: the paper's two-group layout, booktabs, best value per column in bold).
``run_folder`` / ``mark_latest`` / ``default_run`` say where a user's runs go (``results/runs/NAME/``,
gitignored) and which run a command reads when none is named.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.core.paths import REPO_ROOT
from bench.metrics.specs import TABLE_SPECS

METRICS = tuple((spec.key, spec.label, spec.higher_is_better) for spec in TABLE_SPECS)  # metrics/specs.py
UP, DOWN = r"$\uparrow$", r"$\downarrow$"
GROUPS = (("cond", "Conditional generation"), ("blend", "Blending"))


class ResultsError(Exception):
    """A results file that cannot be read; the message names it."""


@dataclass
class Results:
    table: pd.DataFrame  # index: system; columns: status, cond_loudness, cond_loudness_ci95_low, ...
    bands: pd.DataFrame  # one row per system, task and band (or band pair)
    items: pd.DataFrame  # one row per system, task and item
    record: dict  # the JSON record: config, dataset, provenance

    def metric(self, group: str, metric: str) -> pd.DataFrame:
        """One entry of the table with its interval: columns value, low, high, indexed by system."""
        key = f"{group}_{metric}"
        columns = {key: "value", f"{key}_ci95_low": "low", f"{key}_ci95_high": "high"}
        present = [c for c in columns if c in self.table]
        return self.table[present].rename(columns=columns)


def _csv_frame(text: str, where: str) -> pd.DataFrame:
    if text == "\n":  # how earlier versions wrote a CSV of no rows (a run with every row †)
        return pd.DataFrame(columns=["system"])
    try:
        return pd.read_csv(io.StringIO(text), keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ResultsError(f"{where}: not a readable CSV ({error})") from None


def from_files(files: dict[str, str], names: dict[str, str] | None = None) -> Results:
    """:class:`Results` from the text of a run's files (bench/reports/tables.py ``table_files``):
    what a run just rendered in memory, or what :func:`load` read from disk; ``names`` (by kind)
    name the files in errors."""
    names = {kind: f"the run's {kind} file" for kind in files} | (names or {})
    record = _record(files["json"], names["json"])
    table = _csv_frame(files["csv"], names["csv"]).set_index("system")
    bands = _csv_frame(files["bands"], names["bands"])
    items = _csv_frame(files["items"], names["items"])
    order = list(table.index)  # the JSON is written with sorted keys; the table keeps the run's order
    for key in ("rows", "unavailable"):
        record[key] = dict(
            sorted(record[key].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
        )
    return Results(table=table, bands=bands, items=items, record=record)


def _record(text: str, name: str) -> dict:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsError(f"{name}: not a JSON record ({error})") from None
    if not isinstance(record, dict) or "rows" not in record or "unavailable" not in record:
        raise ResultsError(f"{name}: not a Table 1 record (no 'rows' and 'unavailable')")
    return record


def _read(path: Path, what: str) -> str:
    if not path.is_file():
        raise ResultsError(f"{path}: missing ({what} is written beside the run's JSON)")
    try:
        return path.read_text()
    except UnicodeDecodeError as error:
        raise ResultsError(f"{path}: not a text file ({error})") from None


def load(path: str | Path) -> Results:
    """The results of a Table 1 run from its JSON record (``STEM.json``) and the ``STEM.csv``,
    ``STEM_bands.csv`` and ``STEM_items.csv`` beside it."""
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"{path}: no such results file")
    files = {"json": _read(path, "the record")}
    _record(files["json"], str(path))  # a bad record is named before its CSVs are looked for
    names = {"json": str(path)}
    for kind, suffix, what in (
        ("csv", ".csv", "the table"),
        ("bands", "_bands.csv", "the per-band table"),
        ("items", "_items.csv", "the per-item scores"),
    ):
        csv_path = path.with_name(path.stem + suffix)
        files[kind], names[kind] = _read(csv_path, what), str(csv_path)
    return from_files(files, names)


def _best(column: pd.Series, higher: bool):
    values = column.dropna()
    if values.empty:
        return None
    return values.max() if higher else values.min()


def _cell(results: Results, system: str, group: str, metric: str, best, digits: int) -> str:
    row = results.table.loc[system]
    value = row.get(f"{group}_{metric}")
    if value is None or pd.isna(value):
        return "--"
    text = f"{value:.{digits}f}"
    if best is not None and round(value, digits) == round(best, digits):
        text = rf"\textbf{{{text}}}"
    low, high = row.get(f"{group}_{metric}_ci95_low"), row.get(f"{group}_{metric}_ci95_high")
    if low is not None and high is not None and not (pd.isna(low) or pd.isna(high)):
        text += rf" {{\scriptsize $\pm${(high - low) / 2:.{digits}f}}}"
    return text


def _escape(text: str) -> str:
    for char, replacement in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
        ("$", r"\$"),
        ("{", r"\{"),
        ("}", r"\}"),
    ):
        text = text.replace(char, replacement)
    return text


def _notes(table: pd.DataFrame) -> dict:
    """{system: note} of the rows with a note (bench/reports/tables.py: ``row_note``)."""
    if "note" not in table:
        return {}
    return {system: note for system, note in table["note"].items() if isinstance(note, str) and note}


ANCHORS = ("reference", "shuffled")  # the oracle and the chance row: never "best"


def to_latex(results: Results, digits: int = 3, intervals: bool = True, anchors=ANCHORS) -> str:
    """The paper's Table 1 layout as a booktabs tabular: two column groups (conditional generation,
    blending) of Loud., Rhyth., Timb. (MCD/100), Harm., FAD; the best value of each column among
    the systems that are not ``anchors`` in bold (ties at the printed precision all bold); rows
    not run are marked with a dagger, rows with failed items with a double dagger.

    Written by hand rather than with ``DataFrame.to_latex``/``Styler``: the grouped header with
    cmidrules, bold per column and the ± cells are each a line here and awkward there."""
    table = results.table
    ran = table[table["status"].isin(["ok", "partial"]) & ~table.index.isin(list(anchors))]
    noted = {str(s): str(n) for s, n in _notes(table).items()}
    # a noted row (VampNet: codebook settings, not latent bands) competes for bold in FAD only
    scored = {m: ran if m == "fad" else ran[~ran.index.isin(list(noted))] for m, _, _ in METRICS}
    best = {
        (g, m): _best(scored[m][f"{g}_{m}"], higher) if f"{g}_{m}" in ran else None
        for g, _ in GROUPS
        for m, _, higher in METRICS
    }
    shown = (
        results
        if intervals
        else Results(
            table.drop(columns=[c for c in table if "_ci95_" in c]),
            results.bands,
            results.items,
            results.record,
        )
    )
    n = len(METRICS)
    lines = [
        r"\begin{tabular}{l" + "c" * (2 * n) + "}",
        r"\toprule",
        " & " + " & ".join(rf"\multicolumn{{{n}}}{{c}}{{{title}}}" for _, title in GROUPS) + r" \\",
        "".join(rf"\cmidrule(lr){{{2 + i * n}-{1 + (i + 1) * n}}}" for i in range(len(GROUPS))),
        "System & "
        + " & ".join(f"{label} {UP if higher else DOWN}" for _ in GROUPS for _, label, higher in METRICS)
        + r" \\",
        r"\midrule",
    ]
    for system, row in table.iterrows():
        name = _escape(str(system))
        if row["status"] not in ("ok", "partial"):
            lines.append(rf"{name}$^\dagger$ & " + " & ".join(["n/a"] * (2 * n)) + r" \\")
            continue
        best_here = best if system not in anchors else {}
        if str(system) in noted:
            best_here = {key: value for key, value in best_here.items() if key[1] == "fad"}
        cells = [
            _cell(shown, system, g, m, best_here.get((g, m)), digits)
            for g, _ in GROUPS
            for m, _, _ in METRICS
        ]
        mark = r"$^\ddagger$" if row["status"] == "partial" else ""
        mark += r"$^\S$" if str(system) in noted else ""
        lines.append(f"{name}{mark} & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [rf"{{\footnotesize $^\S$ {_escape(s)}: {_escape(n)}}}" for s, n in noted.items()]
    data, config = results.record["dataset"], results.record["config"]
    caption = (
        f"% dataset {data['name']} (manifest {data['manifest_hash'][:12]}), scale {config['scale']}, "
        f"seed {config['seed']}, embedder {results.record['embedder']['id']}, "
        f"vocoder {results.record['vocoder']}, git {results.record['environment']['git']['revision'][:10]}"
    )
    return caption + "\n" + "\n".join(lines) + "\n"


def run_table1(out: str | Path | None = None, stem: str = "table1", **settings) -> Results:
    """Run Table 1 from Python (a notebook) and return its :class:`Results`.

    ``settings`` are bench.core.config.RunConfig's fields (``scale``, ``seed``, ``systems``,
    ``system_options``, ``embedder``, ...); the files are written where the command writes them
    (``out`` as ``--out``: a name under ``results/runs/``, a folder, or none for the name the
    config gives, :func:`run_folder`), and the cache is the command's, so a second call reuses
    every output."""
    from bench.core.config import RunConfig
    from bench.core.runner import run_table1 as run
    from bench.reports.tables import table_files, write_all

    if isinstance(settings.get("systems"), str):
        settings["systems"] = tuple(s for s in settings["systems"].split(",") if s)
    settings.setdefault("progress", False)
    config = RunConfig(**settings)
    config = config.replace(out_dir=str(run_folder(out, config)))
    files = table_files(run(config), stem)
    mark_latest(write_all({}, config.out_dir, stem, files=files)["json"])
    return from_files(files)


def _plain(value):
    """A DataFrame cell as JSON and markdown want it: NaN -> None, numpy scalars -> Python."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):
        value = value.item()
        if isinstance(value, float) and value != value:
            return None
    return value


def table_records(table: pd.DataFrame) -> list[dict]:
    """The rows of :attr:`Results.table` as plain dicts (the keys of ``STEM.csv``; missing entries
    left out, failure counts as ints), in the run's order."""
    records = []
    for system, row in table.iterrows():
        flat = {"system": str(system)}
        for key, value in row.items():
            value = _plain(value)
            if value is None:
                continue
            if key.endswith("_failed"):
                value = int(value)
            flat[key] = value
        records.append(flat)
    return records


def to_markdown(results: Results, stem: str = "table1") -> str:
    """The markdown table (bench/reports/tables.py: ``render_markdown``) with its rows taken from
    ``results.table``; its footer (dataset, seed, vocoder, git) from the record."""
    from bench.reports.tables import render_markdown

    return render_markdown(results.record, stem, rows=table_records(results.table))


def to_csv(results: Results) -> str:
    return results.table.to_csv(lineterminator="\n")


def to_json(results: Results) -> str:
    """The table as JSON: one object per system with the ``STEM.csv`` keys (``cond_loudness``,
    ``cond_loudness_ci95_low``, ...; Timb. as MCD/100), and the run's provenance in brief."""
    record = results.record
    data, config, env = record["dataset"], record["config"], record["environment"]
    document = {
        "schema": "latentft-bench/table/1",
        "run": {
            "dataset": data["name"],
            "manifest_hash": data["manifest_hash"],
            "scale": config["scale"],
            "seed": config["seed"],
            "embedder": record["embedder"]["id"],
            "vocoder": record["vocoder"],
            "descriptors": record.get("descriptors"),
            "fad_aggregate": record.get("fad_aggregate"),
            "git": env["git"]["revision"],
            "git_dirty": env["git"]["dirty"],
        },
        "units": {"timbre": "MCD/100"},
        "systems": table_records(results.table),
    }
    return json.dumps(document, indent=2) + "\n"


FORMATS = ("md", "csv", "latex", "json")


def render(results: Results, fmt: str, stem: str = "table1", intervals: bool = True) -> str:
    """The table of a run in one of :data:`FORMATS`, always rendered from ``results.table``."""
    if fmt == "md":
        return to_markdown(results, stem)
    if fmt == "csv":
        return to_csv(results)
    if fmt == "latex":
        return to_latex(results, intervals=intervals)
    if fmt == "json":
        return to_json(results)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


# Where a user's runs go, and which run a command reads when none is named.
RUNS_ENV = "BENCH_RUNS_DIR"
COMMITTED_RUN = REPO_ROOT / "results" / "table1.json"
LATEST = "latest"


def runs_root() -> Path:
    """``results/runs/`` (gitignored), or the folder named by ``$BENCH_RUNS_DIR``."""
    return Path(os.environ.get(RUNS_ENV) or REPO_ROOT / "results" / "runs")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+=-]+", "_", text).strip("_.") or "_"


def run_name(config) -> str:
    """A run folder's name from the settings that change its table: scale, seed, dataset (``music21``
    or the data folder's name, with the split file's), the systems when not the default rows, and a
    non-default embedder, vocoder or descriptor implementation; e.g. ``quick-seed0-music21``,
    ``smoke-seed1-fixtures-reference+shuffled``. Over 96 characters it is cut and given a hash."""
    from bench.core.config import DEFAULT_SYSTEMS, RunConfig

    default = RunConfig()
    dataset = Path(config.data).name if config.data else "music21"
    if config.split_file:
        dataset += f"-{Path(config.split_file).stem}"
    parts = [config.scale, f"seed{config.seed}", dataset]
    if tuple(config.systems) != DEFAULT_SYSTEMS:
        parts.append("+".join(config.systems))
    for field in ("embedder", "vocoder", "descriptors"):
        if getattr(config, field) != getattr(default, field):
            parts.append(f"{field}={getattr(config, field)}")
    name = "-".join(_slug(part) for part in parts)
    if len(name) > 96:
        name = f"{name[:87]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return name


def run_folder(out: str | Path | None, config) -> Path:
    """Where a run is written: ``--out NAME`` (a bare name) -> ``results/runs/NAME/``; ``--out``
    with a path separator (``./results``, ``/tmp/x``) -> that folder; none -> ``results/runs/``
    and the name :func:`run_name` derives from the config."""
    if out is None or str(out) == "":
        return runs_root() / run_name(config)
    text = str(out)
    if os.sep in text or (os.altsep and os.altsep in text) or text in (".", ".."):
        return Path(out)
    return runs_root() / text


def mark_latest(record_path: str | Path) -> Path | None:
    """Point ``results/runs/latest`` (a one-line file, written atomically) at a run's JSON record
    when the run is under the runs folder; a run written elsewhere leaves the pointer alone."""
    from bench.core.storage import atomic_write_text

    root = runs_root().resolve()
    path = Path(record_path).resolve()
    if root not in path.parents:
        return None
    atomic_write_text(root / LATEST, path.relative_to(root).as_posix() + "\n")
    return root / LATEST


def shown(path: str | Path) -> str:
    """A path as printed: relative to the working folder when under it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def default_run(log=None) -> Path:
    """The run a command reads when none is named: the one ``results/runs/latest`` points at, else
    the committed ``results/table1.json``; which one is said on stderr (or to ``log``)."""
    import sys

    say = log or (lambda text: print(text, file=sys.stderr))
    pointer = runs_root() / LATEST
    if pointer.is_file():
        target = runs_root() / pointer.read_text().strip()
        if target.is_file():
            say(f"reading {shown(target)} (your latest run, from {shown(pointer)}; name another to choose)")
            return target
        say(f"warning: {shown(pointer)} names {shown(target)}, which does not exist; using the committed run")
    say(f"reading {shown(COMMITTED_RUN)} (the committed run: no run of yours under {shown(runs_root())})")
    return COMMITTED_RUN


def run_clipset(record: dict, run: str | Path, data: str | None, data_cache: str | None):
    """A run's evaluation set, loaded as the run loaded it and checked against the manifest hash its
    record names; ResultsError naming ``run`` when the folder is not given or the set differs."""
    from bench.core.config import RunConfig
    from bench.core.evalset import load_dataset

    config = record["config"]
    if config.get("data") and not data:
        raise ResultsError(f"{run}: the run used the folder {config['data']!r}; pass it with --data DIR")
    run_config = RunConfig(
        scale=config["scale"],
        data_seed=config.get("data_seed", 0),
        data=data,
        split_file=None,
        **({"data_cache_dir": data_cache} if data_cache else {}),
    )
    clipset = load_dataset(run_config, progress=False)
    if clipset.manifest_hash != record["dataset"]["manifest_hash"]:
        raise ResultsError(
            f"{run}: the evaluation set found here (manifest {clipset.manifest_hash[:12]}) is not the "
            f"run's ({record['dataset']['manifest_hash'][:12]}); pass the run's --data / --data-cache"
        )
    return clipset
