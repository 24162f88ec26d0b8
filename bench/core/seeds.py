"""One derivation for the seed of every random stream of the harness.

Each stream is named and has a tag of its own (``STREAMS``; a duplicate tag fails at import).
``stream_seed(seed, name, *keys)`` is the stream's entropy, as numpy.random.SeedSequence takes it:
``[seed, tag, *keys]``, a text key entering as the first 32 bits of its sha256. ``stream_rng`` gives the
numpy generator of a stream, ``torch_seed`` a 63-bit integer for ``torch.Generator().manual_seed``.

Streams whose values the committed Table 1 or the golden drift check (bench/experiments/drift.py) depend on,
or that decide a user's data, keep the formula they had before this module existed (``legacy``), so
that every table, dataset manifest and golden value is unchanged; a new stream takes the
``[seed, tag, *keys]`` form. A legacy formula is replaced only together with the values it pins.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

import numpy as np


def text_key(text: str) -> int:
    """A text key as an integer: the first 32 bits of its sha256."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _item(seed, task, key):
    from bench.core.storage import content_key

    return int(content_key(seed, task, key)[:8], 16)


@dataclass(frozen=True)
class Stream:
    name: str
    tag: int
    where: str
    legacy: Callable | None = None  # seed, *keys -> entropy, for the streams that must not change


STREAMS = (
    Stream("music21-pieces", 1, "datasets/music21_render.py: candidate_pieces"),
    Stream("music21-arrangement", 2, "datasets/music21_render.py: build"),
    Stream("notes", 3, "datasets/notes_render.py: draw_notes (key: split, train 0 / test 1)"),
    Stream("hierarchy-swaps", 5, "bench/experiments/hierarchy_table.py: swap pairs"),
    Stream("lincae-train-chunks", 6, "models/trainable.py: training_stem_chunks"),
    Stream("clip-selection", 7, "bench/core/tasks.py: select_clips"),
    Stream("lincae-chunks", 8, "bench/experiments/lincae_table.py: _chunks (tag 7 before, Table 1's)"),
    Stream("listening-bootstrap", 4, "bench/listening/analysis.py: _bradley_terry"),
    Stream("nsynth-subset", 9, "datasets/nsynth.py: load_nsynth (tag 4 before, the listening bootstrap's)"),
    Stream("listening-order", 15, "bench/listening/build.py: build_study"),
    Stream("listening-metric-bootstrap", 30, "bench/listening/against.py: per-answer Kendall tau intervals"),
    Stream("listening-metric-simulation", 31, "bench/listening/simulate.py: simulate_following_metric"),
    Stream(
        "listening-simulation", 16, "bench/listening/simulate.py: simulate_answers", legacy=lambda seed: seed
    ),
    Stream(
        "folder-chunk",
        10,
        "datasets/folder.py: load_folder (key: the file's relative path)",
        legacy=lambda seed, path: [seed, text_key(path)],
    ),
    Stream(
        "stem-chunk",
        11,
        "datasets/stems.py: _chunk (key: the track's name)",
        legacy=lambda seed, track: [seed, text_key(track)],
    ),
    Stream("item", 12, "bench/core/tasks.py: item_seed (keys: task, item key)", legacy=_item),
    Stream(
        "steering-noise",
        13,
        "models/steering.py: ILVR._noise (item seed; keys: step, band)",
        legacy=lambda seed, step, band: int(seed) * 7919 + step * 31 + band + 1,
    ),
    Stream(
        "training-batch",
        14,
        "models/training.py: train (key: step)",
        legacy=lambda seed, step: seed * 1_000_003 + step,
    ),
    Stream(
        "model-init", 17, "bench/commands/train.py: run (torch's global generator)", legacy=lambda seed: seed
    ),
    Stream(
        "table-clip",
        18,
        "bench/experiments/hierarchy_table.py, bench/experiments/lincae_table.py: each test clip's decoding "
        "(key: clip index)",
        legacy=lambda seed, index: seed * 100_003 + index,
    ),
    Stream(
        "distribution-bootstrap",
        20,
        "bench/core/distribution_stats.py: FAD/KAD intervals over a band's items (keys: task, band)",
    ),
    Stream("reference-bootstrap", 21, "bench/core/distribution_stats.py: intervals over the reference"),
    Stream(
        "fad-inf", 22, "bench/reports/distribution_metrics.py: FAD-inf subsets (keys: system, task, band)"
    ),
    Stream(
        "mauve-kmeans",
        23,
        "bench/reports/distribution_metrics.py: MAUVE's k-means (keys: system, task, band)",
    ),
    Stream(
        "figure-clip",
        19,
        "bench/experiments/isolate_sweep.py: isolate, sweep (key: clip index)",
        legacy=lambda seed, index: seed + index,
    ),
    Stream(
        "condition-use",
        24,
        "models/condition_use.py: the noise of each held-out clip (key: clip index; the experiment's "
        "committed curves used tag 20, now distribution-bootstrap's)",
    ),
)
BY_NAME = {s.name: s for s in STREAMS}


def duplicate_tags(streams=STREAMS) -> dict[int, list[str]]:
    """Tags used by more than one stream (empty when every tag is unique)."""
    users: dict[int, list[str]] = {}
    for stream in streams:
        users.setdefault(stream.tag, []).append(stream.name)
    return {tag: names for tag, names in users.items() if len(names) > 1}


if duplicate_tags() or len(BY_NAME) != len(STREAMS):
    raise RuntimeError(f"bench/core/seeds.py: stream tags or names used twice: {duplicate_tags()}")


def stream_seed(seed: int, name: str, *keys):
    """The entropy of stream ``name`` for run seed ``seed`` and ``keys`` (ints or texts)."""
    try:
        stream = BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown random stream {name!r}; streams: {', '.join(BY_NAME)}") from None
    if stream.legacy is not None:
        return stream.legacy(seed, *keys)
    return [int(seed), stream.tag, *(text_key(k) if isinstance(k, str) else int(k) for k in keys)]


def stream_rng(seed: int, name: str, *keys) -> np.random.Generator:
    return np.random.default_rng(stream_seed(seed, name, *keys))


def torch_seed(seed: int, name: str, *keys) -> int:
    """``stream_seed`` as one integer for torch; an entropy list is folded by numpy's SeedSequence."""
    entropy = stream_seed(seed, name, *keys)
    if isinstance(entropy, int):
        return entropy
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> 1)
