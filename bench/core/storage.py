"""Atomic file writes and content keys: a killed run never leaves a half-written file.

Every write goes to a temporary name in the same folder and is renamed over the target, so a
reader sees the old file or the new one, whole, and a killed writer leaves only its ``.tmp``.
``durable=True`` (the default) also fsyncs the data before the rename, so the file survives an
operating-system crash or power loss; content-addressed entries that every reader validates (an
audio hash, a parse) are written with ``durable=False``, one fsync less per item
(bench/core/item_cache.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, data, durable: bool = True) -> None:
    _atomic_write(path, lambda handle: handle.write(data), durable)


def _atomic_write(path: str | Path, write, durable: bool) -> None:
    """``write(handle)`` fills a temporary file beside ``path``, which is then renamed over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode(), durable)


def json_text(obj) -> str:
    """How every JSON file of the harness is written: indented, keys sorted, numpy values as numbers."""
    return json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"


def atomic_write_json(path: str | Path, obj, durable: bool = True) -> None:
    atomic_write_text(path, json_text(obj), durable)


def atomic_save_npy(path: str | Path, array: np.ndarray, durable: bool = True) -> None:
    _atomic_write(path, lambda handle: np.save(handle, array), durable)  # no copy in memory


def atomic_save_npz(path: str | Path, durable: bool = True, **arrays: np.ndarray) -> None:
    buffer = io.BytesIO()
    named: dict[str, Any] = dict(arrays)
    np.savez(buffer, **named)
    atomic_write_bytes(path, buffer.getbuffer(), durable)


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def content_key(*parts) -> str:
    """sha256 of the canonical JSON of ``parts`` (first 32 hex digits)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@lru_cache(maxsize=64)
def file_sha256(path: str) -> str:
    """sha256 of a file's bytes (cached per path for the process)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())
