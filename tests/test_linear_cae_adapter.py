"""The linear-cae package's pretrained models, exercised on a tiny randomly initialised instance of
its real ``Autoencoder`` class saved to disk in the package's Hugging Face layout."""

import numpy as np
import pytest
import torch
import yaml

from bench.adapters.linear_cae import PretrainedUnavailable, load_pretrained
from bench.core.audio import SAMPLE_RATE, resample
from bench.reports.lincae_table import run_lincae_table

linear_cae = pytest.importorskip("linear_cae")

GENERATOR = dict(
    layers_list=[1, 1],
    attention_list=[0, 0],
    layers_list_encoder=[1, 1],
    attention_list_encoder=[0, 0],
    multipliers_list=[1, 1],
    base_channels=8,
    bottleneck_base_channels=16,
    num_bottleneck_layers=1,
    bottleneck_channels=4,
    hop=256,
    freq_downsample_list=[1],
    cond_channels=16,
    data_channels=2,
    init_as_zero=False,
)  # the package zero-initialises output layers; random ones make the noise matter
FRONTEND = dict(hop_size=256, n_fft_factor=4, sample_rate=44100)


def save_tiny(folder, seed=0, generator=GENERATOR):
    torch.manual_seed(seed)
    model = linear_cae.Autoencoder(dict(FRONTEND), dict(generator), {}, name="lin-cae")
    folder.mkdir(parents=True)
    torch.save(model.state_dict(), folder / "autoencoder_inference_model_last.pth")
    for key, value in (("frontend", FRONTEND), ("generator", generator), ("diffusion", {})):
        (folder / f"{key}_kwargs_last.yaml").write_text(yaml.safe_dump(value))
    return model


@pytest.mark.slow
def test_the_adapter_resamples_seeds_each_clip_and_keeps_the_length(tmp_path):
    reference = save_tiny(tmp_path / "0a3afbec_weights")  # the hub folder name of "lin-cae"
    adapter, info = load_pretrained("lin-cae", str(tmp_path))
    assert info["parameters"] == sum(p.numel() for p in reference.parameters())
    assert info["scale_factor"] == 33.0  # the package's default for this model id
    audio = np.random.default_rng(0).normal(size=(3, 11025)) * 0.1
    latent = adapter.encode(audio)
    upsampled = torch.as_tensor(
        np.stack([resample(x, SAMPLE_RATE, 44100) for x in audio]), dtype=torch.float32
    )
    with torch.no_grad():
        assert torch.allclose(latent, reference.encode(upsampled), atol=1e-5)
    together = adapter.decode(latent, [5, 6, 7]).numpy()
    assert together.shape == audio.shape and np.isfinite(together).all()
    alone = adapter.decode(latent[1:2], [6]).numpy()
    np.testing.assert_allclose(alone[0], together[1], atol=1e-5)
    assert np.abs(alone).max() > 1e-6
    assert not np.allclose(adapter.decode(latent[1:2], [8]).numpy(), alone)


def test_missing_or_mismatched_files_are_named(tmp_path):
    with pytest.raises(PretrainedUnavailable, match="autoencoder_inference_model_last.pth"):
        load_pretrained("m2l", str(tmp_path))
    save_tiny(tmp_path / "other", generator={**GENERATOR, "base_channels": 4})
    (tmp_path / "other" / "generator_kwargs_last.yaml").write_text(yaml.safe_dump(GENERATOR))
    with pytest.raises(PretrainedUnavailable, match="does not fit the configuration"):
        load_pretrained("m2l", str(tmp_path / "other"))


@pytest.mark.slow
def test_table_lincae_gets_a_row_from_a_weights_folder(tmp_path):
    save_tiny(tmp_path / "weights")
    checkpoints = {
        "lincae": str(tmp_path / "none.pt"),
        "lincae-base": str(tmp_path / "none.pt"),
        "linear-cae:lin-cae": str(tmp_path / "weights"),
    }
    record = run_lincae_table(
        seed=0,
        n_clips=2,
        checkpoints=checkpoints,
        out_dir=tmp_path / "out",
        data_cache=tmp_path / "data",
        log=lambda *_: None,
    )
    assert set(record["rows"]) == {"linear-cae:lin-cae"}
    row = record["rows"]["linear-cae:lin-cae"]
    assert np.isfinite(row["decoder_additivity_snr_db"]) and np.isfinite(row["encoder_additivity_rel_l2"])
    assert "linear-cae:m2l" in record["unavailable"]
    assert "--checkpoint linear-cae:m2l=DIR" in record["unavailable"]["linear-cae:m2l"]["fix"]
    text = (tmp_path / "out" / "table_lincae.md").read_text()
    assert "| linear-cae:lin-cae |" in text and "| linear-cae:m2l † |" in text
    assert "linear-cae 0.1.4 model `lin-cae`" in text
