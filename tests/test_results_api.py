"""bench.reports.results: a run's files as DataFrames, and the LaTeX rendering of the paper's layout."""

import json
import re

import pytest

from bench.core.paths import REPO_ROOT
from bench.reports.results import ResultsError, load, to_latex

RUN = REPO_ROOT / "results" / "table1.json"


def test_load_gives_every_row_band_and_item_of_the_record():
    results = load(RUN)
    record = json.loads(RUN.read_text())
    assert sorted(results.table.index) == sorted([*record["rows"], *record["unavailable"]])
    n_groups = sum(
        len(result["per_group"]) for row in record["rows"].values() for result in row["tasks"].values()
    )
    assert len(results.bands) == n_groups
    assert set(results.items["system"]) == set(record["rows"])
    loudness = results.metric("cond", "loudness")
    summary = record["rows"]["ilvr"]["tasks"]["conditional"]["summary"]
    assert loudness.loc["ilvr", "value"] == pytest.approx(summary["loudness"], abs=1e-6)
    assert (loudness.loc["ilvr", "low"], loudness.loc["ilvr", "high"]) == pytest.approx(
        summary["loudness_ci95"], abs=1e-6
    )


def test_latex_bolds_the_best_non_anchor_value_of_each_column():
    results = load(RUN)
    latex = to_latex(results)
    assert latex.count(r"\toprule") == 1 and r"\multicolumn{5}{c}{Blending}" in latex
    rows = {
        line.split(" & ")[0]: line.split(" & ")[1:]
        for line in latex.splitlines()
        if " & " in line and not line.startswith(("System", " &"))
    }
    ran = results.table[
        (results.table["status"] == "ok") & ~results.table.index.isin(["reference", "shuffled"])
    ]
    columns = [
        f"{g}_{m}" for g in ("cond", "blend") for m in ("loudness", "rhythm", "timbre", "harmony", "fad")
    ]
    for index, column in enumerate(columns):
        values = ran[column].dropna().round(3)
        best = values.max() if column.endswith(("loudness", "rhythm")) else values.min()
        bold = {name for name, cells in rows.items() if cells[index].startswith(r"\textbf")}
        assert bold == set(values[values == best].index), column
    assert rows["rave$^\\dagger$"][0] == "n/a"
    cell = rows["ilvr"][0]
    value, half = re.match(r"(?:\\textbf\{)?([0-9.]+)\}? \{\\scriptsize \$\\pm\$([0-9.]+)\}", cell).groups()
    interval = results.metric("cond", "loudness").loc["ilvr"]
    assert float(half) == pytest.approx((interval["high"] - interval["low"]) / 2, abs=6e-4)


def test_bad_files_are_named(tmp_path):
    with pytest.raises(ResultsError, match="no such results file"):
        load(tmp_path / "none.json")
    (tmp_path / "t.json").write_text("{oops")
    with pytest.raises(ResultsError, match="t.json: not a JSON record"):
        load(tmp_path / "t.json")
    (tmp_path / "t.json").write_text(RUN.read_text())
    with pytest.raises(ResultsError, match="t.csv: missing"):
        load(tmp_path / "t.json")


def test_markdown_from_the_loaded_record_equals_the_committed_table():
    from bench.reports.tables import render_markdown

    assert render_markdown(load(RUN).record) == RUN.with_suffix(".md").read_text()


@pytest.mark.slow
def test_run_table1_from_python_returns_the_files_it_wrote(tmp_path):
    from conftest import FIXTURES

    import bench

    results = bench.run_table1(
        tmp_path / "run",
        scale="smoke",
        data=str(FIXTURES),
        systems="reference,shuffled",
        cache_dir=str(tmp_path / "cache"),
        data_cache_dir=str(tmp_path / "data"),
    )
    assert list(results.table.index) == ["reference", "shuffled"]
    assert results.table.loc["reference", "cond_loudness"] == pytest.approx(1.0)
    again = bench.load_results(tmp_path / "run" / "table1.json")
    assert again.table.equals(results.table) and again.items.equals(results.items)


def test_the_embedded_sets_skipped_pieces_do_not_break_or_change_the_table():
    from bench.reports.tables import render_markdown

    record = load(RUN).record
    record["dataset"]["skipped_files"] = [{"piece": "beethoven/opus132.mxl", "reason": "parse failed"}]
    assert render_markdown(record) == RUN.with_suffix(".md").read_text()
    record["dataset"]["skipped_files"].append({"file": "a/b.wav", "reason": "silent"})
    assert "1 data file(s) skipped: `a/b.wav` silent" in render_markdown(record)


# Every format renders the numbers of the run's record: each entry is recomputed here from the record's
# summaries (Timb. is MCD/100; CSV and JSON carry the 6-decimal values, markdown and LaTeX print 3).
METRICS = ("loudness", "rhythm", "timbre", "harmony", "fad")
COLUMNS = [(prefix, key) for prefix in ("cond", "blend") for key in METRICS]
SCALE = {"timbre": 0.01}


