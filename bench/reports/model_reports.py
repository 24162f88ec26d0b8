"""What the tables of our own trained models share (table-hdae, table-lincae): finding a
checkpoint or saying how to make it, and the provenance lines under a table."""

from __future__ import annotations

from pathlib import Path


def find_checkpoint(system: str, checkpoints: dict) -> tuple[Path | None, dict]:
    """(path, {}) when the checkpoint exists, else (None, {"reason", "fix"})."""
    from bench.models.checkpoint_store import how_to_get, resolve

    path = resolve(system, "tiny", checkpoints.get(system))
    if not path.is_file():
        return None, {
            "reason": f"no checkpoint at {path}",
            "fix": f"{how_to_get(system)}, or --checkpoint {system}=/path.pt",
        }
    return path, {}


def checkpoint_info(path: Path, state: dict) -> dict:
    from bench.core.paths import REPO_ROOT
    from bench.core.storage import file_sha256
    from bench.models.checkpoint_store import source, weights_sha256

    path = Path(path).resolve()
    shown = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
    return {
        "checkpoint": shown,
        "weights": source(path),
        "checkpoint_sha256": file_sha256(str(path)),
        "weights_sha256": weights_sha256(state),
        "trained_steps": state["step"],
        "trained_on": state["meta"].get("dataset"),
        "config": state["config"]["model"],
    }


def with_interval(row: dict, key: str, digits: int = 3) -> str:
    """``row[key]`` and, when ``row[key + "_ci95"]`` holds an interval, ± half its width."""
    interval = row.get(f"{key}_ci95")
    text = f"{row[key]:.{digits}f}"
    return text if interval is None else f"{text} ±{(interval[1] - interval[0]) / 2:.{digits}f}"


def git_note(record: dict) -> str:
    git = record["environment"]["git"]
    return f"git {git['revision'][:10]}{' (dirty)' if git['dirty'] else ''}"


def provenance_lines(record: dict) -> list[str]:
    lines = [f"- `{system}`: {_source(info)}" for system, info in record["systems"].items()]
    lines += [
        f"- `{system}` not run: {info['reason']} (fix: {info['fix']})"
        for system, info in record["unavailable"].items()
    ]
    return lines


def _source(info: dict) -> str:
    if "pretrained" in info:
        return f"{info['pretrained']}, weights {info['checkpoint_sha256'][:12]}, {info['parameters']:,} parameters"
    return f"checkpoint {info['checkpoint_sha256'][:12]}, {info['trained_steps']} steps on `{info['trained_on']}`"


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
            as_tuple = lambda v: tuple(v) if isinstance(v, list) else v
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
