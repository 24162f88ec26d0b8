"""``python -m bench profile SYSTEM``: where one item's generation time goes
(bench/experiments/generation_profile.py)."""

from __future__ import annotations

import json
import sys


def run(args) -> int:
    from bench.core.registry import UnknownNameError, system_status
    from bench.experiments.generation_profile import describe, profile_system

    if args.items < 1:
        print(f"error: --items {args.items}: must be >= 1", file=sys.stderr)
        return 2
    try:
        status = system_status(args.system, {})
    except UnknownNameError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not status.availability.ok:
        print(f"error: {args.system} cannot run here: {status.availability.reason}", file=sys.stderr)
        return 2
    try:
        record = profile_system(args.system, args.items, args.steps, args.vocoder, args.device)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {args.system}: {error}", file=sys.stderr)
        return 2
    print(json.dumps(record, indent=2) if args.json else describe(record))
    return 0


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "profile", help="time one system's generation: denoiser calls, sampler steps, vocoder, copies"
    )
    parser.add_argument("system", help="a system name (python -m bench systems)")
    parser.add_argument("--items", type=int, default=1, help="conditional items timed (default 1)")
    parser.add_argument("--steps", type=int, help="sampler steps (default: the quick scale's)")
    parser.add_argument("--vocoder", help="vocoder spec (default: the quick scale's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(func=run)
