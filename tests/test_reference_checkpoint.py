"""Checkpoints in the LatentFT reference code's own format (what its Lightning module saves: EMA
under ema_model.module., trained weights under model., the Hydra config in hyper_parameters),
written here from random weights; the full-size architecture checked on the meta device."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bench.models.edm import SamplerConfig
from bench.models.latentft import LatentFT
from bench.models.reference_checkpoint import (
    ReferenceCheckpointError,
    config_from_reference,
    harness_key,
    load_latentft_reference,
)

MANIFEST = Path("/work/shared/latentft-reference/architecture_manifest.json")
FIXTURE = Path(__file__).parent / "fixtures" / "latentft_reference_manifest.json"


def reference_keys(model: nn.Module) -> dict:
    """{harness key: the reference's key}, from the module types: the reference wraps GroupNorm
    (.gn.), Linear (.linear.) and, inside its U-Net, Conv1d (.conv.) in modules of their own."""
    from bench.models.unet1d import PaperUNet1D

    unets = [p for p, m in model.named_modules() if isinstance(m, PaperUNet1D)]
    names = {}
    for prefix, module in model.named_modules():
        in_unet = any(p == "" or prefix == p or prefix.startswith(p + ".") for p in unets)
        wrapper = (
            "gn"
            if isinstance(module, nn.GroupNorm)
            else "linear"
            if type(module) is nn.Linear
            else "conv"
            if isinstance(module, nn.Conv1d) and in_unet
            else None
        )
        for name, _ in module.named_parameters(recurse=False):
            key = f"{prefix}.{name}" if prefix else name
            names[key] = f"{prefix}.{wrapper}.{name}" if wrapper else key
    return names


def hparams(latent=8, hidden=(32, 32, 32), base=16, mults=(1, 2), blocks=1, attn=(256,), encoder="mlp"):
    unet = {
        "_target_": "latentft.arc.unet1d.UNet1d",
        "data_resolution": 512,
        "out_channels": 80,
        "model_dim": base,
        "channel_mults": list(mults),
        "num_blocks_per_res": blocks,
        "kernel_size": 3,
        "dilation_sequence": [1] * (blocks + 1),
        "use_attention": True,
        "attn_resolutions": list(attn),
    }
    enc = (
        {
            "_target_": "latentft.arc.pointwise_net.PointwiseNet",
            "in_channels": 80,
            "out_channels": latent,
            "hidden_channels": list(hidden),
        }
        if encoder == "mlp"
        else {**unet, "in_channels": 80, "out_channels": latent, "use_t": False}
    )
    return {
        "model": {
            "_target_": "latentft.diffusion.fmdiffae.FMDiffAE",
            "encoder": enc,
            "decoder": {**unet, "in_channels": 80 + latent, "use_t": True},
            "freq_mask": {
                "_target_": "latentft.arc.correlated_fft_mask.CorrelatedFFTMask",
                "n_fft": 1024,
                "sigma": 0.5,
                "p": 2,
                "logscale": True,
                "eps": 1e-6,
                "mask_during_training": True,
            },
            "datashape": [80, 512],
            "sigma_data": 0.5,
            "use_tanh": False,
        },
        "batch_size": 256,
        "use_ema_weights": True,
        "ema_decay": 0.999,
        "seed": 3,
    }


def write_reference_checkpoint(path, hp, seed=0, corrupt=None):
    """A .ckpt as Lightning writes the reference's FMDiffAEModule: random trained and EMA weights."""
    torch.manual_seed(seed)
    model = LatentFT(config_from_reference(hp["model"]))
    keys = reference_keys(model)
    state_dict = {}
    for copy in ("model.", "ema_model.module."):
        for key, tensor in model.state_dict().items():
            state_dict[copy + keys[key]] = torch.randn_like(tensor) * 0.05
    state_dict["ema_model.n_averaged"] = torch.tensor(1234)
    if corrupt:
        corrupt(state_dict)
    checkpoint = {
        "epoch": 3,
        "global_step": 1234,
        "pytorch-lightning_version": "2.5.1",
        "state_dict": state_dict,
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 3}}}},
        "callbacks": {
            "ModelCheckpoint{'monitor': 'FAD/max_fad', 'mode': 'min'}": {
                "best_model_score": torch.tensor(1.5),
                "best_model_path": "/runs/x.ckpt",
                "best_k_models": {"/runs/x.ckpt": torch.tensor(1.5)},
            }
        },
        "optimizer_states": [
            {
                "state": {0: {"step": torch.tensor(3.0)}},
                "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0]}],
            }
        ],
        "lr_schedulers": [{"base_lrs": [1e-4], "last_epoch": 1234, "start_factor": 0.01}],
        "hparams_name": "kwargs",
        "hyper_parameters": hp,
    }
    torch.save(checkpoint, path)
    return state_dict


