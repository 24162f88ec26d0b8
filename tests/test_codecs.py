"""The codec baselines and the BigVGAN vocoder, run end to end on tiny instances of the real
classes (DAC, BigVGAN) or of RAVE's TorchScript interface, saved to disk and passed as paths
exactly as a user passes real weights."""

import json

import numpy as np
import pytest
import torch
from support.paths import FIXTURES

from bench.adapters.vocoders import VocoderUnavailable
from bench.core.bands import CONDITIONAL_BANDS, Band, band_mask
from bench.core.config import RunConfig
from bench.core.registry import get_system_class, make_vocoder, system_status
from bench.core.runner import run_table1
from bench.core.safe_load import load_torch_file
from bench.systems.families.latent_filter import hz_band_mask, mask_latent


def _run(tmp_path, systems, options, **extra):
    config = RunConfig(
        scale="smoke",
        data=str(FIXTURES),
        systems=tuple(systems),
        cache_dir=str(tmp_path / "cache"),
        data_cache_dir=str(tmp_path / "data"),
        out_dir=str(tmp_path / "out"),
        progress=False,
        system_options=options,
        **extra,
    )
    return run_table1(config)


def _assert_both_tasks_ran(record, name):
    for task in ("conditional", "blend"):
        summary = record["rows"][name]["tasks"][task]["summary"]
        assert summary["n_ok"] > 0 and summary["n_failed"] == 0 and summary["loudness"] is not None, (
            name,
            task,
        )


def test_the_hz_mask_at_the_mel_frame_rate_is_the_protocol_band_mask():
    for band in CONDITIONAL_BANDS:
        np.testing.assert_array_equal(hz_band_mask(band, 1024, 22050 / 256), band_mask(band, 1024))


def test_a_band_above_a_slow_latents_nyquist_keeps_nothing():
    z = np.random.default_rng(0).normal(size=(4, 129))
    above = Band(0.5001, 1.0)  # 21.5-43 Hz; this latent runs at 21.5 Hz (Nyquist 10.8 Hz)
    assert np.abs(mask_latent(z, above, 44100 / 2048)).max() < 1e-12
    assert np.abs(mask_latent(z, CONDITIONAL_BANDS[1], 44100 / 2048)).max() > 0.1


# ---- DAC -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dac_weights(tmp_path_factory):
    from bench.adapters.dac_codec import import_dac

    dac = import_dac()
    torch.manual_seed(0)
    model = dac.DAC(
        encoder_dim=4,
        encoder_rates=[8, 8, 8],
        latent_dim=16,
        decoder_dim=16,
        decoder_rates=[8, 8, 8],
        n_codebooks=3,
        codebook_size=32,
        codebook_dim=4,
        sample_rate=44100,
    )
    path = tmp_path_factory.mktemp("dac") / "weights_tiny.pth"
    model.save(str(path), package=False)
    return path


def test_dac_without_weights_names_the_file_it_looked_for(tmp_path, monkeypatch):
    from bench.adapters import dac_codec

    monkeypatch.setattr(dac_codec, "CACHE", tmp_path / "empty-cache")
    status = system_status("dac", {})
    assert not status.availability.ok
    assert "weights_44khz_8kbps_*.pth" in status.availability.reason
    assert "dac.weights" in status.availability.fix
    missing = system_status("dac", {"weights": str(tmp_path / "nope.pth")})
    assert "nope.pth" in missing.availability.reason


@pytest.mark.slow
def test_dac_runs_both_tasks_from_a_weights_path(tmp_path, dac_weights):
    record = _run(tmp_path, ["dac"], {"dac": {"weights": str(dac_weights)}})
    _assert_both_tasks_ran(record, "dac")
    assert len(record["rows"]["dac"]["fingerprint"]["weights_sha256"]["weights"]) == 64


def test_dac_reports_its_latent(dac_weights):
    from bench.core.system import RunContext

    system = get_system_class("dac")(
        RunContext(np.zeros((1, 10)), ["x"], system_options={"weights": str(dac_weights)})
    )
    info = system.info()
    assert info["latent"] == "16 channels at 86.13 Hz" and info["codebooks"] == 3 and info["parameters"] > 0


# ---- RAVE ------------------------------------------------------------------------------------


