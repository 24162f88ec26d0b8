import json

import numpy as np
import pytest
from conftest import FIXTURES, ROOT

NOTES = ROOT / "tests" / "fixtures" / "notes"


def score_notes(index):
    """Pitched notes of the fixture's score (the drum stem left out), clipped to the clip."""
    files = sorted(FIXTURES.glob("*.flac"))
    labels = json.loads((NOTES / f"{files[index].stem}.json").read_text())
    notes = [n for stem, name in zip(labels["notes"], labels["stems"]) if name != "drums" for n in stem]
    return np.array([[max(0.0, a), min(b, 5.944), p] for a, b, p, _ in notes]), labels


def test_basic_pitch_recovers_the_score_of_the_rendered_clip(fixture_clips):
    pytest.importorskip("onnxruntime")
    from bench.metrics.transcription import note_scores, transcribe

    estimate = transcribe(fixture_clips[0])
    assert estimate.shape[1] == 3 and len(estimate) > 10
    own = note_scores(score_notes(0)[0], estimate)["f1"]
    other = note_scores(score_notes(1)[0], estimate)["f1"]
    assert own > 0.5 and other < 0.15


def test_note_scores_by_hand():
    from bench.metrics.transcription import note_scores

    ref = np.array([[0.0, 0.5, 60], [1.0, 1.5, 64]])
    assert note_scores(ref, ref)["f1"] == 1.0
    shifted = ref + np.array([0.02, 0.02, 0])
    assert note_scores(ref, shifted)["f1"] == 1.0
    assert note_scores(ref, ref + np.array([0.2, 0.2, 0]))["f1"] == 0.0
    assert note_scores(ref, np.zeros((0, 3)))["f1"] == 0.0
    with pytest.raises(ValueError):
        note_scores(np.zeros((0, 3)), ref)


@pytest.mark.slow
def test_melody_accuracy_separates_same_and_different_clips(fixture_clips):
    pytest.importorskip("essentia")
    from bench.metrics.transcription import melody_accuracy, predominant_melody

    ta, fa = predominant_melody(fixture_clips[0])
    tb, fb = predominant_melody(fixture_clips[1])
    assert melody_accuracy(ta, fa, ta, fa)["overall_accuracy"] == 1.0
    assert melody_accuracy(ta, fa, tb, fb)["raw_pitch_accuracy"] < 0.3


def test_tempo_error_with_octave_tolerance(fixture_clips):
    from bench.metrics.transcription import tempo, tempo_error

    _, labels = score_notes(4)
    estimate = tempo(fixture_clips[4])
    assert tempo_error(estimate, labels["tempo_bpm"], octave_tolerant=True) < 0.05
    assert tempo_error(150.0, 75.0) == 1.0 and tempo_error(150.0, 75.0, octave_tolerant=True) == 0.0


@pytest.mark.slow
def test_probes_are_seeded_and_find_a_linear_label():
    from bench.metrics.probes import train_probe

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 10))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    a, b = train_probe(x, y, seed=3), train_probe(x, y, seed=3)
    assert a == b and a["val_accuracy"] > 0.9
    noise = train_probe(x, rng.integers(0, 4, size=400), kind="mlp", seed=3, epochs=100)
    assert noise["val_accuracy"] < 0.45
    with pytest.raises(ValueError, match="two classes"):
        train_probe(x, np.zeros(400))


def test_frame_pitch_scores_by_hand():
    from bench.metrics.transcription import frame_pitch_scores

    reference = np.zeros((2, 8, 88))
    reference[0, :4, 40] = 1
    reference[1, 2:, 50] = 1
    estimate = reference.copy()
    estimate[1, 2:4, 50] = 0  # two missed frames
    estimate[0, 5, 10] = 1  # one false alarm
    scores = frame_pitch_scores(reference, estimate, 0.1, 21)
    assert scores["precision"] == pytest.approx(8 / 9) and scores["recall"] == pytest.approx(8 / 10)
    assert scores["f1"] == pytest.approx(2 * (8 / 9) * 0.8 / (8 / 9 + 0.8))
    assert frame_pitch_scores(reference, np.zeros_like(reference), 0.1, 21)["f1"] == 0.0
    with pytest.raises(ValueError, match="differ"):
        frame_pitch_scores(reference, estimate[:, :4], 0.1, 21)


@pytest.mark.slow
def test_sequence_probe_learns_a_frame_wise_label_that_needs_context():
    from bench.metrics.probes import fit_sequence_probe
    from bench.metrics.transcription import frame_pitch_scores

    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 12, 3))
    y = np.zeros((240, 12, 2))
    y[:, 1:, 0] = x[:, :-1, 0] > 0  # the previous frame decides: a frame-wise MLP could not
    y[:, :, 1] = x[:, :, 1] > 0.5
    kwargs = dict(seed=1, epochs=25, hidden=16)
    result = fit_sequence_probe(x[:200], y[:200], x[200:], y[200:], **kwargs)
    assert result["eval_probabilities"].shape == (40, 12, 2)
    f1 = frame_pitch_scores(y[200:], result["eval_probabilities"], 0.1, 60)["f1"]
    shuffled = fit_sequence_probe(x[:200], y[rng.permutation(200)], x[200:], y[200:], **kwargs)
    assert f1 > 0.85 and result["eval_bce"] < 0.6 * shuffled["eval_bce"]
    alone = fit_sequence_probe(x[:200], y[:200], x[205:207], y[205:207], **kwargs)
    np.testing.assert_allclose(alone["eval_probabilities"], result["eval_probabilities"][5:7], atol=1e-6)
    with pytest.raises(ValueError, match="0 or 1"):
        fit_sequence_probe(x[:20], y[:20] * 0.5, x[:5], y[:5])


@pytest.mark.slow
def test_sweep_preservation_measures_are_perfect_for_the_reference_itself(fixture_clips):
    pytest.importorskip("essentia")
    from bench.reports.figures import preservation

    same = preservation(fixture_clips[2], fixture_clips[2])
    assert same["tonnetz_correlation"] == pytest.approx(1.0) and same["tempo_error"] == 0.0
    assert same["melody_accuracy"] == 1.0
    other = preservation(fixture_clips[3], fixture_clips[2])
    assert other["tonnetz_correlation"] < 0.9 and other["melody_accuracy"] < 0.8


@pytest.mark.slow
def test_sweep_instrument_probe_on_the_reference_system_matches_its_ceiling(tmp_path):
    import csv

    from bench.datasets.music21_render import build
    from bench.reports.figures import lead_instrument, sweep

    clipset = build(6, seed=5, out_root=tmp_path / "m21")
    chosen = list(clipset.ids[:3])
    audio = np.stack([np.asarray(clipset.clips[clipset.index(c)], dtype=np.float64) for c in chosen])
    assert all(lead_instrument(clipset, c) is not None for c in chosen)
    figure = sweep(
        "reference",
        window=200,
        steps=2,
        clips=(clipset, chosen, audio),
        probe_train=clipset,
        out_dir=tmp_path / "figures",
    )
    assert figure.is_file() and figure.suffix == ".png"
    with open(tmp_path / "figures" / "sweep-reference.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3  # windows starting at bins 0, 200 and 400
    for row in rows:
        assert float(row["tonnetz_correlation"]) == pytest.approx(1.0)
        assert float(row["instrument_probe_accuracy"]) == float(row["instrument_probe_ceiling"])
        assert 0.0 <= float(row["instrument_probe_chance"]) <= 1.0