def test_reference_checkpoint_loads_its_ema_weights_and_generates(tmp_path):
    path = tmp_path / "last.ckpt"
    written = write_reference_checkpoint(path, hparams())
    model, state = load_latentft_reference(path, "mlp")
    assert state["step"] == 1234 and state["meta"]["weights"] == "ema"
    ours = model.state_dict()
    for key, tensor in written.items():
        if key.startswith("ema_model.module."):
            assert torch.equal(ours[harness_key(key[len("ema_model.module.") :])], tensor)
    assert (model.config.cond_dropout, model.config.mask_scores, model.config.clamp_output) == (
        0.0,
        "columns",
        False,
    )
    latent = model.encode(torch.rand(1, 80, 64) * 2 - 1)
    mel = model.generate([latent, torch.zeros_like(latent)], [2.0, -1.0], [0], SamplerConfig(steps=2), 64)
    assert mel.shape == (1, 80, 64) and torch.isfinite(mel).all()


def test_a_wrong_architecture_is_refused_naming_the_first_key_and_shapes(tmp_path):
    path = tmp_path / "wrong.ckpt"

    def widen(state_dict):
        key = "ema_model.module.decoder.dec.512_block0.conv0.conv.weight"
        state_dict[key] = torch.zeros(16, 99, 3)

    write_reference_checkpoint(path, hparams(), corrupt=widen)
    with pytest.raises(
        ReferenceCheckpointError,
        match=r"decoder\.dec\.512_block0\.conv0\.weight: the checkpoint's "
        r"shape is \[16, 99, 3\], the model's \[16, 48, 3\]",
    ):
        load_latentft_reference(path, "mlp")
    write_reference_checkpoint(path, hparams(encoder="unet"))
    with pytest.raises(ReferenceCheckpointError, match="'unet' encoder, not 'mlp'"):
        load_latentft_reference(path, "mlp")
    torch.save({"ema": {}}, path)
    with pytest.raises(ReferenceCheckpointError, match="not a Lightning checkpoint"):
        load_latentft_reference(path, "mlp")


def test_unsafe_pickles_are_refused(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"x": np.dtype("float32")}}, path)
    with pytest.raises(ReferenceCheckpointError, match="refused: the LatentFT reference checkpoint asks for"):
        load_latentft_reference(path, "mlp")


def test_full_size_reference_checkpoint_keys_on_the_meta_device():
    manifest = json.loads((MANIFEST if MANIFEST.is_file() else FIXTURE).read_text())["modules"]
    for encoder, reference in (("mlp", "encoder_mlp"), ("unet", "encoder_unet")):
        kwargs = {k: v for k, v in manifest["decoder"]["kwargs"].items() if k != "in_channels"}
        hp = {
            "model": {
                "encoder": {"_target_": manifest[reference]["class"], **manifest[reference]["kwargs"]},
                "decoder": {"_target_": "UNet1d", **manifest["decoder"]["kwargs"]},
            }
        }
        config = config_from_reference(hp["model"])
        with torch.device("meta"):
            model = LatentFT(config)
        keys = reference_keys(model)
        expected = {f"encoder.{k}" for k in manifest[reference]["tensors"]} | {
            f"decoder.{k}" for k in manifest["decoder"]["tensors"]
        }
        assert set(keys.values()) == expected
        shapes = {
            **{f"encoder.{k}": v for k, v in manifest[reference]["tensors"].items()},
            **{f"decoder.{k}": v for k, v in manifest["decoder"]["tensors"].items()},
        }
        assert all(list(t.shape) == shapes[keys[k]] for k, t in model.state_dict().items())
        assert all(harness_key(v) == k for k, v in keys.items())
        assert kwargs["model_dim"] == config.decoder_base == 256


@pytest.mark.slow
def test_the_system_runs_a_reference_checkpoint(tmp_path, fixture_clips):
    from support.paths import FIXTURES

    from bench.core.config import RunConfig
    from bench.core.runner import run_table1

    path = tmp_path / "last.ckpt"
    write_reference_checkpoint(path, hparams())
    config = RunConfig(
        scale="smoke",
        data=str(FIXTURES),
        systems=("latentft-mlp",),
        tasks=("conditional",),
        cache_dir=str(tmp_path / "cache"),
        data_cache_dir=str(tmp_path / "data"),
        out_dir=str(tmp_path / "out"),
        progress=False,
        system_options={"latentft-mlp": {"checkpoint": str(path), "steps": "2"}},
    )
    row = run_table1(config)["rows"]["latentft-mlp"]
    assert row["info"]["trained_steps"] == 1234 and row["info"]["weights"] == "given"
    assert row["tasks"]["conditional"]["summary"]["n_ok"] == 3 * 14
