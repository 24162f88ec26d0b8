"""``python -m bench compare A B``: is system A better than system B on the same items?

Reads the per-item scores a Table 1 run writes (``results/table1_items.csv``), pairs A's and B's
scores item by item (the items are shared: same clips, bands and seeds) and reports, per task
and adherence metric, A's advantage over B (the difference of their table entries, oriented so
that a positive value favours A), its 95 % paired stratified bootstrap interval and the share of
items where A is better (metrics/statistics.py: paired_difference).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from bench.metrics.adherence import HIGHER_IS_BETTER


def read_items(path: Path) -> dict:
    """{(system, task): {item: row}} of the ok items of a *_items.csv file."""
    if not path.is_file():
        raise SystemExit(f"{path} not found: run `make table1` first (it writes the per-item scores)")
    out: dict = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["ok"] == "True":
                out.setdefault((row["system"], row["task"]), {})[row["item"]] = row
    return out


def compare(items: dict, system_a: str, system_b: str, seed: int = 0) -> dict:
    from bench.metrics.statistics import paired_difference

    tasks = sorted(
        {task for system, task in items if system == system_a}
        & {task for system, task in items if system == system_b}
    )
    if not tasks:
        known = sorted({system for system, _ in items})
        raise SystemExit(
            f"no task scored for both {system_a!r} and {system_b!r}; systems with items: {', '.join(known)}"
        )
    result = {"a": system_a, "b": system_b, "seed": seed, "level": 0.95, "tasks": {}}
    for task in tasks:
        a_items, b_items = items[(system_a, task)], items[(system_b, task)]
        shared = sorted(set(a_items) & set(b_items))
        groups = sorted({a_items[i]["group"] for i in shared})
        by_group = {g: [i for i in shared if a_items[i]["group"] == g] for g in groups}
        task_result = {"n_shared_items": len(shared), "metrics": {}}
        for metric in HIGHER_IS_BETTER:

            def scores(table):
                return [[float(table[i][metric]) for i in by_group[g]] for g in groups]

            task_result["metrics"][metric] = paired_difference(
                scores(a_items), scores(b_items), HIGHER_IS_BETTER[metric], seed=seed
            )
        result["tasks"][task] = task_result
    return result


def verdict(entry: dict, a: str, b: str) -> str:
    if entry["ci95"] is None:
        return "no shared items"
    low, high = entry["ci95"]
    return f"{a} better" if low > 0 else f"{b} better" if high < 0 else "not resolved"


def render(result: dict) -> str:
    a, b = result["a"], result["b"]
    lines = []
    for task, task_result in result["tasks"].items():
        lines += [
            f"{task} ({task_result['n_shared_items']} paired items): advantage of {a} over {b} "
            f"(positive favours {a}; timbre in MCD dB)",
            "",
            f"| metric | advantage | 95 % interval | items where {a} is better | verdict |",
            "|---|---|---|---|---|",
        ]
        for metric, entry in task_result["metrics"].items():
            if entry["ci95"] is None:
                lines.append(f"| {metric} | – | – | – | no shared items |")
                continue
            low, high = entry["ci95"]
            lines.append(
                f"| {metric} | {entry['advantage']:+.4f} | [{low:+.4f}, {high:+.4f}] | "
                f"{100 * entry['a_better_fraction']:.1f} % | {verdict(entry, a, b)} |"
            )
        lines.append("")
    return "\n".join(lines)


def add_parser(sub) -> None:
    parser = sub.add_parser("compare", help="paired comparison of two systems on the items of a Table 1 run")
    parser.add_argument("system_a")
    parser.add_argument("system_b")
    parser.add_argument(
        "--items",
        help="the per-item CSV of a run (default: that of your latest run, "
        "results/runs/latest, else the committed results/table1_items.csv)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")

    def run(args) -> int:
        from bench.reports.results import default_run

        if args.items:
            items = Path(args.items)
        else:
            record = default_run()
            items = record.with_name(f"{record.stem}_items.csv")
        result = compare(read_items(items), args.system_a, args.system_b, args.seed)
        print(json.dumps(result, indent=2) if args.json else render(result))
        return 0

    parser.set_defaults(func=run)
