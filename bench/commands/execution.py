"""The executor arguments that table1 and sweep share (bench/core/executors.py runs them)."""

from __future__ import annotations


def execution_from_args(args):
    """The Execution that ``--executor``, ``--executor-option``, ``--shard``, ``--no-wait`` and
    ``--unit-items`` ask for."""
    from bench.core.executors import Execution, parse_options, parse_shard

    if args.unit_items < 1:
        raise SystemExit(f"--unit-items {args.unit_items}: must be >= 1")
    return Execution(
        args.executor,
        parse_options(args.executor_option, args.executor_config),
        parse_shard(args.shard) if args.shard else None,
        not args.no_wait,
        args.unit_items,
    )


def add_execution_arguments(parser) -> None:
    parser.add_argument(
        "--executor",
        default="inline",
        help="inline (default) | local[:N] | ray | ray:auto | ray:HOST:PORT | slurm",
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
