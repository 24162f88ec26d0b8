"""The multi-scale spectral DAE and HDAE: codes, the progressive schedule, and the table end to end
on tiny checkpoints."""

import json

import numpy as np
import pytest
import torch

from bench.models.hierarchical import HierarchicalConfig, HierarchicalDAE
from bench.models.trainable import note_features
from bench.models.training import TrainConfig, train
from bench.reports.hierarchy_table import run_hierarchy_table

pytestmark = pytest.mark.slow  # end to end: deselected by -m 'not slow'

TINY = dict(code_channels=4, encoder_base=8, decoder_base=8, decoder_mults=(1, 2))


@pytest.fixture(scope="module")
def features(fixture_clips):
    audio = np.stack([c[:32768] for c in fixture_clips])
    return note_features(audio)


@pytest.mark.parametrize("kind", ["msdae", "hdae"])
def test_codes_have_the_three_rates(features, kind):
    model = HierarchicalDAE(HierarchicalConfig(kind=kind, **TINY)).eval()
    codes = model.codes(list(features[1:]), 128)
    assert [tuple(c.shape) for c in codes] == [(8, 4, 4), (8, 4, 8), (8, 4, 16)]
    mels = model.decode(codes, list(range(8)), 128, steps=2)
    assert mels.shape == (8, 80, 128) and torch.isfinite(mels).all()


def test_msdae_trains_its_encoders_progressively(features):
    model = HierarchicalDAE(HierarchicalConfig(kind="msdae", total_steps=9, **TINY)).train()
    torch.nn.init.normal_(
        model.decoder.out[-1].weight, std=0.1
    )  # zero at init: no gradient would reach the codes
    generator = torch.Generator().manual_seed(0)
    grads = []
    for step in (0, 3, 6):
        model.set_step(step)
        model.zero_grad(set_to_none=True)
        model.loss(features, generator).backward()
        grads.append(
            [
                any(p.grad is not None and p.grad.abs().sum() > 0 for p in e.parameters())
                for e in model.encoders
            ]
        )
    assert grads == [[True, False, False], [False, True, False], [False, False, True]]


def expected_probes(data_cache, checkpoints, epochs):
    """The probe rows computed here from the notes, features and checkpoints, apart from the table."""
    from bench.datasets.notes_render import notes_dataset
    from bench.metrics.probes import fit_probe
    from bench.metrics.statistics import stratified_bootstrap_ci
    from bench.models.checkpoint_store import load_state

    sets = {split: notes_dataset(n, 0, data_cache, split) for split, n in (("train", 33), ("test", 22))}
    inputs = {split: note_features(np.asarray(s.clips, dtype=np.float64)) for split, s in sets.items()}
    labels = {
        split: {
            "pitch": np.array([c["pitch"] for c in s.manifest["clips"]]),
            "family": np.array([c["family_index"] for c in s.manifest["clips"]]),
        }
        for split, s in sets.items()
    }

    def row(representation, level, train_x, test_x):
        out = {"representation": representation, "level": level}
        for name in ("pitch", "family"):
            result = fit_probe(
                train_x,
                labels["train"][name],
                test_x,
                labels["test"][name],
                kind="mlp",
                seed=0,
                epochs=epochs,
            )
            correct = np.array(result["eval_correct"], dtype=float)
            out[f"{name}_accuracy"] = result["eval_accuracy"]
            out[f"{name}_accuracy_ci95"] = stratified_bootstrap_ci([correct], seed=0)
        return out

    rows = [
        row(
            "input mels (ceiling)",
            name,
            inputs["train"][i + 1].mean(-1).numpy(),
            inputs["test"][i + 1].mean(-1).numpy(),
        )
        for i, name in enumerate(("mel-32", "mel-64", "mel-128"))
    ]
    for kind, path in checkpoints.items():
        model = HierarchicalDAE(HierarchicalConfig(kind=kind, total_steps=6, **TINY))
        model.load_state_dict(load_state(path)["ema"])
        with torch.no_grad():
            codes = {
                split: model.eval().combine(model.encoder_outputs(list(f[1:]), f[0].shape[-1]))
                for split, f in inputs.items()
            }
        rows += [
            row(kind, level, codes["train"][i].mean(-1).numpy(), codes["test"][i].mean(-1).numpy())
            for i, level in enumerate(("h1", "h2", "h3"))
        ]
    return rows


def test_hierarchy_table_end_to_end_on_tiny_checkpoints(tmp_path, features):
    checkpoints = {}
    for kind in ("msdae", "hdae"):
        config = HierarchicalConfig(kind=kind, total_steps=6, **TINY)
        torch.manual_seed(0)
        path = tmp_path / f"{kind}.pt"
        train(
            HierarchicalDAE(config),
            features,
            TrainConfig(steps=6, batch_size=4, checkpoint_every=6, model=config),
            path,
            {"dataset": "fixtures"},
            progress=False,
            log=lambda *_: None,
        )
        checkpoints[kind] = str(path)
    record = run_hierarchy_table(
        seed=0,
        n_train=33,
        n_test=22,
        n_pairs=3,
        steps=2,
        vocoder_spec="griffin-lim:4",
        checkpoints=checkpoints,
        out_dir=tmp_path / "out",
        data_cache=tmp_path / "data",
        probe_epochs=20,
        melody_clips=(3, 2),
        melody_epochs=2,
        log=lambda *_: None,
    )
    assert [r["representation"] for r in record["probes"]].count("msdae") == 3
    assert [(r["representation"], r["level"]) for r in record["melody"]][-3:] == [
        ("hdae", "h1"),
        ("hdae", "h2"),
        ("hdae", "h3"),
    ]
    assert len(record["melody"]) == 10 and all(
        0.0 <= r["f1"] <= 1.0 and r["eval_bce"] > 0 for r in record["melody"]
    )
    assert len(record["swaps"]) == 6 and len(record["reconstruction"]) == 3
    assert [(r["representation"], r["level"]) for r in record["probes"]] == (
        [("input mels (ceiling)", m) for m in ("mel-32", "mel-64", "mel-128")]
        + [(kind, level) for kind in ("msdae", "hdae") for level in ("h1", "h2", "h3")]
    )
    assert record["probes"] == expected_probes(tmp_path / "data", checkpoints, 20)
    saved = json.loads((tmp_path / "out" / "table_hdae.json").read_text())
    assert saved["datasets"]["test"]["manifest_hash"] == record["datasets"]["test"]["manifest_hash"]
    text = (tmp_path / "out" / "table_hdae.md").read_text()
    assert "| msdae | h1 |" in text and "## Frame-wise melody probe (bilstm-2x64" in text


def test_a_missing_checkpoint_marks_the_row_and_the_table_still_runs(tmp_path):
    record = run_hierarchy_table(
        seed=0,
        n_train=22,
        n_test=22,
        n_pairs=2,
        steps=2,
        vocoder_spec="griffin-lim:2",
        checkpoints={"msdae": str(tmp_path / "none.pt"), "hdae": str(tmp_path / "none.pt")},
        out_dir=tmp_path / "out",
        data_cache=tmp_path / "data",
        probe_epochs=20,
        melody_clips=(0, 0),
        log=lambda *_: None,
    )
    assert set(record["unavailable"]) == {"msdae", "hdae"}
    assert "make train SYSTEM=msdae" in record["unavailable"]["msdae"]["fix"]
    assert "msdae †" in (tmp_path / "out" / "table_hdae.md").read_text()
