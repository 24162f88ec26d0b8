"""bench/core/seeds.py: every random stream has a tag of its own, and the streams behind Table 1 and the
golden values give the seeds they gave before the module existed."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from bench.core import seeds
from bench.core.bands import CONDITIONAL_BANDS
from bench.core.tasks import ConditionalItem, item_seed, select_clips

ROOT = Path(__file__).resolve().parent.parent


def test_every_stream_has_its_own_tag_and_name():
    tags = [s.tag for s in seeds.STREAMS]
    assert len(set(tags)) == len(tags)
    assert len(seeds.BY_NAME) == len(seeds.STREAMS)
    duplicated = seeds.STREAMS + (seeds.Stream("again", seeds.STREAMS[0].tag, "nowhere"),)
    assert seeds.duplicate_tags(duplicated) == {seeds.STREAMS[0].tag: [seeds.STREAMS[0].name, "again"]}


def test_committed_table1_selection_is_reproduced():
    record = json.loads((ROOT / "results" / "table1.json").read_text())
    ids = [f"m21-{i:05d}" for i in range(record["dataset"]["n_clips"])]
    selection = select_clips(ids, 32, 32, record["config"]["seed"])
    assert list(selection.conditional) == record["selection"]["conditional"]
    assert [list(p) for p in selection.pairs] == record["selection"]["pairs"]


@pytest.mark.parametrize("seed", [0, 3])
def test_streams_of_table1_and_the_golden_values_keep_their_seeds(seed):
    # the formulas each module used before bench/core/seeds.py, written out independently
    for name, tag in [("clip-selection", 7), ("music21-pieces", 1), ("music21-arrangement", 2)]:
        assert seeds.stream_seed(seed, name) == [seed, tag]
    assert seeds.stream_seed(seed, "notes", 1) == [seed, 3, 1]
    path = "00_bach_bwv144.6.flac"
    assert seeds.stream_seed(seed, "folder-chunk", path) == [
        seed,
        int(hashlib.sha256(path.encode()).hexdigest()[:8], 16),
    ]
    item = ConditionalItem("m21-00001", CONDITIONAL_BANDS[0])
    canonical = json.dumps([seed, "conditional", item.key], sort_keys=True, separators=(",", ":"))
    assert item_seed(seed, "conditional", item) == int(hashlib.sha256(canonical.encode()).hexdigest()[:8], 16)
    assert seeds.torch_seed(seed + 12345, "steering-noise", 4, 2) == (seed + 12345) * 7919 + 4 * 31 + 2 + 1
    assert seeds.torch_seed(seed, "training-batch", 17) == seed * 1_000_003 + 17
    assert seeds.stream_seed(seed, "table-clip", 5) == seed * 100_003 + 5
    assert seeds.stream_seed(seed, "figure-clip", 5) == seed + 5


def test_new_form_is_seed_tag_keys_and_distinct_streams_differ():
    tag = seeds.BY_NAME["lincae-chunks"].tag
    assert seeds.stream_seed(2, "lincae-chunks") == [2, tag]
    first = seeds.stream_rng(0, "lincae-chunks").permutation(64)
    assert not np.array_equal(first, seeds.stream_rng(0, "clip-selection").permutation(64))
    assert np.array_equal(first, np.random.default_rng([0, tag]).permutation(64))
    entropy = seeds.stream_seed(0, "nsynth-subset")
    assert seeds.torch_seed(0, "nsynth-subset") == int(
        np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> 1
    )


def test_unknown_stream_is_named():
    with pytest.raises(KeyError, match="unknown random stream 'clip-selections'.*clip-selection"):
        seeds.stream_seed(0, "clip-selections")
