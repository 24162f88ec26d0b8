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
        return (
            f"{info['pretrained']}, weights {info['checkpoint_sha256'][:12]}, "
            f"{info['parameters']:,} parameters"
        )
    return (
        f"checkpoint {info['checkpoint_sha256'][:12]}, {info['trained_steps']} steps "
        f"on `{info['trained_on']}`"
    )
