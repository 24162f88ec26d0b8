"""The LatentFT ablations (Tables 9-10): each variant's training loss uses the intended mask, the
band-pass augmentation is what its docstring says, and the table runs on 2-step checkpoints."""

import json
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch
from support.paths import FIXTURES

from bench.core.config import RunConfig
from bench.core.mel import normalised_mel
from bench.core.safe_load import load_torch_file
from bench.core.storage import file_sha256
from bench.experiments.ablation_table import run_ablation_table, training_summary
from bench.models.checkpoint_store import load_state, weights_sha256
from bench.models.edm import edm_loss
from bench.models.frequency_mask import apply_mask, sample_band_pass_masks
from bench.models.latentft import LatentFT, LatentFTConfig
from bench.models.latentft_ablations import ABLATION_SYSTEMS, BASE, BASE_CONFIG, VARIANTS
from bench.models.training import TrainConfig, train

TINY = LatentFTConfig(latent_channels=4, encoder_hidden=16, decoder_base=8, decoder_mults=(1, 2))
BINS = 513


def _kernel(log_axis: bool) -> torch.Tensor:
    v = np.linspace(0.0, 1.0, BINS)
    u = np.log(v + 1e-6) if log_axis else v
    k = np.exp(-0.5 * (np.abs(u[:, None] - u[None, :]) / 0.5) ** 2)
    return torch.as_tensor(k / np.linalg.norm(k, axis=0, keepdims=True), dtype=torch.float32)


def _band_pass(batch, generator):
    u = torch.rand(batch, 2, generator=generator).double().numpy() * np.log(2048) - np.log(1024)
    low, high = np.sort(np.exp(u), axis=1).T
    low, high = np.where(low < 2 / 1024, 0.0, low), np.minimum(high, 1.0)
    v = np.linspace(0.0, 1.0, BINS)
    return torch.as_tensor((v >= low[:, None]) & (v <= high[:, None]), dtype=torch.float32)


def _dft(kernel):
    def draw(batch, generator):
        scores = torch.randn(batch, BINS, generator=generator) @ kernel.T
        return (scores > torch.randn(batch, 1, generator=generator)).float()

    return draw


EXPECTED_MASKS = {  # written from docs/protocol.md section 5, independently of models/frequency_mask.py
    BASE: _dft(_kernel(True)),
    "latentft-mlp-no-mask": lambda batch, generator: torch.ones(batch, BINS),
    "latentft-mlp-no-corr": _dft(torch.eye(BINS)),
    "latentft-mlp-no-log": _dft(_kernel(False)),
    "latentft-mlp-no-encoder": _dft(_kernel(True)),
    "latentft-mlp-band-pass": _band_pass,
}


def _config(name: str) -> LatentFTConfig:
    return replace(TINY, **VARIANTS.get(name, ({}, ""))[0])


@pytest.mark.slow
@pytest.mark.parametrize("name", ABLATION_SYSTEMS)
def test_each_variant_trains_with_its_mask(name):
    torch.manual_seed(0)
    model = LatentFT(_config(name))
    mel = torch.randn(3, 80, 64).clamp(-1, 1)
    loss = model.loss(mel, torch.Generator().manual_seed(11))

    generator = torch.Generator().manual_seed(11)
    latent = mel if name == "latentft-mlp-no-encoder" else model.encoder(mel)
    masks = EXPECTED_MASKS[name](3, generator)
    keep = (torch.rand(3, generator=generator) >= TINY.cond_dropout).float()
    condition = apply_mask(latent, masks) * keep[:, None, None]
    assert torch.equal(loss, edm_loss(model.denoiser(condition), mel, generator))
    assert model.latent_channels == (80 if name == "latentft-mlp-no-encoder" else TINY.latent_channels)


def test_band_pass_masks_are_one_band_with_low_and_high_passes_at_the_stated_rate():
    masks = sample_band_pass_masks(20_000, torch.Generator().manual_seed(3)).numpy()
    assert np.array_equal(masks[:50], _band_pass(50, torch.Generator().manual_seed(3)).numpy())
    kept = masks.sum(axis=1)
    runs = (np.diff(masks, axis=1, prepend=0) == 1).sum(axis=1)
    assert set(runs[kept > 0]) == {1}  # one contiguous band
    rate = 1 - (1 - np.log(2) / np.log(2048)) ** 2
    assert abs((masks[:, 0] == 1).mean() - rate) < 0.01 and abs((masks[:, -1] == 1).mean() - rate) < 0.01
    assert (kept == BINS).mean() < 0.03 and np.median(kept) < BINS / 4  # mostly narrow bands


