"""Reading the numbers back out of a rendered Table 1 (markdown, LaTeX, CSV, JSON), to check that
every format shows the record's values (tests/test_results_api.py, tests/test_runs_folder.py)."""

import json
import re

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