def record_entries(record: dict) -> dict:
    """{(system, column): (value, low, high)} of every number the record's summaries give."""
    entries = {}
    for name, row in record["rows"].items():
        for task, prefix in (("conditional", "cond"), ("blend", "blend")):
            summary = row["tasks"].get(task, {}).get("summary")
            for key in METRICS:
                if not summary or summary.get(key) is None:
                    continue
                scale = SCALE.get(key, 1.0)
                interval = summary.get(f"{key}_ci95")
                low, high = (
                    (None, None)
                    if interval is None
                    else (round(interval[0] * scale, 6), round(interval[1] * scale, 6))
                )
                entries[(name, f"{prefix}_{key}")] = (round(summary[key] * scale, 6), low, high)
    return entries


def _printed(value, low, high) -> tuple:
    return f"{value:.3f}", None if low is None else f"{(high - low) / 2:.3f}"


def parse_markdown(text: str) -> dict:
    cells = {}
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith(("| system", "|---")):
            continue
        name, *row = line.strip("| ").split(" | ")
        for (prefix, key), cell in zip(COLUMNS, row, strict=True):
            if cell not in ("–", "n/a"):
                value, _, half = cell.partition(" ±")
                cells[(name.removesuffix(" ‡").removesuffix(" †"), f"{prefix}_{key}")] = (value, half or None)
    return cells


def parse_latex(text: str) -> dict:
    cells = {}
    pattern = re.compile(r"(?:\\textbf\{)?([0-9.-]+)\}?(?: \{\\scriptsize \$\\pm\$([0-9.]+)\})?$")
    for line in text.splitlines():
        if " & " not in line or line.startswith(("System", " &")):
            continue
        name, *row = line.removesuffix(r" \\").split(" & ")
        name = name.replace(r"$^\ddagger$", "").replace(r"$^\dagger$", "").replace(r"\_", "_")
        for (prefix, key), cell in zip(COLUMNS, row, strict=True):
            if cell not in ("--", "n/a"):
                cells[(name, f"{prefix}_{key}")] = pattern.match(cell).groups()
    return cells


def parse_table(rows: list[dict]) -> dict:
    """The numbers of CSV / JSON rows: {(system, column): (value, low, high)}."""
    cells = {}
    for row in rows:
        for prefix, key in COLUMNS:
            column = f"{prefix}_{key}"
            value = row.get(column)
            if value is not None and value == value:
                low, high = row.get(f"{column}_ci95_low"), row.get(f"{column}_ci95_high")
                cells[(row["system"], column)] = (
                    value,
                    None if low != low else low,
                    None if high != high else high,
                )
    return cells


def assert_format_gives_the_record(fmt: str, text: str, record: dict) -> None:
    import io

    import pandas as pd

    expected = record_entries(record)
    if fmt in ("csv", "json"):
        rows = (
            pd.read_csv(io.StringIO(text)).to_dict("records") if fmt == "csv" else json.loads(text)["systems"]
        )
        assert parse_table(rows) == expected  # the 6-decimal values, exactly
    else:
        parsed = parse_markdown(text) if fmt == "md" else parse_latex(text)
        assert parsed == {cell: _printed(*entry) for cell, entry in expected.items()}
    assert expected  # a record with no numbers would make every comparison above vacuous


@pytest.mark.parametrize("fmt", ["md", "csv", "latex", "json"])
def test_every_format_of_the_committed_run_renders_the_numbers_of_its_record(fmt):
    from bench.reports.results import render

    results = load(RUN)
    assert_format_gives_the_record(fmt, render(results, fmt), json.loads(RUN.read_text()))


def test_markdown_rendered_from_the_dataframe_is_the_written_table():
    from bench.reports.results import to_markdown

    assert to_markdown(load(RUN)) == RUN.with_suffix(".md").read_text()


def test_the_results_command_prints_json_of_the_named_run(capsys):
    from bench.commands.cli import main

    assert main(["results", str(RUN), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    record = json.loads(RUN.read_text())
    assert document["run"]["manifest_hash"] == record["dataset"]["manifest_hash"]
    ordered = load(RUN).record  # the run's row order (the JSON file's keys are sorted)
    assert [row["system"] for row in document["systems"]] == [*ordered["rows"], *ordered["unavailable"]]
    assert document["systems"][-1]["status"].startswith("unavailable: ")


def test_a_changed_number_fails_the_format_check():
    """The check above can fail: one entry of the record off by 0.001 is caught in every format."""
    from bench.reports.results import render

    results = load(RUN)
    record = json.loads(RUN.read_text())
    record["rows"]["ilvr"]["tasks"]["conditional"]["summary"]["loudness"] += 0.001
    for fmt in ("md", "csv", "latex", "json"):
        with pytest.raises(AssertionError):
            assert_format_gives_the_record(fmt, render(results, fmt), record)
