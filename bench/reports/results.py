"""Table 1 results as pandas data, for notebooks and papers.

``load("results/table1.json")`` reads a run's record and the CSVs written beside it
(bench/reports/tables.py: ``write_all``) and returns :class:`Results`: the systems x metrics table with
its 95 % intervals, the per-band table, the per-item scores and the provenance record.
``to_latex(results)`` renders the paper's two-group layout (booktabs; best value per column in
bold).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

METRICS = (("loudness", "Loud.", True), ("rhythm", "Rhyth.", True), ("timbre", "Timb.", False),
           ("harmony", "Harm.", False), ("fad", "FAD", False))  # (key, label, higher is better)
UP, DOWN = r"$\uparrow$", r"$\downarrow$"
GROUPS = (("cond", "Conditional generation"), ("blend", "Blending"))


class ResultsError(Exception):
    """A results file that cannot be read; the message names it."""


@dataclass
class Results:
    table: pd.DataFrame      # index: system; columns: status, cond_loudness, cond_loudness_ci95_low, ...
    bands: pd.DataFrame      # one row per system, task and band (or band pair)
    items: pd.DataFrame      # one row per system, task and item
    record: dict             # the JSON record: config, dataset, provenance

    def metric(self, group: str, metric: str) -> pd.DataFrame:
        """One entry of the table with its interval: columns value, low, high, indexed by system."""
        key = f"{group}_{metric}"
        columns = {key: "value", f"{key}_ci95_low": "low", f"{key}_ci95_high": "high"}
        present = [c for c in columns if c in self.table]
        return self.table[present].rename(columns=columns)


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise ResultsError(f"{path}: missing ({what} is written beside the run's JSON)")
    try:
        return pd.read_csv(path, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ResultsError(f"{path}: not a readable CSV ({error})") from None


def load(path: str | Path) -> Results:
    """The results of a Table 1 run from its JSON record (``STEM.json``) and the ``STEM.csv``,
    ``STEM_bands.csv`` and ``STEM_items.csv`` beside it."""
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"{path}: no such results file")
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsError(f"{path}: not a JSON record ({error})") from None
    if not isinstance(record, dict) or "rows" not in record or "unavailable" not in record:
        raise ResultsError(f"{path}: not a Table 1 record (no 'rows' and 'unavailable')")
    stem = path.with_suffix("")
    table = _read_csv(stem.with_name(stem.name + ".csv"), "the table").set_index("system")
    bands = _read_csv(stem.with_name(stem.name + "_bands.csv"), "the per-band table")
    items = _read_csv(stem.with_name(stem.name + "_items.csv"), "the per-item scores")
    order = list(table.index)  # the JSON is written with sorted keys; the table keeps the run's order
    for key in ("rows", "unavailable"):
        record[key] = dict(sorted(record[key].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order
                                  else len(order)))
    return Results(table=table, bands=bands, items=items, record=record)


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
    for char, replacement in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                              ("#", r"\#"), ("$", r"\$"), ("{", r"\{"), ("}", r"\}")):
        text = text.replace(char, replacement)
    return text


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
    best = {(g, m): _best(ran[f"{g}_{m}"], higher) if f"{g}_{m}" in ran else None
            for g, _ in GROUPS for m, _, higher in METRICS}
    shown = results if intervals else Results(table.drop(columns=[c for c in table if "_ci95_" in c]),
                                              results.bands, results.items, results.record)
    n = len(METRICS)
    lines = [r"\begin{tabular}{l" + "c" * (2 * n) + "}", r"\toprule",
             " & " + " & ".join(rf"\multicolumn{{{n}}}{{c}}{{{title}}}" for _, title in GROUPS) + r" \\",
             "".join(rf"\cmidrule(lr){{{2 + i * n}-{1 + (i + 1) * n}}}" for i in range(len(GROUPS))),
             "System & " + " & ".join(f"{label} {UP if higher else DOWN}"
                                      for _ in GROUPS for _, label, higher in METRICS) + r" \\",
             r"\midrule"]
    for system, row in table.iterrows():
        name = _escape(str(system))
        if row["status"] not in ("ok", "partial"):
            lines.append(rf"{name}$^\dagger$ & " + " & ".join(["n/a"] * (2 * n)) + r" \\")
            continue
        best_here = best if system not in anchors else {}
        cells = [_cell(shown, system, g, m, best_here.get((g, m)), digits) for g, _ in GROUPS for m, _, _ in METRICS]
        mark = r"$^\ddagger$" if row["status"] == "partial" else ""
        lines.append(f"{name}{mark} & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    data, config = results.record["dataset"], results.record["config"]
    caption = (f"% dataset {data['name']} (manifest {data['manifest_hash'][:12]}), scale {config['scale']}, "
               f"seed {config['seed']}, embedder {results.record['embedder']['id']}, "
               f"vocoder {results.record['vocoder']}, git {results.record['environment']['git']['revision'][:10]}")
    return caption + "\n" + "\n".join(lines) + "\n"


def run_table1(out: str | Path, stem: str = "table1", **settings) -> Results:
    """Run Table 1 from Python (a notebook) and return its :class:`Results`.

    ``settings`` are bench.core.config.RunConfig's fields (``scale``, ``seed``, ``systems``,
    ``system_options``, ``embedder``, ...); the files are written to ``out`` as the command writes
    them, and the cache is the command's, so a second call reuses every output."""
    from bench.core.config import RunConfig
    from bench.core.runner import run_table1 as run
    from bench.reports.tables import write_all

    if isinstance(settings.get("systems"), str):
        settings["systems"] = tuple(s for s in settings["systems"].split(",") if s)
    settings.setdefault("progress", False)
    config = RunConfig(out_dir=str(out), **settings)
    paths = write_all(run(config), config.out_dir, stem)
    return load(paths["json"])
