"""``python -m bench table-hdae``, ``table-lincae`` and ``table-ablations``: the command line of the
model tables in bench/experiments/ (hierarchy_table.py, lincae_table.py, ablation_table.py)."""

from __future__ import annotations

from pathlib import Path

from bench.experiments.ablation_table import STEM, run_ablation_table
from bench.experiments.hierarchy_table import run_hierarchy_table
from bench.experiments.lincae_table import run_lincae_table
from bench.models.latentft_ablations import ABLATION_SYSTEMS, BASE, VARIANTS


def parse_checkpoints(items: list[str]) -> dict:
    """``SYSTEM=PATH`` options to a dict."""
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--checkpoint {item!r}: expected SYSTEM=PATH")
        system, path = item.split("=", 1)
        out[system] = path
    return out


def add_report_arguments(parser) -> None:
    """The options every model table takes: --seed, --embedder, --checkpoint SYSTEM=PATH, and
    where it is written (:func:`add_output_arguments`)."""
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embedder", default="melstats")
    parser.add_argument("--checkpoint", action="append", metavar="SYSTEM=PATH", default=[])
    add_output_arguments(parser)


def add_output_arguments(parser) -> None:
    """``--out`` and ``--publish``, read back by :func:`report_folder`."""
    parser.add_argument(
        "--out",
        help="NAME: write to results/runs/NAME/; a path with a / : that folder "
        "(default results/runs/<the command's name>/, gitignored)",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="write the committed results/<table>.* instead (the default run only)",
    )


def report_folder(parser, args, name: str, ignored: tuple[str, ...] = ("no_progress", "device")) -> Path:
    """Where a model table is written. Without ``--publish``: ``results/runs/NAME/`` for ``--out
    NAME``, the folder itself for an ``--out`` with a path separator, else ``results/runs/<name>/``
    (gitignored, so that running a table never changes the committed files). With ``--publish``:
    ``results/``, refused (SystemExit naming each option) unless every option is at its default,
    since the committed tables and the README describe the default run."""
    import os

    from bench.core.paths import REPO_ROOT
    from bench.reports.results import runs_root

    if args.publish:

        def same(value, default) -> bool:
            def as_tuple(v):
                return tuple(v) if isinstance(v, list) else v

            return as_tuple(value) == as_tuple(default)

        changed = [
            f"--{key.replace('_', '-')}={value!r}"
            for key, value in sorted(vars(args).items())
            if key not in ignored + ("publish", "func", "command", "out")
            and not same(value, parser.get_default(key))
        ]
        if args.out:
            changed.append("--out")
        if changed:
            raise SystemExit(
                f"error: --publish writes the committed results/ tables of the default run; this "
                f"run differs: {', '.join(changed)}. Run without --publish: it goes to results/runs/"
            )
        return REPO_ROOT / "results"
    if not args.out:
        return runs_root() / name
    text = str(args.out)
    if os.sep in text or (os.altsep and os.altsep in text) or text in (".", ".."):
        return Path(text)
    return runs_root() / text


def add_hierarchy_parser(sub) -> None:
    parser = sub.add_parser(
        "table-hdae", help="multi-scale spectral DAE vs HDAE: probes, swaps, reconstruction"
    )
    add_report_arguments(parser)
    parser.add_argument("--train-notes", type=int, default=1024)
    parser.add_argument("--test-notes", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--vocoder", default="griffin-lim:32")
    parser.add_argument(
        "--melody-clips",
        type=int,
        nargs=2,
        default=(384, 64),
        metavar=("TRAIN", "TEST"),
        help="music21 clips for the frame-wise melody probe (0 0 skips it)",
    )
    parser.add_argument("--melody-epochs", type=int, default=60)
    parser.add_argument(
        "--nsynth",
        nargs=2,
        metavar=("TRAIN_DIR", "TEST_DIR"),
        help="NSynth folders (each with examples.json and audio/) instead of the rendered notes",
    )

    def run(args) -> int:
        args.out = str(report_folder(parser, args, "table-hdae"))
        checkpoints = parse_checkpoints(args.checkpoint)
        run_hierarchy_table(
            args.seed,
            args.train_notes,
            args.test_notes,
            args.pairs,
            args.steps,
            args.embedder,
            args.vocoder,
            checkpoints,
            tuple(args.nsynth) if args.nsynth else None,
            args.out,
            melody_clips=tuple(args.melody_clips),
            melody_epochs=args.melody_epochs,
        )
        print((Path(args.out) / "table_hdae.md").read_text())
        return 0

    parser.set_defaults(func=run)


def add_lincae_parser(sub) -> None:
    parser = sub.add_parser(
        "table-lincae", help="Lin-CAE vs its baseline: linearity, reconstruction, separation"
    )
    add_report_arguments(parser)
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--musdb", help="a MUSDB18-HQ folder (its test split) instead of the music21 stems")

    def run(args) -> int:
        args.out = str(report_folder(parser, args, "table-lincae"))
        checkpoints = parse_checkpoints(args.checkpoint)
        run_lincae_table(args.seed, args.clips, args.embedder, checkpoints, args.musdb, args.out)
        print((Path(args.out) / "table_lincae.md").read_text())
        return 0

    parser.set_defaults(func=run)


def add_ablation_parser(sub) -> None:
    parser = sub.add_parser(
        "table-ablations", help="LatentFT-MLP and its ablations (Tables 9-10) on both tasks"
    )
    parser.add_argument("--scale", default="small", choices=("smoke", "small", "quick", "paper"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--systems",
        default=",".join(ABLATION_SYSTEMS),
        help=f"comma-separated rows (default {BASE} and its {len(VARIANTS)} ablations)",
    )
    parser.add_argument("--data", help="folder of audio (default: the embedded music21 set)")
    parser.add_argument("--checkpoint", action="append", metavar="SYSTEM=PATH", default=[])
    parser.add_argument("--embedder", default="melstats")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-progress", action="store_true")
    add_output_arguments(parser)

    def run(args) -> int:
        from bench.core.config import RunConfig
        from bench.experiments.model_reports import parse_checkpoints, report_folder

        out = report_folder(parser, args, "table-ablations")

        options = {
            system: {"checkpoint": path} for system, path in parse_checkpoints(args.checkpoint).items()
        }
        config = RunConfig(
            scale=args.scale,
            seed=args.seed,
            data=args.data,
            systems=tuple(s for s in args.systems.split(",") if s),
            embedder=args.embedder,
            system_options=options,
            device=args.device,
            progress=not args.no_progress,
            out_dir=str(out),
        )
        record = run_ablation_table(config)
        print((Path(config.out_dir) / f"{STEM}.md").read_text())
        print(f"wrote {Path(config.out_dir) / STEM}.{{md,csv,json}} in {record['timings_s']['total']:.0f} s")
        return 0

    parser.set_defaults(func=run)
