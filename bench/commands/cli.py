"""Command line: ``python -m bench COMMAND [options]``; the commands are those :func:`build_parser`
registers, listed by ``python -m bench --help``.

Exit codes: 0 done; 1 an unexpected error; 2 bad input named on stderr (a file, an option, a
system name); 3 ``table1`` ran but no row produced a figure (every row † or every item failed:
the table, the records and each row's reason and fix are still printed and written).
See docs/untrusted-files.md."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings

from bench.commands.execution import add_execution_arguments, report_unassembled
from bench.commands.execution import execution_from_args as _execution
from bench.core.config import SCALES, parse_system_options

EXIT_NOTHING_RAN = 3  # table1: the table and records written, but no row has a figure


def cmd_table1(args) -> int:
    from bench.core.config import DEFAULT_SYSTEMS, RunConfig
    from bench.core.executors import ExecutorError
    from bench.core.paths import CHECKOUT_ROOT, REPO_ROOT
    from bench.core.runner import RunIncomplete, run_table1
    from bench.reports.results import from_files, mark_latest, render, run_folder, shown
    from bench.reports.tables import table_files, write_all

    systems = tuple(s for s in (args.systems or ",".join(DEFAULT_SYSTEMS)).split(",") if s)
    config = RunConfig(
        scale=args.scale,
        seed=args.seed,
        data=args.data,
        split_file=args.split_file,
        systems=systems,
        embedder=args.embedder,
        vocoder=args.vocoder,
        descriptors=args.descriptors,
        batch_size=args.batch_size,
        strict=args.strict,
        retry_failed=args.retry_failed,
        system_options=parse_system_options(args.system_option),
        progress=not args.no_progress,
        device=args.device,
        **({"cache_dir": args.cache} if args.cache else {}),
        **({"data_cache_dir": args.data_cache} if args.data_cache else {}),
    )
    if args.publish:
        refusal = _publish_refusal(config, args)
        if CHECKOUT_ROOT is None:
            refusal = "writes the committed results/ of a source checkout; this is an installed package"
        if refusal:
            print(f"error: --publish {refusal}", file=sys.stderr)
            return 2
        out = REPO_ROOT / "results"
    else:
        out = run_folder(args.out, config)
    config = config.replace(out_dir=str(out))
    try:
        execution = _execution(args)
        record = run_table1(config, execution)
    except (ExecutorError, RunIncomplete) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if record is None:
        return report_unassembled(args, "assemble the tables")
    from bench.reports.distribution_metrics import extend_record, parse

    record = extend_record(record, parse(args.distribution), config.cache_dir)
    files = table_files(record, args.stem)
    paths = write_all(record, config.out_dir, args.stem, files=files)
    results = from_files(files, {kind: str(path) for kind, path in paths.items()})  # nothing read back
    table = render(results, args.format, args.stem)
    if args.format == "latex":
        from bench.core.storage import atomic_write_text

        paths["latex"] = paths["json"].with_suffix(".tex")
        atomic_write_text(paths["latex"], table)
    print(table, end="\n" if args.format == "md" else "")
    costs = [
        f"{name} {task} {cost['mean_s']:.3f}"
        for name, tasks in record["generation_cost"].items()
        for task, cost in tasks.items()
        if cost.get("items_timed")
    ]
    if costs:
        print(
            "generation seconds per item, as measured when each item was made (table1.json: "
            "generation_cost): " + ", ".join(costs),
            file=_notes(args),
        )
    resources = record["resources"]
    print(
        f"wrote {', '.join(shown(p) for p in paths.values())} in {record['timings_s']['total']:.0f} s "
        f"(peak memory {resources['peak_rss_mib']:.0f} MiB)",
        file=_notes(args),
    )
    if args.publish:
        _publish_readme(REPO_ROOT / "README.md", render(results, "md", args.stem))
    elif mark_latest(paths["json"]):
        print(
            f"latest run: {shown(paths['json'])} (what figures, compare, results and listening build "
            "read when no run is named)",
            file=_notes(args),
        )
    if not _rows_with_figures(record):
        parts = [f"{len(record['unavailable'])} not run (marked †, each with its reason and fix)"] * bool(
            record["unavailable"]
        ) + [f"{len(record['rows'])} with every item failed"] * bool(record["rows"])
        print(
            f"error: no row produced a figure: {', '.join(parts) or 'no systems'}; exit {EXIT_NOTHING_RAN}",
            file=sys.stderr,
        )
        return EXIT_NOTHING_RAN
    return 0


def _rows_with_figures(record: dict) -> list[str]:
    """The rows of a Table 1 record with at least one item scored."""
    return [
        name
        for name, row in record["rows"].items()
        if any(task["summary"]["n_ok"] for task in row["tasks"].values())
    ]


def _notes(args):
    """Where table1's own notes go: stdout after the markdown, stderr when the table is machine-read."""
    return sys.stdout if args.format == "md" else sys.stderr


