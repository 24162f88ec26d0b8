"""Where the harness's own model weights live, and loading them with their hash checked.

Two places, looked up in this order unless a path is given:

- ``results/checkpoints/<system>-<config>.pt``: what ``make train`` writes on this machine (full
  training state: weights, EMA, optimiser, loss history; resumable; never committed);
- ``models/weights/<system>-<config>.pt``: the shipped inference weights (EMA only, fp32), listed
  with their sha256, config, training data and final loss in ``models/weights/manifest.json``
  and written there by ``python -m bench ship-weights`` (see models/weights/README.md).

Both formats load through :func:`load_state`, with ``weights_only=True`` (bench/core/safe_load.py:
tensors and plain data only, a file asking for any other type refused before anything in it runs);
a shipped file whose sha256 differs from the manifest's is refused, naming the file and both hashes.
"""

from __future__ import annotations

import hashlib
import io
import json
from functools import lru_cache
from pathlib import Path

from bench.core.paths import REPO_ROOT, SHIPPED_WEIGHTS_DIR, shown_path
from bench.core.safe_load import UnreadableFileError, load_module_state, load_torch_file, require_keys
from bench.core.storage import atomic_write_bytes, atomic_write_json, file_sha256

TRAINED_DIR = REPO_ROOT / "results" / "checkpoints"
SHIPPED_DIR = SHIPPED_WEIGHTS_DIR
MANIFEST = SHIPPED_DIR / "manifest.json"
SHIPPED_LIMIT_BYTES = 12 * 1024 * 1024


class CheckpointError(Exception):
    """A checkpoint file that cannot be used; the message names the file and what is wrong, ``fix``
    what to do about it (empty when the message says)."""

    def __init__(self, message: str, fix: str = ""):
        super().__init__(message)
        self.fix = fix


def trained_path(system: str, config: str = "tiny") -> Path:
    """Where ``make train SYSTEM=system CONFIG=config`` writes (and resumes from)."""
    return TRAINED_DIR / f"{system}-{config}.pt"


def shipped_path(system: str, config: str = "tiny") -> Path:
    return SHIPPED_DIR / f"{system}-{config}.pt"


def resolve(system: str, config: str = "tiny", given: str | Path | None = None) -> Path:
    """The checkpoint a system uses: ``given``, else this machine's training output, else the shipped
    weights. Returns the first candidate that exists, or the training path when none does (the
    place ``make train`` would create)."""
    if given:
        return Path(given)
    for candidate in (trained_path(system, config), shipped_path(system, config)):
        if candidate.is_file():
            return candidate
    return trained_path(system, config)


def source(path: Path) -> str:
    """``shipped``, ``trained here`` or ``given``: where a resolved checkpoint came from."""
    path = Path(path).resolve()
    if path.parent == SHIPPED_DIR.resolve():
        return "shipped"
    if path.parent == TRAINED_DIR.resolve():
        return "trained here"
    return "given"


def _shown(path: Path) -> str:
    return shown_path(path)


def how_to_get(system: str, config: str = "tiny", cost: str = "") -> str:
    """What a user does about a missing checkpoint: restore the shipped file when the manifest lists
    one, else train it (``cost``: how long that takes, said after the command)."""
    command = (
        f"make train SYSTEM={system} CONFIG={config} (python -m bench train --system {system} "
        f"--config {config}{f'; {cost}' if cost else ''})"
    )
    shipped = shipped_path(system, config)
    if shipped.name in manifest():
        return f"restore the shipped weights (git checkout {_shown(shipped)}), or {command}"
    return f"no weights are shipped for {system}-{config}; train them: {command}"


def manifest() -> dict:
    """The shipped weights' manifest: {file name: entry}; empty when nothing is shipped."""
    if not MANIFEST.is_file():
        return {}
    return json.loads(MANIFEST.read_text())["weights"]


CHECKPOINT_KEYS = ("ema", "config", "step", "meta")


