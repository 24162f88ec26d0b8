"""What a work unit produces, as cached and read back: one item's scores (:class:`ItemScores`),
one system's task (:class:`TaskResult`), a unit's report (:class:`UnitReport`), and when a cached
item counts as finished (bench/core/units.py plans and executes the units)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class ItemScores:
    """One item's scores as cached: adherence in / out of the band (conditional) or to each input
    (blend), or the reason it failed. ``embedding`` is stored beside the JSON, in the unit's
    score file (bench/core/item_cache.py: ScoreStore)."""

    item: str
    group: str
    ok: bool
    reason: str = ""
    scores: dict = field(default_factory=dict)
    audio_sha: str = ""
    embedding: np.ndarray | None = None

    @property
    def key(self) -> str:
        return self.item

    def as_json(self) -> dict:
        d = asdict(self)
        d.pop("embedding")
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ItemScores":
        return cls(
            d["item"], d["group"], d["ok"], d.get("reason", ""), d.get("scores", {}), d.get("audio_sha", "")
        )


@dataclass
class TaskResult:
    """Every item of one system's task, in plan order, ready to aggregate."""

    system: str
    task: str
    items: list[ItemScores]


@dataclass
class UnitReport:
    unit: str
    n_items: int
    generated: int = 0
    scored: int = 0
    seconds: float = 0.0
    files: list | None = None  # (relative path, bytes) when results go back to the driver
    error: str = ""  # why the unit did not finish (executor-level failure)
    phases: dict = field(default_factory=dict)  # seconds per phase (tools/scaleout_bench.py)


def finished(scores: dict | None, record: dict | None, retry_failed: bool) -> bool:
    """An item is finished when its score record covers the output record now in the cache."""
    if scores is None or record is None:
        return False
    if not record["ok"]:
        return not retry_failed and not scores["ok"] and scores.get("audio_sha", "") == ""
    return scores.get("audio_sha") == record["sha256"]


def entry_finished(entry: tuple | None, record: dict | None, retry_failed: bool) -> bool:
    """``entry`` (scores, embedding) from the unit's score file covers ``record``; a scored item
    has its embedding."""
    if entry is None or not finished(entry[0], record, retry_failed):
        return False
    return not entry[0]["ok"] or entry[1] is not None