PUBLISHED = {
    "scale": "quick",
    "seed": 0,
    "data": None,
    "split_file": None,
    "embedder": "melstats",
    "vocoder": None,
    "descriptors": "fast",
}


def _publish_refusal(config, args) -> str | None:
    """Why this run may not replace the committed results/table1.* and the README's table (whose
    heading says: embedded default, SCALE=quick), or None."""
    from bench.core.config import DEFAULT_SYSTEMS

    changed = [
        f"{key}={getattr(config, key)!r}" for key, value in PUBLISHED.items() if getattr(config, key) != value
    ]
    if tuple(config.systems) != DEFAULT_SYSTEMS:
        changed.append(f"systems={','.join(config.systems)}")
    if config.system_options:
        changed.append("--system-option")
    if args.out or args.stem != "table1":
        changed.append("--out/--stem")
    if changed:
        return (
            "writes the committed table (embedded set, SCALE=quick, seed 0, the default rows); this run "
            f"differs: {', '.join(changed)}. Run without --publish: it goes to results/runs/"
        )
    return None


def _publish_readme(readme, markdown: str) -> None:
    from bench.core.storage import atomic_write_text
    from bench.reports.tables import replace_readme_table

    try:
        atomic_write_text(readme, replace_readme_table(readme.read_text(), markdown))
    except (OSError, ValueError) as error:
        print(f"warning: {readme}: table not refreshed ({error})", file=sys.stderr)
        return
    print(f'published: results/table1.* and the table under "Latest table" in {readme.name}')


def cmd_systems(args) -> int:
    from bench.core.registry import broken_plugins, system_names, system_status

    statuses = [system_status(name) for name in system_names()]
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "capabilities": s.capabilities,
                        "available": s.availability.ok,
                        "reason": s.availability.reason,
                        "fix": s.availability.fix,
                        "description": s.description,
                    }
                    for s in statuses
                ],
                indent=2,
            )
        )
        return 0
    width = max(len(s.name) for s in statuses)
    for s in statuses:
        state = "available" if s.availability.ok else f"unavailable: {s.availability.reason}"
        print(f"{s.name:<{width}}  [{', '.join(s.capabilities)}]  {state}")
        if not s.availability.ok and s.availability.fix:
            print(f"{'':<{width}}  fix: {s.availability.fix}")
        if args.verbose:
            print(f"{'':<{width}}  {s.description}")
            if s.availability.ok:
                _print_info(s.name, width)
    for where, error in broken_plugins().items():
        print(f"broken plugin {where}: {error}")
    return 0


def _print_info(name: str, width: int) -> None:
    from bench.core.registry import get_system_class
    from bench.core.system import RunContext

    try:
        info = get_system_class(name)(RunContext(pool=None, pool_ids=[])).info()
    except Exception as error:
        info = {"info unavailable": str(error)}
    for key, value in info.items():
        print(f"{'':<{width}}  {key}: {value}")


