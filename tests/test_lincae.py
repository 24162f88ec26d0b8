"""Lin-CAE: the linear STFT representation, the implicit-linearity training batch, the
linearity / separation figures (checked on an exactly linear stand-in), and the table end to end."""

import numpy as np
import pytest
import torch

from bench.core.registry import make_embedder
from bench.models.lincae import CLIP, LinCAE, LinCAEConfig, to_audio, to_spec
from bench.models.training import TrainConfig, train
from bench.reports.lincae_table import evaluate_lincae, run_lincae_table

TINY = dict(latent_channels=4, encoder_base=8, decoder_base=8, decoder_mults=(1, 2))


def test_the_representation_is_linear_and_invertible():
    audio = torch.randn(3, CLIP) * 0.1
    torch.testing.assert_close(to_audio(to_spec(audio, 8.0), 8.0), audio, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        to_spec(audio[0:1] + audio[1:2], 8.0),
        to_spec(audio[0:1], 8.0) + to_spec(audio[1:2], 8.0),
        atol=1e-5,
        rtol=0,
    )


def test_homogeneity_gains_anneal_as_configured():
    model = LinCAE(LinCAEConfig(total_steps=100, **TINY))
    generator = torch.Generator().manual_seed(0)
    model.set_step(0)
    early = model._gains(4000, generator)
    assert early.min() >= 0.0 and early.max() <= 3.0 and (early == 0).any() and (early > 2).any()
    model.set_step(100)
    assert torch.all(model._gains(500, generator) == 1.0)


def test_the_linear_model_trains_on_singles_and_mixes():
    torch.manual_seed(0)
    audio = torch.randn(4, CLIP) * 0.1
    for linear in (True, False):
        model = LinCAE(LinCAEConfig(linear=linear, total_steps=10, **TINY))
        loss = model.loss(audio, torch.Generator().manual_seed(0))
        assert torch.isfinite(loss) and loss > 0


class LinearStandIn:
    """Enc = identity, Dec = identity: exactly additive and homogeneous."""

    def encode(self, audio):
        return audio[:, None, :]

    def decode(self, latent, seeds):
        return latent[:, 0, :]


def test_the_figures_of_an_exactly_linear_autoencoder():
    rng = np.random.default_rng(0)
    stems = rng.normal(size=(3, 4, CLIP)) * 0.05
    stems[1, 1] = 0.0  # no drums in clip 1
    mixes = stems.sum(axis=1)
    row = evaluate_lincae(LinearStandIn(), mixes, stems, [0, 1, 2], make_embedder("melstats"))
    assert row["encoder_additivity_rel_l2"] < 1e-6 and row["encoder_homogeneity_rel_l2"] < 1e-6
    assert row["decoder_additivity_snr_db"] > 60 and row["reconstruction_snr_db"] > 60
    assert row["separation"]["drums"]["n"] == 2
    for name in ("bass", "drums", "lead", "other"):
        assert row["separation"][name]["si_sdr_vs_true_stem_db"] > 60


def lincae_mixes(data_cache):
    """The table's clips (seed 0, 2 music21 test clips), cut with the table's chunk stream."""
    from bench.core.runner import embedded_dataset
    from bench.datasets.stems import music21_stems
    from bench.reports.lincae_table import _chunks

    return _chunks(music21_stems(embedded_dataset(2, 0, data_cache, "test")), 0)[0]


def reconstruction_of(checkpoint, mixes, seeds):
    """Dec(Enc(mix)) against the mix: SNR 10 log10(|r|^2 / |r - e|^2) in dB averaged over clips, written
    out here, and KAD of the melstats embeddings."""
    from bench.metrics.distribution import kad
    from bench.models.lincae import load_lincae

    model, _ = load_lincae(checkpoint)

    def enc(audio):
        with torch.no_grad():
            return model.encode(torch.as_tensor(audio, dtype=torch.float32)).double()

    def dec(latent):
        with torch.no_grad():
            return model.decode(latent.float(), seeds).double().numpy()

    def snr_db(estimate, reference):
        return float(
            np.mean([10 * np.log10(np.sum(r**2) / np.sum((r - e) ** 2)) for e, r in zip(estimate, reference)])
        )

    out_mix = dec(enc(mixes))
    embed = make_embedder("melstats")
    embeddings = [np.concatenate([embed.embed(x) for x in audio]) for audio in (out_mix, mixes)]
    return snr_db(out_mix, mixes), kad(*embeddings)


@pytest.mark.slow
def test_lincae_table_end_to_end_on_tiny_checkpoints(tmp_path, fixture_clips):
    audio = torch.as_tensor(np.stack([c[:CLIP] for c in fixture_clips]), dtype=torch.float32)
    checkpoints = {}
    for name, linear in (("lincae", True), ("lincae-base", False)):
        config = LinCAEConfig(linear=linear, total_steps=2, **TINY)
        torch.manual_seed(0)
        path = tmp_path / f"{name}.pt"
        train(
            LinCAE(config),
            audio,
            TrainConfig(steps=2, batch_size=2, checkpoint_every=2, model=config),
            path,
            {"dataset": "fixtures"},
            progress=False,
            log=lambda *_: None,
        )
        checkpoints[name] = str(path)
    record = run_lincae_table(
        seed=0,
        n_clips=2,
        checkpoints=checkpoints,
        out_dir=tmp_path / "out",
        data_cache=tmp_path / "data",
        log=lambda *_: None,
    )
    assert set(record["rows"]) == {"lincae", "lincae-base"}
    # the 2-step models' decoder additivity is at float32 rounding (above 100 dB), so it is checked on the
    # exactly linear stand-in above; reconstruction is computed here apart from the table
    mixes = lincae_mixes(tmp_path / "data")
    for name, row in record["rows"].items():
        snr_db, kad_value = reconstruction_of(checkpoints[name], mixes, seeds=[0, 1])  # seed 0's clip seeds
        assert row["reconstruction_snr_db"] == pytest.approx(snr_db, abs=1e-6)
        assert row["reconstruction_kad"] == pytest.approx(kad_value, rel=1e-6)
    text = (tmp_path / "out" / "table_lincae.md").read_text()
    assert "| lincae-base |" in text and "seed's Lin-CAE" in text
