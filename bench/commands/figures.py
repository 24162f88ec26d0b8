"""``python -m bench isolate`` and ``python -m bench sweep``: the command line of the figures in
bench/reports/figures.py."""

from __future__ import annotations

from bench.commands.execution import add_execution_arguments, report_unassembled
from bench.commands.execution import execution_from_args as _execution
from bench.core.bands import Band
from bench.core.config import parse_system_options
from bench.reports.figures import isolate, sweep


def _cmd_sweep(args) -> int:
    from bench.core.executors import ExecutorError

    try:
        path = sweep(
            args.system,
            args.clips,
            args.window,
            args.steps,
            options=parse_system_options(args.system_option).get(args.system, {}),
            probe_clips=args.probe_clips,
            execution=_execution(args),
            data=args.data,
            cache_dir=args.cache,
            data_cache_dir=args.data_cache,
            out_dir=args.out,
        )
    except ExecutorError as error:
        import sys

        print(f"error: {error}", file=sys.stderr)
        return 2
    if path is None:
        return report_unassembled(args, "write the sweep")
    print(path)
    return 0


def add_parsers(sub) -> None:
    def options(args):
        return parse_system_options(args.system_option).get(args.system, {})

    iso = sub.add_parser("isolate", help="isolate one latent band of a few clips (audio + figure)")
    iso.add_argument("--system", default="latentft-mlp")
    iso.add_argument("--band", default="0.0626:0.2501", help="LOW:HIGH, normalised latent frequency")
    iso.add_argument("--clips", type=int, default=2)
    iso.add_argument("--steps", type=int, default=50)
    iso.add_argument("--system-option", action="append", metavar="SYSTEM.KEY=VALUE")
    iso.set_defaults(
        func=lambda a: print(isolate(a.system, Band.parse(a.band), a.clips, a.steps, options=options(a))) or 0
    )
    sw = sub.add_parser("sweep", help="variations across the latent spectrum and what they preserve")
    sw.add_argument("--system", default="latentft-mlp")
    sw.add_argument(
        "--clips", type=int, default=8, help="reference clips per window (the probe curve needs several)"
    )
    sw.add_argument("--window", type=int, default=10)
    sw.add_argument("--steps", type=int, default=25)
    sw.add_argument(
        "--probe-clips", type=int, default=384, help="music21 train clips the instrument probe learns from"
    )
    sw.add_argument("--system-option", action="append", metavar="SYSTEM.KEY=VALUE")
    sw.add_argument(
        "--data", help="evaluation clips from this folder (default: the quick scale's embedded set)"
    )
    sw.add_argument("--cache", help="where the work units' results go (default results/cache)")
    sw.add_argument("--data-cache", help="where the evaluation set is rendered (default datasets/cache)")
    sw.add_argument("--out", help="folder of the CSV and figure (default results/figures)")
    add_execution_arguments(sw)
    sw.set_defaults(func=_cmd_sweep)