@lru_cache(maxsize=32)
def _load_cached(path: str, size: int, mtime_ns: int) -> dict:
    target = Path(path)
    if target.parent == SHIPPED_DIR.resolve():
        expected = manifest().get(target.name, {}).get("sha256")
        if expected is None:
            raise CheckpointError(
                f"{target}: not listed in {MANIFEST}; ship it with "
                f"python -m bench ship-weights, or pass its path explicitly"
            )
        actual = file_sha256(path)
        if actual != expected:
            raise CheckpointError(
                f"{target}: sha256 {actual[:16]}... differs from the manifest's "
                f"{expected[:16]}... ({MANIFEST.name}); the file is damaged or was "
                f"replaced: restore it with git checkout {_shown(target)}"
            )
    try:
        state = load_torch_file(target, "checkpoint")
        require_keys(state, CHECKPOINT_KEYS, target, what="checkpoint of the harness")
        require_keys(state["config"], ("model",), target, "config", what="checkpoint of the harness")
    except UnreadableFileError as error:
        fix = error.fix or (
            "pass a checkpoint written by python -m bench train (make train SYSTEM=...), or "
            "leave the option out for the default weights"
        )
        raise CheckpointError(str(error), fix) from None
    return state


def model_from_state(path: str | Path, state: dict, build):
    """``build(config)`` (``config``: a copy of the checkpoint's ``config["model"]``) with the
    checkpoint's EMA weights loaded; CheckpointError naming ``path`` when the config does not build
    the model, or a weight is missing, unexpected or of another shape."""
    fix = "pass a checkpoint of this system (python -m bench train --system NAME writes one)"
    try:
        model = build(dict(state["config"]["model"]))
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise CheckpointError(
            f"{path}: its config.model does not build this model ({type(error).__name__}: {error})", fix
        ) from None
    try:
        load_module_state(model, state["ema"], path, "'ema' weights")
    except UnreadableFileError as error:
        raise CheckpointError(str(error), fix) from None
    return model


def load_state(path: str | Path) -> dict:
    """The checkpoint's dict (at least ``ema``, ``config``, ``step``, ``meta``); cached per file
    version, so the several loads of one run read and hash the file once. Treat it as read-only."""
    target = Path(path).resolve()
    if not target.is_file():
        raise CheckpointError(f"{target}: no such checkpoint file")
    stat = target.stat()
    return _load_cached(str(target), stat.st_size, stat.st_mtime_ns)


def weights_sha256(state: dict) -> str:
    """A hash of the EMA weights themselves (names, dtypes, shapes, bytes), the same for a training
    checkpoint and the inference file shipped from it."""
    digest = hashlib.sha256()
    for name in sorted(state["ema"]):
        tensor = state["ema"][name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def final_loss(state: dict, last: int = 100) -> float | None:
    losses = state.get("losses") or []
    return float(sum(losses[-last:]) / len(losses[-last:])) if losses else state.get("final_loss")


def ship(system: str, config: str = "tiny", source_path: Path | None = None) -> dict:
    """Write the inference weights of ``source_path`` (default: this machine's training output) to
    models/weights/ and record them in the manifest; returns the manifest entry."""
    import torch

    source_path = Path(source_path or trained_path(system, config))
    state = load_state(source_path)
    ema = {
        name: tensor.detach().cpu().float().clone() if tensor.is_floating_point() else tensor.detach().cpu()
        for name, tensor in state["ema"].items()
    }
    shipped = {
        "ema": ema,
        "config": state["config"],
        "step": state["step"],
        "meta": state["meta"],
        "final_loss": final_loss(state),
    }
    buffer = io.BytesIO()
    torch.save(shipped, buffer)
    data = buffer.getvalue()
    if len(data) > SHIPPED_LIMIT_BYTES:
        raise CheckpointError(
            f"{source_path}: inference weights are {len(data) / 2**20:.1f} MiB, over the "
            f"{SHIPPED_LIMIT_BYTES / 2**20:.0f} MiB limit for shipped weights"
        )
    target = shipped_path(system, config)
    atomic_write_bytes(target, data)
    entry = {
        "system": system,
        "config_name": config,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "weights_sha256": weights_sha256(shipped),
        "steps": int(state["step"]),
        "final_loss": shipped["final_loss"],
        "seed": state["config"].get("seed"),
        "train_config": {k: v for k, v in state["config"].items() if k != "model"},
        "model_config": state["config"]["model"],
        "dataset": state["meta"].get("dataset"),
        "dataset_manifest_hash": state["meta"].get("dataset_manifest_hash"),
        "n_train_clips": state["meta"].get("n_train_clips"),
    }
    entries = manifest()
    entries[target.name] = entry
    atomic_write_json(
        MANIFEST,
        {
            "about": "inference weights (EMA, fp32) of the harness's own tiny models; "
            "see models/weights/README.md",
            "weights": entries,
        },
    )
    _load_cached.cache_clear()
    return entry
