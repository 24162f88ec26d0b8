"""``python -m bench merge RUN.json ...``: one table from Table 1 runs made apart (another machine,
another day, your own system run alone), refused unless they scored the same thing.

Runs are comparable when they agree on the evaluation set (manifest hash), the seeded clip
selection, the scale, the tasks, the embedder id, the vocoder, the descriptor implementation and
the FAD aggregation; the first difference is named with both values. Rows keep their own
fingerprints; the merged record lists every source run with its git revision and environment, and
a system present in several runs is taken from the last one named (said on the console and in the
record). Per-item scores (``STEM_items.csv`` next to each JSON) are merged the same way, so
``python -m bench compare`` works on the merged table.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

COMPARABLE = (
    ("dataset", "manifest_hash"),
    ("selection",),
    ("config", "scale"),
    ("config", "tasks"),
    ("embedder", "id"),
    ("vocoder",),
    ("descriptors",),
    ("fad_aggregate",),
)


def _get(record: dict, path: tuple):
    value = record
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def load_run(path: Path) -> dict:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"{path}: not a readable Table 1 record ({error})") from None
    if not str(record.get("schema", "")).startswith("latentft-bench/table1/"):
        raise SystemExit(f"{path}: not a Table 1 record (schema {record.get('schema')!r})")
    return record


def merge_records(paths: list[Path], log=print) -> tuple[dict, dict[str, Path]]:
    """(merged record, system -> the run file its row came from)."""
    if not paths:
        raise SystemExit("name at least one run")
    records = [load_run(p) for p in paths]
    first = records[0]
    for path, record in zip(paths[1:], records[1:]):
        for field in COMPARABLE:
            if _get(record, field) != _get(first, field):
                name = ".".join(field)
                raise SystemExit(
                    f"{path} and {paths[0]} differ in {name}: {_get(record, field)!r} vs "
                    f"{_get(first, field)!r}; only runs of the same evaluation can share a table"
                )
    merged = {
        k: v
        for k, v in first.items()
        if k not in ("rows", "unavailable", "timings_s", "generation_cost", "resources")
    }
    merged["rows"], merged["unavailable"], merged["generation_cost"], origin = {}, {}, {}, {}
    merged["merged_from"] = [
        {
            "file": str(p),
            "git": r["environment"]["git"],
            "systems": list(r["rows"]),
            "environment": r["environment"],
            "resources": r.get("resources"),
        }
        for p, r in zip(paths, records)
    ]
    _name_instruction_sets(paths, records, merged, log)
    replaced = []
    for path, record in zip(paths, records):
        order = [n for n in record["config"].get("systems", []) if n in record["rows"]]
        for name in order + sorted(set(record["rows"]) - set(order)):  # the run's own row order
            row = record["rows"][name]
            if name in origin:
                replaced.append(f"{name}: {origin[name]} replaced by {path}")
                log(f"{name}: taken from {path} (also in {origin[name]})")
            merged["rows"][name], origin[name] = row, path
            merged["generation_cost"][name] = record.get("generation_cost", {}).get(name, {})
            merged["unavailable"].pop(name, None)
        for name, why in record["unavailable"].items():
            if name not in merged["rows"]:
                merged["unavailable"][name] = why
    merged["replaced_rows"] = replaced
    return merged, origin


def _name_instruction_sets(paths, records, merged: dict, log) -> None:
    """Each run's instruction-set pins and host on the console and in the record, and a warning when
    their item bits may differ (bench/core/determinism.py)."""
    from bench.core.determinism import describe, mismatch

    states = [r.get("environment", {}).get("determinism") for r in records]
    merged["instruction_sets"] = [{"file": str(p), "run": describe(s)} for p, s in zip(paths, states)]
    for path, state in zip(paths, states):
        log(f"{path}: {describe(state)}")
    why = mismatch(states)
    if why:
        merged["instruction_sets_warning"] = why
        log(f"warning: {why}")


def merge_items(origin: dict[str, Path], out: Path) -> Path | None:
    """Concatenate the per-item rows of each system from the run its table row came from."""
    rows, fields = [], []
    for system, path in origin.items():
        items = Path(path).with_name(Path(path).stem + "_items.csv")
        if not items.is_file():
            continue
        with open(items, newline="") as handle:
            reader = csv.DictReader(handle)
            fields = fields or list(reader.fieldnames or [])
            rows += [row for row in reader if row["system"] == system]
    if not rows:
        return None
    import io

    from bench.core.storage import atomic_write_text

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out, buffer.getvalue())
    return out
