"""The executor arguments that table1 and sweep share (bench/core/executors.py runs them)."""

from __future__ import annotations

import sys


def execution_from_args(args):
    """The Execution that ``--executor``, ``--executor-option``, ``--shard``, ``--no-wait`` and
    ``--unit-items`` ask for; ``local:auto`` resolved for this machine and printed."""
    from bench.core.executors import Execution, parse_options, parse_shard, resolve_executor

    if args.unit_items < 1:
        raise SystemExit(f"--unit-items {args.unit_items}: must be >= 1")
    executor, why = resolve_executor(args.executor, getattr(args, "device", "cpu"))
    if why:
        print(f"executor: {executor} ({why}; --executor inline runs in this process)", file=sys.stderr)
    return Execution(
        executor,
        parse_options(args.executor_option, args.executor_config),
        parse_shard(args.shard) if args.shard else None,
        not args.no_wait,
        args.unit_items,
    )


def add_execution_arguments(parser, default: str = "inline") -> None:
    parser.add_argument(
        "--executor",
        default=default,
        help=f"local:auto (one single-threaded worker per core; inline on one core) | inline | local[:N] "
        f"| ray | ray:auto | ray:HOST:PORT | slurm (default {default})",
    )
    parser.add_argument(
        "--executor-option",
        action="append",
        metavar="KEY=VALUE",
        help="executor settings, e.g. partition=gpu gpus_per_task=1 time=240 parallelism=32 "
        "(slurm), results=driver max_retries=3 (ray)",
    )
    parser.add_argument("--executor-config", metavar="YAML", help="executor settings from a YAML mapping")
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="run only the I-th of N shards of the plan "
        "(for a scheduler's own arrays); the same command without it assembles",
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="slurm: submit the array and return; the same command later assembles",
    )
    parser.add_argument("--unit-items", type=int, default=32, help="items per work unit (default 32)")


def report_unassembled(args, what: str) -> int:
    """What a shard or a --no-wait submission prints instead of the assembled result (exit 0)."""
    done = f"shard {args.shard}" if args.shard else "the submission"
    print(f"{done}: done; run the same command without --shard / --no-wait to {what}")
    return 0