class TinyRAVE(torch.nn.Module):
    """RAVE's TorchScript interface: sr, encode_params = [in_ch, 1, latent, ratio], encode, decode."""

    def __init__(self, ratio: int = 2048, latent: int = 4, streaming: bool = False):
        super().__init__()
        self.sr = 44100
        self.streaming = streaming
        self.register_buffer("encode_params", torch.tensor([1, 1, latent, ratio]))
        self.register_buffer("state", torch.zeros(1))
        self.analysis = torch.nn.Conv1d(1, latent, ratio, stride=ratio)
        self.synthesis = torch.nn.ConvTranspose1d(latent, 1, ratio, stride=ratio)

    @torch.jit.export
    def encode(self, x):
        z = self.analysis(x)
        if self.streaming:
            self.state += 1.0
            z = z + self.state
        return z

    @torch.jit.export
    def decode(self, z):
        return self.synthesis(z)

    def forward(self, x):
        return self.decode(self.encode(x))


def _export(module, path):
    torch.manual_seed(0)
    torch.jit.script(module).save(str(path))
    return path


@pytest.mark.slow
def test_rave_runs_both_tasks_and_keeps_the_input_length(tmp_path):
    path = _export(TinyRAVE(), tmp_path / "rave.ts")
    record = _run(tmp_path, ["rave"], {"rave": {"model": str(path)}})
    _assert_both_tasks_ran(record, "rave")
    from bench.core.system import ConditionalBatch, RunContext

    clip = np.sin(np.arange(22050 * 3) * 0.05)
    system = get_system_class("rave")(RunContext(clip[None], ["x"], system_options={"model": str(path)}))
    out = system.conditional(ConditionalBatch(clip[None], [CONDITIONAL_BANDS[0]], [0]))
    assert out.shape == (1, clip.shape[0])
    assert system.info()["latent"] == "4 channels at 21.53 Hz"


def test_rave_refuses_streaming_exports_and_says_why(tmp_path):
    path = _export(TinyRAVE(streaming=True), tmp_path / "streaming.ts")
    status = system_status("rave", {"model": str(path)})
    assert not status.availability.ok and "streaming" in status.availability.reason
    assert "without --streaming" in status.availability.fix
    assert "no RAVE model" in system_status("rave", {}).availability.reason


# ---- BigVGAN ---------------------------------------------------------------------------------

TINY_BIGVGAN = {
    "resblock": "1",
    "upsample_rates": [4, 4, 4, 4],
    "upsample_kernel_sizes": [8, 8, 8, 8],
    "upsample_initial_channel": 32,
    "resblock_kernel_sizes": [3],
    "resblock_dilation_sizes": [[1, 3, 5]],
    "activation": "snakebeta",
    "snake_logscale": True,
    "use_tanh_at_final": False,
    "use_bias_at_final": False,
    "num_mels": 80,
    "n_fft": 1024,
    "hop_size": 256,
    "win_size": 1024,
    "sampling_rate": 22050,
    "fmin": 0,
    "fmax": None,
}


