"""LatentFT as a system: a checkpoint written by the harness's trainer, run through both tasks."""

import numpy as np
import pytest
import torch
from conftest import FIXTURES

from bench.core.config import RunConfig
from bench.core.mel import normalised_mel
from bench.core.registry import system_status
from bench.core.runner import run_table1
from bench.models.latentft import LatentFT, LatentFTConfig
from bench.models.training import TrainConfig, train

TINY = LatentFTConfig(latent_channels=4, encoder_hidden=16, decoder_base=8, decoder_mults=(1, 2))


def test_without_a_checkpoint_the_row_says_how_to_train(tmp_path):
    status = system_status("latentft-mlp", {"checkpoint": str(tmp_path / "missing.pt")})
    assert not status.availability.ok
    assert "missing.pt" in status.availability.reason
    assert "make train SYSTEM=latentft-mlp" in status.availability.fix


@pytest.mark.slow
def test_latentft_runs_both_tasks_from_a_checkpoint_path(tmp_path, fixture_clips):
    torch.manual_seed(0)
    mels = torch.as_tensor(normalised_mel(np.stack(fixture_clips)), dtype=torch.float32)
    checkpoint = tmp_path / "tiny.pt"
    train(
        LatentFT(TINY),
        mels,
        TrainConfig(steps=2, batch_size=2, checkpoint_every=2, model=TINY),
        checkpoint,
        {"dataset": "fixtures"},
        progress=False,
        log=lambda *_: None,
    )
    config = RunConfig(
        scale="smoke",
        data=str(FIXTURES),
        systems=("latentft-mlp",),
        cache_dir=str(tmp_path / "cache"),
        data_cache_dir=str(tmp_path / "data"),
        out_dir=str(tmp_path / "out"),
        progress=False,
        system_options={"latentft-mlp": {"checkpoint": str(checkpoint), "steps": "2"}},
    )
    record = run_table1(config)
    row = record["rows"]["latentft-mlp"]
    from bench.models.checkpoint_store import load_state, weights_sha256

    assert row["fingerprint"]["sampling_steps"] == 2
    assert row["fingerprint"]["weights_sha256"] == weights_sha256(load_state(checkpoint))
    assert row["info"]["weights"] == "given" and row["info"]["trained_steps"] == 2
    # smoke: 3 clips x 14 conditional bands, 3 pairs x 6 band pairs (protocol.md section 2)
    for task, expected in (("conditional", 3 * 14), ("blend", 3 * 6)):
        summary = row["tasks"][task]["summary"]
        assert len(row["tasks"][task]["items"]) == expected
        assert summary["n_ok"] == expected and summary["n_failed"] == 0
        assert summary["loudness"] is not None
