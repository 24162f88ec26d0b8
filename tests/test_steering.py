"""ILVR and guidance on a tiny unconditional prior: steering pulls the selected band towards the
reference, batch-independently, and both systems run the two tasks from a checkpoint path."""

import numpy as np
import pytest
import torch
from conftest import FIXTURES

from bench.core.bands import CONDITIONAL_BANDS, FOUR_BAND_SPLIT
from bench.core.config import RunConfig
from bench.core.mel import normalised_mel
from bench.core.registry import system_status
from bench.core.runner import run_table1
from bench.models.edm import SamplerConfig
from bench.models.mel_prior import MelPrior, MelPriorConfig
from bench.models.steering import ILVR, band_bins, guided_denoiser, in_band_distance
from bench.models.training import TrainConfig, train

TINY = MelPriorConfig(base=8, mults=(1, 2))
SAMPLER = SamplerConfig(steps=16)  # guidance at the reference scale overshoots with fewer steps
SEEDS = [11, 12, 13, 14]


@pytest.fixture(scope="module")
def fixture_mels(fixture_clips):
    return torch.as_tensor(normalised_mel(np.stack(fixture_clips)), dtype=torch.float32)


@pytest.fixture(scope="module")
def prior(fixture_mels, tmp_path_factory):
    torch.manual_seed(0)
    model = MelPrior(TINY)
    checkpoint = tmp_path_factory.mktemp("prior") / "uncond.pt"
    train(
        model,
        fixture_mels,
        TrainConfig(steps=30, batch_size=4, lr=3e-3, warmup_steps=1, checkpoint_every=30, model=TINY),
        checkpoint,
        {"dataset": "fixtures"},
        progress=False,
        log=lambda *_: None,
    )
    return model.eval(), checkpoint


def _setup(fixture_mels, band):
    references = fixture_mels[:4]
    masks = band_bins([band] * 4, references.shape[-1])
    return references, masks


@pytest.mark.slow
@pytest.mark.parametrize("band", [FOUR_BAND_SPLIT[0], FOUR_BAND_SPLIT[2]], ids=str)
def test_steering_moves_the_band_towards_the_reference(prior, fixture_mels, band):
    model, _ = prior
    references, masks = _setup(fixture_mels, band)
    free = model.sample(SEEDS, SAMPLER, 512)
    baseline = in_band_distance(free, references, masks)
    for variant in ("per-step", "paper"):
        steered = model.sample(
            SEEDS,
            SAMPLER,
            512,
            after_step=ILVR((references,), (masks,), tuple(SEEDS), SAMPLER.steps, variant),
        )
        assert (in_band_distance(steered, references, masks) < 0.5 * baseline).all(), variant
    guided = model.sample(SEEDS, SAMPLER, 512, denoise=guided_denoiser(model.denoise, [references], [masks]))
    assert (in_band_distance(guided, references, masks) < 0.8 * baseline).all()
    pushed_away = model.sample(
        SEEDS, SAMPLER, 512, denoise=guided_denoiser(model.denoise, [references], [masks], sign=-1.0)
    )
    assert (
        in_band_distance(pushed_away, references, masks) > in_band_distance(guided, references, masks)
    ).all()


@pytest.mark.slow
def test_blend_guidance_and_ilvr_pull_each_band_to_its_own_reference(prior, fixture_mels):
    model, _ = prior
    low, high = FOUR_BAND_SPLIT[0], FOUR_BAND_SPLIT[2]
    r1, r2 = fixture_mels[:4], fixture_mels[4:8]
    m1, m2 = band_bins([low] * 4, 512), band_bins([high] * 4, 512)
    free = model.sample(SEEDS, SAMPLER, 512)
    for out in (
        model.sample(SEEDS, SAMPLER, 512, after_step=ILVR((r1, r2), (m1, m2), tuple(SEEDS), SAMPLER.steps)),
        model.sample(SEEDS, SAMPLER, 512, denoise=guided_denoiser(model.denoise, [r1, r2], [m1, m2])),
    ):
        assert (in_band_distance(out, r1, m1) < in_band_distance(free, r1, m1)).all()
        assert (in_band_distance(out, r2, m2) < in_band_distance(free, r2, m2)).all()


@pytest.mark.slow
def test_steered_samples_do_not_depend_on_the_batch(prior, fixture_mels):
    model, _ = prior
    references, masks = _setup(fixture_mels, CONDITIONAL_BANDS[3])
    hook = ILVR((references,), (masks,), tuple(SEEDS), SAMPLER.steps)
    together = model.sample(SEEDS, SAMPLER, 512, after_step=hook)
    alone = model.sample(
        SEEDS[2:3],
        SAMPLER,
        512,
        after_step=ILVR((references[2:3],), (masks[2:3],), (SEEDS[2],), SAMPLER.steps),
    )
    torch.testing.assert_close(together[2:3], alone, atol=1e-5, rtol=1e-5)
    guided = model.sample(SEEDS, SAMPLER, 512, denoise=guided_denoiser(model.denoise, [references], [masks]))
    guided_alone = model.sample(
        SEEDS[2:3], SAMPLER, 512, denoise=guided_denoiser(model.denoise, [references[2:3]], [masks[2:3]])
    )
    torch.testing.assert_close(guided[2:3], guided_alone, atol=1e-5, rtol=1e-5)


def test_without_a_prior_the_rows_say_how_to_train(tmp_path):
    for name in ("ilvr", "ilvr-paper", "guidance"):
        status = system_status(name, {"checkpoint": str(tmp_path / "none.pt")})
        assert not status.availability.ok and "make train SYSTEM=uncond" in status.availability.fix


@pytest.mark.slow
def test_ilvr_and_guidance_run_both_tasks_from_a_checkpoint_path(prior, tmp_path):
    _, checkpoint = prior
    systems = ("ilvr", "ilvr-paper", "guidance")
    config = RunConfig(
        scale="smoke",
        data=str(FIXTURES),
        systems=systems,
        cache_dir=str(tmp_path / "cache"),
        data_cache_dir=str(tmp_path / "data"),
        out_dir=str(tmp_path / "out"),
        progress=False,
        system_options={name: {"checkpoint": str(checkpoint), "steps": "2"} for name in systems},
    )
    record = run_table1(config)
    assert record["rows"]["ilvr-paper"]["fingerprint"]["ilvr_variant"] == "paper"
    assert record["rows"]["guidance"]["fingerprint"]["guidance_scale"] == 1e-3
    for name in systems:
        for task in ("conditional", "blend"):
            summary = record["rows"][name]["tasks"][task]["summary"]
            assert summary["n_ok"] > 0 and summary["loudness"] is not None, (name, task)
