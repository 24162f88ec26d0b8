import numpy as np
import pytest

from bench.core.bands import CONDITIONAL_BANDS
from bench.metrics.adherence import adherence, beat_spectrum, pearson, timbre_score
from bench.metrics.descriptors import compute_descriptors
from bench.metrics.distribution import DistributionError, fad, frechet_distance, kad


def test_descriptor_shapes_align_with_512_mel_frames(fixture_clips):
    d = compute_descriptors(fixture_clips[0])
    assert d.loudness.shape == (512,) and d.onset.shape == (512,)
    assert d.mfcc.shape == (20, 512) and d.tonnetz.shape == (6, 512)


def test_identical_clip_is_perfect_and_unrelated_clip_is_worse(fixture_clips):
    a, b = (compute_descriptors(c) for c in fixture_clips[:2])
    for band in CONDITIONAL_BANDS[:2]:
        same = adherence(a, a, band)
        other = adherence(b, a, band)
        assert same["loudness_in"] == pytest.approx(1.0) and same["rhythm_in"] == pytest.approx(1.0)
        assert same["timbre_in"] == 0.0 and same["harmony_in"] == 0.0
        assert other["loudness_in"] < 0.99 and other["timbre_in"] > 0 and other["harmony_in"] > 0


def test_descriptors_do_not_depend_on_other_clips(fixture_clips):
    alone = compute_descriptors(fixture_clips[3])
    for clip in fixture_clips[:3]:
        compute_descriptors(clip)
    again = compute_descriptors(fixture_clips[3])
    for name, curve in alone.as_dict().items():
        np.testing.assert_array_equal(curve, again.as_dict()[name])


def test_silent_clip_gives_finite_loudness():
    d = compute_descriptors(np.zeros(131072))
    assert np.all(np.isfinite(d.loudness)) and d.loudness.min() == pytest.approx(-100.0)


def test_pearson_zero_variance_is_zero_not_nan():
    assert pearson(np.ones(10), np.arange(10.0)) == 0.0


def test_beat_spectrum_is_autocorrelation():
    e = np.random.default_rng(1).random(16)
    scaled = e / np.abs(e).max()
    direct = np.array([np.dot(scaled[: 16 - lag], scaled[lag:]) for lag in range(16)])
    np.testing.assert_allclose(beat_spectrum(e), direct, atol=1e-12)


def test_mcd_formula():
    a, b = np.zeros((20, 4)), np.zeros((20, 4))
    b[0] = 1.0
    assert timbre_score(a, b) == pytest.approx(10 * np.sqrt(2) / np.log(10))


def test_frechet_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0]), np.array([2.0, 1.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    expected = 4.0 + (1 - 3) ** 2 + (2 - 1) ** 2
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected)


def test_fad_of_samples_approaches_mean_shift():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20000, 3)), rng.normal(size=(20000, 3)) + np.array([1.0, 0, 0])
    assert fad(x, y) == pytest.approx(1.0, abs=0.05)
    assert fad(x, x) == pytest.approx(0.0, abs=1e-9)


def test_kad_is_small_for_same_distribution_and_large_for_shifted():
    rng = np.random.default_rng(0)
    x, y, z = rng.normal(size=(300, 4)), rng.normal(size=(300, 4)), rng.normal(size=(300, 4)) + 2
    assert abs(kad(x, y)) < 0.5
    assert kad(z, y) > 10


def test_distribution_errors_name_the_set():
    with pytest.raises(DistributionError, match="eval set"):
        fad(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(DistributionError, match="reference set"):
        kad(np.ones((5, 3)), np.full((5, 3), np.nan))


def test_fad_inf_is_seeded_and_removes_the_small_sample_bias():
    from bench.metrics.distribution import fad_inf

    rng = np.random.default_rng(3)
    ref, same = rng.normal(size=(4000, 8)), rng.normal(size=(2000, 8))
    first, second = fad_inf(same, ref, seed=1), fad_inf(same, ref, seed=1)
    assert first == second
    assert fad_inf(same, ref, seed=2)["points"] != first["points"]
    # biased FAD of the full set is above zero; the extrapolation lands closer to the true 0
    assert abs(first["value"]) < fad(same, ref)
    assert first["slope"] > 0


def test_stratified_bootstrap_interval_of_a_mean_of_group_means():
    from bench.metrics.statistics import stratified_bootstrap_ci

    rng = np.random.default_rng(0)
    values = rng.normal(size=400)
    low, high = stratified_bootstrap_ci([values], seed=1)
    assert low < values.mean() < high
    assert (high - low) / 2 == pytest.approx(1.96 * values.std() / 20, rel=0.15)  # 1.96 sigma / sqrt(n)
    constant = np.full(10, 5.0)
    low2, high2 = stratified_bootstrap_ci(
        [constant, values, [np.nan]], seed=1
    )  # the NaN-only group is left out
    assert (low2 + high2) / 2 == pytest.approx((5.0 + values.mean()) / 2, abs=0.02)
    assert (high2 - low2) == pytest.approx((high - low) / 2, rel=0.15)  # a constant group halves the spread
    assert stratified_bootstrap_ci([values], seed=1) == (low, high)
    assert stratified_bootstrap_ci([[np.nan], []]) is None
    with pytest.raises(ValueError, match="level"):
        stratified_bootstrap_ci([values], level=1.5)


def test_paired_difference_orients_the_advantage_and_pairs_items():
    from bench.metrics.statistics import paired_difference

    rng = np.random.default_rng(2)
    b = [rng.normal(size=50), rng.normal(size=30)]
    a = [b[0] + 0.1, b[1] + 0.1 + rng.normal(scale=0.01, size=30)]
    better = paired_difference(a, b, higher_is_better=True, seed=3)
    assert better["advantage"] == pytest.approx(0.1, abs=0.01) and better["ci95"][0] > 0.09
    assert better["a_better_fraction"] > 0.9 and better["n_items"] == 80
    worse = paired_difference(a, b, higher_is_better=False, seed=3)
    assert worse["advantage"] == pytest.approx(-better["advantage"]) and worse["ci95"][1] < 0
    a[0][0] = np.nan  # dropped from both sides
    assert paired_difference(a, b)["n_items"] == 79
    with pytest.raises(ValueError, match="pair them first"):
        paired_difference([a[0][:10]], [b[0]])
