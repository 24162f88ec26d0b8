"""The condition-use ratio (models/condition_use.py): 1 when the condition is ignored, about 0 when it
gives the clean clip; logged in training without changing it."""

import json

import pytest
import torch

from bench.models.condition_use import condition_use, diagnose, fit_pca, pca_ratio, training_monitor
from bench.models.latentft import LatentFT, LatentFTConfig
from bench.models.training import TrainConfig, train

TINY = LatentFTConfig(latent_channels=4, encoder_hidden=16, decoder_base=8, decoder_mults=(1, 2))


def _mels(n=3, frames=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.tanh(torch.randn(n, 80, frames, generator=g).cumsum(-1) / 8)


def _model(seed=0):
    torch.manual_seed(seed)
    model = LatentFT(TINY).eval()
    torch.nn.init.normal_(model.decoder.out[-1].weight, std=0.05)  # a decoder whose condition matters
    return model


def test_an_encoder_of_zeros_gives_one():
    model = _model()
    torch.nn.init.zeros_(model.encoder.net[-1].weight)
    torch.nn.init.zeros_(model.encoder.net[-1].bias)
    result = condition_use(model, _mels(), sigmas=(1.0, 5.0))
    assert result["overall"] == {"1.0": 1.0, "5.0": 1.0}
    assert all(r == 1.0 for ratios in result["bands"].values() for r in ratios.values())


class Oracle:
    """Its latent is the clip; its denoiser returns the condition (the clean clip) unless it is null."""

    def encode(self, mels):
        return mels

    def denoiser(self, condition):
        return lambda x, sigma: condition if condition.abs().sum() > 0 else torch.zeros_like(x)


def test_an_oracle_that_passes_the_clean_target_gives_about_zero():
    result = condition_use(Oracle(), _mels(), sigmas=(1.0, 2.0, 5.0))
    assert all(r < 1e-6 for r in result["overall"].values())
    # a band alone gives only part of the clip
    assert 0.0 < result["bands"]["0-0.0626"]["1.0"] < 1.0


def test_a_trained_models_ratio_is_between_and_deterministic():
    model, mels = _model(), _mels()
    a, b = condition_use(model, mels), condition_use(model, mels)
    assert a == b and all(0.0 < r for r in a["overall"].values())
    assert set(a["bands"]) == {
        "0-0.0626",
        "0.0626-1",
        "0-0.0157",
        "0.0157-0.0626",
        "0.0626-0.2501",
        "0.2501-1",
    }


def test_pca_reference_is_zero_with_every_component_and_one_with_none():
    mels = _mels(4)
    pca = fit_pca(mels)
    assert all(r < 1e-12 for r in pca_ratio(pca, mels, dims=80).values())
    assert all(r == pytest.approx(1.0) for r in pca_ratio(pca, mels, dims=0).values())
    sixteen = pca_ratio(pca, mels, dims=16)
    assert all(0.0 < r < 1.0 for r in sixteen.values())
    result = diagnose(_model(), mels[:2], mels)
    assert set(result["pca"]) == {"dims", "fitted_on", "held_out", "training"}


def test_training_logs_the_ratio_without_changing_the_run(tmp_path):
    mels = _mels(4)
    config = TrainConfig(steps=4, batch_size=2, checkpoint_every=2, diagnose_every=2, model=TINY)
    runs = {}
    for name, monitor in (("plain", None), ("monitored", training_monitor(mels[:2], sigmas=(1.0,)))):
        torch.manual_seed(0)
        path = tmp_path / f"{name}.pt"
        train(
            LatentFT(TINY),
            mels,
            config,
            path,
            {"dataset": "test"},
            progress=False,
            log=lambda *_: None,
            monitor=monitor,
        )
        runs[name] = torch.load(path, weights_only=False)
    for key, tensor in runs["plain"]["ema"].items():
        assert torch.equal(tensor, runs["monitored"]["ema"][key])
    assert [m["step"] for m in runs["monitored"]["monitor"]] == [2, 4] and "monitor" not in runs["plain"]
    lines = [json.loads(line) for line in (tmp_path / "monitored.log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "monitor" in line] == [2, 4]
