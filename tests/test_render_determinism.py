"""The embedded set does not depend on the machine's speed: which pieces are skipped as slow to
parse is a fixed list, not a wall-clock limit (a loaded machine used to render another set)."""

import json
import time

import pytest

from bench.datasets import music21_render as render


@pytest.mark.slow
def test_a_slow_parse_no_longer_drops_a_piece(monkeypatch):
    from music21 import corpus

    real_parse = corpus.parse

    def slow_parse(path, *args, **kwargs):
        time.sleep(render.PARSE_TIMEOUT_S + 0.5)  # what a loaded machine does to a mid-sized score
        return real_parse(path, *args, **kwargs)

    monkeypatch.setattr(corpus, "parse", slow_parse)
    path = str(corpus.getWork("bach/bwv66.6"))
    voices = render.extract_voices(path)
    assert len(voices) >= 2 and all(len(v) > 0 for v in voices)


def test_the_listed_slow_pieces_are_skipped_without_parsing(monkeypatch):
    from music21 import corpus

    monkeypatch.setattr(corpus, "parse", lambda *a, **k: pytest.fail("parsed a listed slow piece"))
    for piece in sorted(render.SLOW_PIECES):
        with pytest.raises(TimeoutError, match="took longer than 4 s"):
            render.extract_voices(f"/somewhere/music21/corpus/{piece}")


def test_a_set_cached_under_the_old_wall_clock_rule_is_rendered_again(tmp_path):
    import numpy as np

    from bench.datasets.clipset import ClipSet

    def cached(name, skipped):
        root = tmp_path / name
        manifest = {
            "name": name,
            "kind": "music21-fluidsynth",
            "clips": [{"id": "m21-00000"}],
            "skipped": skipped,
        }
        ClipSet(name, np.zeros((1, 16), np.float32), ["m21-00000"], manifest).save(root)
        return root

    reference = cached(
        "good",
        [
            {"piece": "beethoven/opus132.mxl", "reason": "parse failed: took longer than 4 s"},
            {"piece": "josquin/x.abc", "reason": "fewer than 2 voices"},
        ],
    )
    assert render.load_speed_independent_dataset(reference) is not None
    slow = cached(
        "slow", [{"piece": "mozart/k458/movement1.mxl", "reason": "parse failed: took longer than 4 s"}]
    )
    with pytest.warns(UserWarning, match="mozart/k458/movement1.mxl"):
        assert render.load_speed_independent_dataset(slow) is None
    assert not slow.exists() and (tmp_path / "slow-stale-speed-dependent" / "manifest.json").is_file()
    assert (
        json.loads((tmp_path / "slow-stale-speed-dependent" / "manifest.json").read_text())["name"] == "slow"
    )
