"""The shared EDM core, the latent-frequency masks and LatentFT's training and sampling."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from bench.core.bands import FOUR_BAND_SPLIT, band_pass
from bench.models.edm import SamplerConfig, heun_sample, initial_noise, karras_sigmas, precondition
from bench.models.frequency_mask import apply_mask, band_masks, sample_training_masks
from bench.models.latentft import LatentFT, LatentFTConfig
from bench.models.training import TrainConfig, train

TINY = LatentFTConfig(
    latent_channels=4, encoder_hidden=16, decoder_base=8, decoder_mults=(1, 2), cond_dropout=0.2
)


def test_karras_schedule_and_exact_denoiser():
    sigmas = karras_sigmas(SamplerConfig(steps=10))
    assert sigmas[0] == pytest.approx(80.0) and sigmas[-2] == pytest.approx(0.002) and sigmas[-1] == 0
    target = torch.full((2, 3, 8), 0.25)
    out = heun_sample(lambda x, s: target, torch.randn(2, 3, 8), SamplerConfig(steps=10))
    torch.testing.assert_close(out, target)


def test_preconditioning_limits():
    x = torch.randn(2, 3, 4)
    zero_net = lambda x_in, c_noise: torch.zeros_like(x_in)  # noqa: E731
    # D = c_skip x: ~x at tiny sigma, ~0 at huge sigma
    torch.testing.assert_close(precondition(zero_net, x, torch.tensor(1e-4)), x, atol=1e-6, rtol=1e-6)
    assert precondition(zero_net, x, torch.tensor(1e4)).abs().max() < 1e-6


def test_initial_noise_does_not_depend_on_the_batch():
    alone = initial_noise((3, 5), [7])
    together = initial_noise((3, 5), [1, 7, 9])
    torch.testing.assert_close(alone[0], together[1])


def test_training_masks_are_correlated_across_log_frequency():
    masks = sample_training_masks(2000, torch.Generator().manual_seed(0)).numpy()
    fraction = masks.mean()
    assert 0.3 < fraction < 0.7
    near = np.mean(masks[:, 200] == masks[:, 205])
    far = np.mean(masks[:, 2] == masks[:, 400])
    assert near > 0.9 and far < near - 0.2
    independent = sample_training_masks(2000, torch.Generator().manual_seed(0), correlated=False).numpy()
    assert np.mean(independent[:, 200] == independent[:, 205]) < near - 0.2
    assert sample_training_masks(3, torch.Generator(), masking=False).min() == 1


def test_band_mask_in_torch_matches_the_metric_band_pass():
    latent = torch.randn(4, 3, 512, dtype=torch.float64)
    masked = apply_mask(latent, band_masks(list(FOUR_BAND_SPLIT)).double())
    for i, band in enumerate(FOUR_BAND_SPLIT):
        np.testing.assert_allclose(masked[i].numpy(), band_pass(latent[i].numpy(), band), atol=1e-10)


def _fixed_loss(model, data):
    with torch.no_grad():
        return float(np.mean([model.loss(data, torch.Generator().manual_seed(k)).item() for k in range(16)]))


@pytest.mark.slow
def test_latentft_learns(tmp_path):
    torch.manual_seed(0)
    data = torch.tanh(torch.randn(6, 80, 1).repeat(1, 1, 64) + 0.1 * torch.randn(6, 80, 64))
    model = LatentFT(TINY)
    before = _fixed_loss(model, data)
    config = TrainConfig(steps=150, batch_size=6, lr=1e-2, warmup_steps=1, checkpoint_every=150, model=TINY)
    train(model, data, config, tmp_path / "a.pt", {}, progress=False, log=lambda *_: None)
    assert _fixed_loss(model, data) < 0.9 * before


@pytest.mark.slow
def test_training_resumes_exactly_after_a_stop(tmp_path):
    data = torch.randn(6, 80, 64).tanh()
    config = TrainConfig(steps=12, batch_size=4, lr=1e-3, warmup_steps=3, checkpoint_every=6, model=TINY)
    torch.manual_seed(0)
    straight = LatentFT(TINY)
    train(straight, data, config, tmp_path / "a.pt", {}, progress=False, log=lambda *_: None)
    torch.manual_seed(0)
    train(
        LatentFT(TINY),
        data,
        replace(config, steps=6),
        tmp_path / "b.pt",
        {},
        progress=False,
        log=lambda *_: None,
    )
    resumed = LatentFT(TINY)  # as in a new process: everything comes from the checkpoint
    train(resumed, data, config, tmp_path / "b.pt", {}, progress=False, log=lambda *_: None)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)


@pytest.mark.slow
def test_generation_is_seeded_and_batch_independent():
    torch.manual_seed(0)
    model = LatentFT(TINY).eval()
    condition = torch.randn(3, 4, 64)
    null = torch.zeros_like(condition)
    sampler = SamplerConfig(steps=4)
    together = model.generate([condition, null], [2.0, -1.0], [5, 6, 7], sampler, 64)
    alone = model.generate([condition[1:2], null[1:2]], [2.0, -1.0], [6], sampler, 64)
    torch.testing.assert_close(together[1:2], alone, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(together).all()