def _bigvgan_dir(tmp_path, **changes):
    from bench.core.optional_imports import placeholders

    with placeholders("torchaudio"):
        import bigvgan
    config = {**TINY_BIGVGAN, **changes}
    torch.manual_seed(0)
    model = bigvgan.BigVGAN(bigvgan.AttrDict(config))
    directory = tmp_path / "bigvgan"
    directory.mkdir(exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    torch.save({"generator": model.state_dict()}, directory / "bigvgan_generator.pt")
    return directory


@pytest.mark.slow
def test_bigvgan_vocodes_a_mel_system_and_is_recorded(tmp_path):
    directory = _bigvgan_dir(tmp_path)
    record = _run(tmp_path, ["spectrogram"], {}, vocoder=f"bigvgan:{directory}")
    _assert_both_tasks_ran(record, "spectrogram")
    assert record["vocoder"].startswith("bigvgan-c")
    mels = np.zeros((2, 80, 40))
    out = make_vocoder(f"bigvgan:{directory}")(mels, [0, 1], 40 * 256)
    assert out.shape == (2, 40 * 256) and np.all(np.isfinite(out))


def test_bigvgan_with_another_mel_convention_is_refused_by_name(tmp_path):
    directory = _bigvgan_dir(tmp_path, fmax=8000)
    with pytest.raises(VocoderUnavailable, match="fmax is 8000"):
        make_vocoder(f"bigvgan:{directory}")
    with pytest.raises(VocoderUnavailable, match="config.json"):
        make_vocoder(f"bigvgan:{tmp_path / 'nowhere'}")


# ---- LatentFT-DAC ----------------------------------------------------------------------------


def _train_latentft_dac(tmp_path, dac_weights, fixture_clips):
    from bench.adapters.dac_codec import clip_latents, load_dac
    from bench.core.audio import SAMPLE_RATE
    from bench.core.mel import normalised_mel
    from bench.core.storage import file_sha256
    from bench.models.latentft import LatentFT, LatentFTConfig
    from bench.models.training import TrainConfig, train

    clips = np.stack(fixture_clips)
    mels = torch.as_tensor(normalised_mel(clips), dtype=torch.float32)
    latents = torch.as_tensor(
        clip_latents(load_dac(dac_weights), clips, mels.shape[-1], SAMPLE_RATE), dtype=torch.float32
    )
    assert latents.shape == (len(clips), 16, mels.shape[-1])  # the tiny DAC: 16 channels at 86.13 Hz
    config = LatentFTConfig(
        encoder="dac-unet",
        encoder_input_channels=16,
        latent_channels=4,
        encoder_base=8,
        decoder_base=8,
        decoder_mults=(1, 2),
    )
    torch.manual_seed(0)
    model = LatentFT(config)
    model.set_input_statistics(latents)
    assert torch.allclose(model.input_mean[:, 0], latents.mean(dim=(0, 2)))
    checkpoint = tmp_path / "latentft-dac.pt"
    train(
        model,
        (mels, latents),
        TrainConfig(steps=2, batch_size=2, checkpoint_every=2, model=config),
        checkpoint,
        {
            "dataset": "fixtures",
            "dac_weights": str(dac_weights),
            "dac_weights_sha256": file_sha256(str(dac_weights)),
        },
        progress=False,
        log=lambda *_: None,
    )
    return checkpoint


@pytest.mark.slow
def test_latentft_dac_runs_both_tasks_with_the_dac_it_was_trained_with(tmp_path, dac_weights, fixture_clips):
    checkpoint = _train_latentft_dac(tmp_path, dac_weights, fixture_clips)
    state = load_torch_file(checkpoint)  # bench/core/safe_load.py: tensors and plain data only
    assert state["ema"]["input_std"].shape == (16, 1)  # the input statistics travel with the checkpoint
    record = _run(tmp_path, ["latentft-dac"], {"latentft-dac": {"checkpoint": str(checkpoint), "steps": "2"}})
    _assert_both_tasks_ran(record, "latentft-dac")
    assert (
        record["rows"]["latentft-dac"]["fingerprint"]["dac_weights_sha256"]
        == state["meta"]["dac_weights_sha256"]
    )


@pytest.mark.slow
def test_latentft_dac_refuses_other_dac_weights_and_says_what_training_needs(
    tmp_path, dac_weights, fixture_clips
):
    from bench.adapters.dac_codec import import_dac

    checkpoint = _train_latentft_dac(tmp_path, dac_weights, fixture_clips)
    torch.manual_seed(1)
    other = import_dac().DAC(
        encoder_dim=4,
        encoder_rates=[8, 8, 8],
        latent_dim=16,
        decoder_dim=16,
        decoder_rates=[8, 8, 8],
        n_codebooks=3,
        codebook_size=32,
        codebook_dim=4,
        sample_rate=44100,
    )
    other_path = tmp_path / "other.pth"
    other.save(str(other_path), package=False)
    status = system_status("latentft-dac", {"checkpoint": str(checkpoint), "dac_weights": str(other_path)})
    assert (
        not status.availability.ok
        and "not the DAC the checkpoint was trained with" in status.availability.reason
    )
    missing = system_status("latentft-dac", {"checkpoint": str(tmp_path / "none.pt")})
    assert (
        "make train SYSTEM=latentft-dac" in missing.availability.fix
        and "--dac-weights" in missing.availability.fix
    )


def test_training_latentft_dac_without_weights_stops_before_reading_any_data(tmp_path):
    from bench.commands.cli import main

    with pytest.raises(SystemExit, match="latentft-dac needs DAC weights: DAC weights not found: .*nope.pth"):
        main(
            [
                "train",
                "--system",
                "latentft-dac",
                "--dac-weights",
                str(tmp_path / "nope.pth"),
                "--checkpoint",
                str(tmp_path / "never.pt"),
            ]
        )
    assert not (tmp_path / "never.pt").exists()