def cmd_embedders(args) -> int:
    from bench.adapters.embedders import embedder_status

    for name, availability in embedder_status():
        state = "available" if availability.ok else f"unavailable: {availability.reason}"
        print(f"{name:<11} {state}")
        if not availability.ok and availability.fix:
            print(f"{'':<11} fix: {availability.fix}")
    return 0


def cmd_data(args) -> int:
    from bench.core.config import RunConfig
    from bench.core.runner import load_dataset

    config = RunConfig(
        scale=args.scale,
        data=args.data,
        split_file=args.split_file,
        strict=args.strict,
        **({"data_cache_dir": args.data_cache} if args.data_cache else {}),
    )
    clipset = load_dataset(config)
    print(
        json.dumps(
            {
                "name": clipset.name,
                "clips": len(clipset),
                "manifest_hash": clipset.manifest_hash,
                "root": str(clipset.root),
                "skipped": clipset.manifest.get("skipped", []),
            },
            indent=2,
        )
    )
    return 0


def cmd_regress(args) -> int:
    from bench.experiments.drift import run_regress

    return run_regress(progress=args.progress, embedder=args.embedder)


def cmd_results(args) -> int:
    from bench.reports.results import ResultsError, default_run, load, render

    try:
        results = load(args.run or default_run())
    except ResultsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(render(results, args.format, intervals=not args.no_intervals), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    table = sub.add_parser("table1", help="run the Table 1 tasks and write results/runs/NAME/table1.*")
    table.add_argument("--scale", default="quick", choices=tuple(SCALES))
    table.add_argument("--seed", type=int, default=0)
    table.add_argument("--data", help="folder of audio (default: the embedded music21 set)")
    table.add_argument("--split-file", help="text file of relative paths to use from --data")
    table.add_argument("--systems", help="comma-separated system names (default: all built-in rows)")
    table.add_argument(
        "--embedder",
        default="melstats",
        help="melstats | crepe-tiny | crepe-full | vggish[:/path/to/weights]",
    )
    table.add_argument(
        "--descriptors",
        default="fast",
        choices=("fast", "reference"),
        help="descriptor implementation: batched torch (default) or the librosa reference",
    )
    table.add_argument(
        "--vocoder",
        help="griffin-lim[:iterations] or bigvgan:/dir/with/config.json+bigvgan_generator.pt "
        "(default: the scale's)",
    )
    table.add_argument("--batch-size", type=int, default=8)
    table.add_argument("--system-option", action="append", metavar="SYSTEM.KEY=VALUE")
    table.add_argument(
        "--strict",
        action="store_true",
        help="exit 2 naming every data file that cannot be used, before any work",
    )
    table.add_argument("--retry-failed", action="store_true", help="regenerate items that failed before")
    table.add_argument("--device", default="cpu")
    table.add_argument(
        "--out",
        help="NAME: write to results/runs/NAME/; a path with a / (./mine, /tmp/x): "
        "that folder (default: results/runs/ and a name from scale, seed, dataset, systems)",
    )
    table.add_argument(
        "--format",
        default="md",
        choices=("md", "csv", "latex", "json"),
        help="the table printed (default md); latex is also written as STEM.tex",
    )
    table.add_argument(
        "--publish",
        action="store_true",
        help="write the committed results/table1.* and the README's table instead "
        "(make table1-publish; the default run only)",
    )
    table.add_argument("--cache", help="cache folder (default: results/cache/)")
    table.add_argument("--data-cache", help="prepared evaluation sets (default: datasets/cache/)")
    table.add_argument("--stem", default="table1", help="output file name stem")
    table.add_argument(
        "--distribution",
        default="fad,kad",
        help="distribution metrics, of fad,kad,prdc,mauve,fad-inf (default fad,kad: the table as "
        "before; the others add columns; docs/metrics.md)",
    )
    table.add_argument("--no-progress", action="store_true")
    add_execution_arguments(table, default="local:auto")
    table.set_defaults(func=cmd_table1)

    systems = sub.add_parser("systems", help="list systems and whether they can run here")
    systems.add_argument("--verbose", "-v", action="store_true")
    systems.add_argument("--json", action="store_true")
    systems.set_defaults(func=cmd_systems)

    embedders = sub.add_parser("embedders", help="list FAD/KAD embedders and whether they can run here")
    embedders.set_defaults(func=cmd_embedders)

    data = sub.add_parser("data", help="build or load an evaluation set and print its manifest hash")
    data.add_argument("--scale", default="quick", choices=tuple(SCALES))
    data.add_argument("--data")
    data.add_argument("--split-file")
    data.add_argument("--strict", action="store_true", help="exit 2 naming every file that cannot be used")
    data.add_argument("--data-cache", help="prepared evaluation sets (default: datasets/cache/)")
    data.set_defaults(func=cmd_data)

    regress = sub.add_parser("regress", help="compare a smoke run with the committed golden results")
    regress.add_argument("--progress", action="store_true")
    regress.add_argument(
        "--embedder", default="melstats", help="melstats (the golden values') or melstats-fast"
    )
    regress.set_defaults(func=cmd_regress)

    results = sub.add_parser(
        "results", help="print a run's table as LaTeX (booktabs, best in bold), CSV, markdown or JSON"
    )
    results.add_argument(
        "run",
        nargs="?",
        help="the run's JSON record, e.g. results/runs/NAME/table1.json "
        "(default: your latest run, else the committed results/table1.json)",
    )
    results.add_argument("--format", default="latex", choices=("latex", "csv", "md", "json"))
    results.add_argument("--no-intervals", action="store_true", help="LaTeX: values only, no ± cells")
    results.set_defaults(func=cmd_results)

    from bench.commands.figures import add_parsers as add_figure_parsers

    add_figure_parsers(sub)

    from bench.commands.train import add_parser as add_train_parser

    add_train_parser(sub)

    from bench.commands.diagnose import add_parser as add_diagnose_parser

    add_diagnose_parser(sub)

    from bench.commands.metrics import add_parser as add_metrics_parser

    add_metrics_parser(sub)

    from bench.commands.model_tables import add_ablation_parser, add_hierarchy_parser, add_lincae_parser
    from bench.commands.run_reports import add_compare_parser, add_figures_parser, add_merge_parser

    for add in (
        add_hierarchy_parser,
        add_lincae_parser,
        add_ablation_parser,
        add_compare_parser,
        add_merge_parser,
        add_figures_parser,
    ):
        add(sub)

    from bench.commands.listening import add_parser as add_listening_parser
    from bench.commands.report import add_parser as add_report_parser

    add_listening_parser(sub)
    add_report_parser(sub)

    from bench.commands.profile import add_parser as add_profile_parser

    add_profile_parser(sub)

    from bench.commands.vamp import add_parser as add_vamp_parser

    add_vamp_parser(sub)
    parser.description = (
        f"The benchmark harness's {len(sub.choices)} commands, listed below from this "
        "parser; python -m bench COMMAND --help shows one command's options. Exit codes: "
        "0 done, 2 bad input (named), 3 table1 with no row that produced a figure."
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    from bench.core import determinism

    determinism.apply()  # before torch/numpy load: they read the pins once (docs/caching-determinism.md)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.simplefilter("default")
    warnings.formatwarning = lambda message, category, *a, **k: f"warning: {message}\n"
    args = build_parser().parse_args(argv)
    from bench.adapters.embedders import EmbedderUnavailable
    from bench.adapters.vocoders import VocoderUnavailable
    from bench.core.registry import UnknownSystemError
    from bench.core.safe_load import UnreadableFileError
    from bench.datasets.folder import DatasetError
    from bench.datasets.layouts import LayoutError
    from bench.models.checkpoint_store import CheckpointError

    try:
        return args.func(args)
    except (
        EmbedderUnavailable,
        VocoderUnavailable,
        LayoutError,
        DatasetError,
        UnknownSystemError,
        UnreadableFileError,
        CheckpointError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
