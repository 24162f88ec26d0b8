"""``python -m bench figures``, ``compare`` and ``merge``: the command line of the run reports in
bench/reports/ (band_figures.py, compare.py, merge.py)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.reports.band_figures import NO_LEVELS_NOTE, FigureInputError, write_band_figures
from bench.reports.compare import compare, read_items, render
from bench.reports.merge import merge_items, merge_records


def add_figures_parser(sub) -> None:
    def run(args) -> int:
        import sys

        from bench.reports.results import default_run

        try:
            paths = write_band_figures(args.run or default_run(), args.out, args.vampnet_run)
        except FigureInputError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"wrote {', '.join(str(p) for p in paths.values())}")
        if "levels_csv" not in paths:
            print(f"note: {NO_LEVELS_NOTE}")
        return 0

    parser = sub.add_parser(
        "figures",
        help="per-band quality and adherence against latent frequency for every system of a run "
        "(Fig. 13 right) and VampNet's FAD per RVQ level (Fig. 13 left)",
    )
    parser.add_argument(
        "--run",
        help="a table1 JSON record (default: your latest run, results/runs/latest, "
        "else the committed results/table1.json)",
    )
    parser.add_argument(
        "--vampnet-run",
        help="a table1 JSON record with a vampnet row made with --system-option vampnet.settings=levels "
        "(Fig. 13 left; default: the run itself when its vampnet row is such, else none)",
    )
    parser.add_argument("--out", help="output folder (default: results/figures/)")
    parser.set_defaults(func=run)


def add_compare_parser(sub) -> None:
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
        bundle, pooled, note = _embeddings(items)
        result = compare(read_items(items), args.system_a, args.system_b, args.seed, bundle, pooled)
        if note:
            result["distribution_note"] = note
        print(json.dumps(result, indent=2) if args.json else render(result))
        return 0

    parser.set_defaults(func=run)


def _embeddings(items: Path):
    """(bundle, pooled, note): the embeddings of the run whose per-item CSV is ``items`` (its
    record ``STEM.json`` beside it names them), or None and why not."""
    from bench.core.distribution_stats import BundleError, read_bundle

    record_path = items.with_name(items.name.replace("_items.csv", ".json"))
    try:
        record = json.loads(record_path.read_text())
        return (
            read_bundle(record.get("distribution_embeddings"), record_path),
            record.get("fad_aggregate") == "pooled",
            None,
        )
    except (OSError, ValueError) as error:  # BundleError is a ValueError
        reason = str(error) if isinstance(error, BundleError) else f"{record_path}: {error}"
        return None, False, f"not compared ({reason})"


def add_merge_parser(sub) -> None:
    parser = sub.add_parser("merge", help="one table from Table 1 runs made apart (same evaluation only)")
    parser.add_argument(
        "runs", nargs="+", help="table1.json files; a system in several is taken from the last"
    )
    parser.add_argument(
        "--out", help="NAME: results/runs/NAME/; a path with a /: that folder (default: results/runs/STEM/)"
    )
    parser.add_argument("--stem", default="table1-merged")

    def run(args) -> int:
        from bench.reports.results import mark_latest, run_folder, runs_root, shown
        from bench.reports.tables import render_markdown, write_all

        paths = [Path(p) for p in args.runs]
        merged, origin = merge_records(paths)
        out = run_folder(args.out, None) if args.out else runs_root() / args.stem
        written = write_all(merged, out, args.stem)
        if merge_items(origin, written["items"]) is None:
            written.pop("items").unlink()  # no source run had per-item scores
        print(render_markdown(merged))
        print(f"wrote {', '.join(shown(p) for p in written.values())}")
        if mark_latest(written["json"]):
            print(f"latest run: {shown(written['json'])}")
        return 0

    parser.set_defaults(func=run)