def test_trainable_variants_change_only_their_fields():
    from bench.models.trainable import TRAINABLE

    base = TRAINABLE[BASE][0]()
    # a variant's tiny is the base row's config, tiny-3000 (models/latentft_ablations.py BASE_CONFIG)
    counterpart = {"tiny": BASE_CONFIG, "paper": "paper"}
    assert base[BASE_CONFIG].steps == 3000 and base["tiny"].steps > base[BASE_CONFIG].steps
    for name, (changes, _) in VARIANTS.items():
        configs = TRAINABLE[name][0]()
        assert set(configs) == set(counterpart), name
        for scale, config in configs.items():
            reference = base[counterpart[scale]]
            assert replace(config, model=reference.model) == reference
            ours, theirs = asdict(config.model), asdict(reference.model)
            assert {k for k in ours if ours[k] != theirs[k]} == set(changes), name


@pytest.mark.slow
def test_table_on_two_step_checkpoints(tmp_path, fixture_clips):
    mels = torch.as_tensor(normalised_mel(np.stack(fixture_clips)), dtype=torch.float32)
    # the base and the structurally different variant run; one unfinished and one missing row
    trained, unfinished, missing = (
        (BASE, "latentft-mlp-no-encoder"),
        "latentft-mlp-band-pass",
        "latentft-mlp-no-mask",
    )
    systems = (*trained, unfinished, missing)
    options = {}
    for name in systems:
        path = tmp_path / f"{name}.pt"
        if name != missing:
            torch.manual_seed(0)
            config = _config(name)
            steps = TrainConfig(steps=2, batch_size=2, checkpoint_every=2, model=config)
            train(
                LatentFT(config),
                mels,
                steps,
                path,
                {"dataset": "fixtures"},
                progress=False,
                log=lambda *_: None,
            )
        if name == unfinished:  # as if a 4-step run had been stopped at its step-2 checkpoint
            state = load_torch_file(path)
            state["config"]["steps"] = 4
            torch.save(state, path)
        options[name] = {"checkpoint": str(path), "steps": "2"}
    config = RunConfig(
        scale="smoke",
        data=str(FIXTURES),
        systems=systems,
        system_options=options,
        cache_dir=str(tmp_path / "cache"),
        data_cache_dir=str(tmp_path / "data"),
        out_dir=str(tmp_path / "out"),
        progress=False,
    )
    record = run_ablation_table(config)
    out = tmp_path / "out"
    assert set(record["rows"]) == set(trained)
    assert f"make train SYSTEM={missing}" in record["unavailable"][missing]["fix"]
    assert "step 2 of 4" in record["unavailable"][unfinished]["reason"]
    assert f"make train SYSTEM={unfinished}" in record["unavailable"][unfinished]["fix"]
    saved = json.loads((out / "table_ablations.json").read_text())
    assert saved["schema"] == "latentft-bench/table-ablations/v1"
    for name in trained:
        state = load_torch_file(options[name]["checkpoint"])
        training = saved["ablations"][name]["training"]
        assert training["final_loss"] == pytest.approx(np.mean(state["losses"]), abs=1e-12)
        expected = asdict(_config(name)) | {"decoder_mults": [1, 2], "attention_at": []}
        assert training["model_config"] == expected
        fingerprint = saved["rows"][name]["fingerprint"]
        assert fingerprint["weights_sha256"] == weights_sha256(load_state(options[name]["checkpoint"]))
        assert saved["rows"][name]["info"]["checkpoint_sha256"] == file_sha256(options[name]["checkpoint"])
        assert training_summary(options[name]["checkpoint"])["trained_steps"] == 2
        for task in ("conditional", "blend"):
            assert saved["rows"][name]["tasks"][task]["summary"]["n_ok"] > 0
    table = (out / "table_ablations.md").read_text()
    assert f"| {missing} † |" in table and f"| {unfinished} † |" in table
    assert "the bounds are in table_ablations.csv" in table
    assert all(f"| {name} | " in table for name in trained) and " ±" in table
    csv = (out / "table_ablations.csv").read_text().splitlines()
    assert csv[0].startswith("system,status,cond_loudness") and len(csv) == 1 + len(systems)


def test_the_base_row_uses_the_weights_at_the_variants_step_count(tmp_path):
    from bench.core.config import RunConfig
    from bench.experiments.ablation_table import with_base_weights
    from bench.models.checkpoint_store import load_state, resolve

    config = with_base_weights(RunConfig(scale="small", systems=ABLATION_SYSTEMS))
    path = config.system_options[BASE]["checkpoint"]
    assert path == str(resolve(BASE, BASE_CONFIG)) and path.endswith(f"{BASE}-{BASE_CONFIG}.pt")
    assert load_state(path)["step"] == 3000  # the shipped tiny-3000 weights (or the same trained here)
    given = RunConfig(
        scale="small",
        systems=ABLATION_SYSTEMS,
        system_options={BASE: {"checkpoint": str(tmp_path / "mine.pt")}},
    )
    assert with_base_weights(given) == given
    without_base = RunConfig(scale="small", systems=ABLATION_SYSTEMS[1:])
    assert with_base_weights(without_base) == without_base
