"""Shipped inference weights (models/weights/): shipping keeps the EMA weights exactly, loading checks
the manifest's hash and names a damaged file, and a system looks for its weights in the right order."""

import json

import pytest
import torch

from bench.core.registry import get_system_class
from bench.models import checkpoint_store as store
from bench.models.mel_prior import MelPrior, MelPriorConfig, load_mel_prior
from bench.models.training import TrainConfig, train

TINY = MelPriorConfig(base=8, mults=(1, 2))


@pytest.fixture
def folders(tmp_path, monkeypatch):
    trained, shipped = tmp_path / "results" / "checkpoints", tmp_path / "models" / "weights"
    monkeypatch.setattr(store, "TRAINED_DIR", trained)
    monkeypatch.setattr(store, "SHIPPED_DIR", shipped)
    monkeypatch.setattr(store, "MANIFEST", shipped / "manifest.json")
    store._load_cached.cache_clear()
    yield trained, shipped
    store._load_cached.cache_clear()


def _train_prior(path, steps=3):
    torch.manual_seed(0)
    data = torch.randn(6, 80, 64)
    train(
        MelPrior(TINY),
        data,
        TrainConfig(steps=steps, batch_size=2, lr=1e-3, warmup_steps=1, checkpoint_every=steps, model=TINY),
        path,
        {"dataset": "random", "dataset_manifest_hash": "abc"},
        progress=False,
        log=lambda *_: None,
    )


@pytest.mark.slow
def test_shipped_weights_equal_the_training_ema_and_are_listed(folders):
    trained, shipped = folders
    _train_prior(store.trained_path("uncond"))
    full = store.load_state(store.trained_path("uncond"))
    entry = store.ship("uncond")
    target = store.shipped_path("uncond")
    assert target.is_file() and target.stat().st_size < full_size(store.trained_path("uncond"))
    manifest = json.loads((shipped / "manifest.json").read_text())["weights"]
    assert manifest["uncond-tiny.pt"] == entry
    assert entry["steps"] == 3 and entry["dataset_manifest_hash"] == "abc"
    assert entry["final_loss"] == pytest.approx(sum(full["losses"]) / 3)
    small = store.load_state(target)
    assert "optimiser" not in small and "model" not in small
    assert store.weights_sha256(small) == store.weights_sha256(full) == entry["weights_sha256"]
    a, _ = load_mel_prior(target)
    b, _ = load_mel_prior(store.trained_path("uncond"))
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def full_size(path):
    return path.stat().st_size


@pytest.mark.slow
def test_a_damaged_shipped_file_is_refused_by_name(folders):
    _train_prior(store.trained_path("uncond"))
    store.ship("uncond")
    target = store.shipped_path("uncond")
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(store.CheckpointError, match="uncond-tiny.pt: sha256 .* differs from the manifest"):
        store.load_state(target)
    unlisted = target.with_name("other-tiny.pt")
    unlisted.write_bytes(b"x")
    with pytest.raises(store.CheckpointError, match="other-tiny.pt: not listed"):
        store.load_state(unlisted)


@pytest.mark.slow
def test_a_system_prefers_a_given_path_then_its_own_training_then_the_shipped_weights(folders, tmp_path):
    ilvr = get_system_class("ilvr")
    assert ilvr.checkpoint({}) == store.trained_path("uncond")
    assert not ilvr.availability({}).ok
    _train_prior(store.trained_path("uncond"))
    store.ship("uncond")
    assert ilvr.checkpoint({}) == store.trained_path("uncond")
    store.trained_path("uncond").unlink()
    assert ilvr.checkpoint({}) == store.shipped_path("uncond")
    assert ilvr.availability({}).ok
    assert ilvr.checkpoint({"checkpoint": str(tmp_path / "mine.pt")}) == tmp_path / "mine.pt"


def test_the_committed_weights_match_their_manifest():
    entries = store.manifest()
    assert entries, "models/weights/manifest.json lists no shipped weights"
    for name, entry in entries.items():
        path = store.SHIPPED_DIR / name
        assert path.stat().st_size == entry["bytes"] <= store.SHIPPED_LIMIT_BYTES, name
        state = store.load_state(path)  # checks the sha256
        assert state["step"] == entry["steps"] and store.weights_sha256(state) == entry["weights_sha256"], (
            name
        )
        assert all(t.dtype == torch.float32 for t in state["ema"].values() if t.is_floating_point()), name
