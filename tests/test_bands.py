import numpy as np
import pytest

from bench.core.bands import (
    BLEND_PAIRS,
    CONDITIONAL_BANDS,
    FOUR_BAND_SPLIT,
    TWO_BAND_SPLIT,
    Band,
    band_mask,
    band_pass,
)


def test_fourteen_bands_and_six_pairs():
    assert len(CONDITIONAL_BANDS) == 14 and len(set(CONDITIONAL_BANDS)) == 14
    assert len(BLEND_PAIRS) == 6
    assert BLEND_PAIRS[0] == (FOUR_BAND_SPLIT[0], FOUR_BAND_SPLIT[1])
    assert BLEND_PAIRS[-1] == (FOUR_BAND_SPLIT[2], FOUR_BAND_SPLIT[3])


def test_mask_is_inclusive_hard_rectangle():
    mask = band_mask(Band(0.0, 0.0078), 1024)
    assert mask.shape == (513,)
    assert np.flatnonzero(mask).tolist() == [0, 1, 2, 3]  # 4/512 = 0.0078125 > 0.0078
    assert band_mask(Band(0.5, 1.0), 1024)[256] == 1 and band_mask(Band(0.5, 1.0), 1024)[255] == 0


def test_complementary_split_sums_to_the_signal():
    x = np.random.default_rng(0).normal(size=(3, 512))
    total = sum(band_pass(x, b) for b in TWO_BAND_SPLIT)
    # zero padding to 1024 makes the split exact only in the padded domain, and the crop keeps it
    np.testing.assert_allclose(total, x, atol=1e-10)


def test_band_pass_keeps_in_band_sinusoid_and_removes_out_of_band():
    t = np.arange(512)
    slow = np.cos(2 * np.pi * 2 * t / 1024 * 2)  # bin 4 of a 1024-point rfft: 4/512 = 0.0078
    fast = np.cos(2 * np.pi * 200 * t / 1024)  # bin 200: 0.39
    kept = band_pass(slow + fast, Band(0.25, 0.5001))
    assert np.corrcoef(kept, fast)[0, 1] > 0.95
    assert np.abs(band_pass(fast, Band(0.0, 0.0157))).max() < 0.2


def test_bad_band_and_parse():
    with pytest.raises(ValueError):
        Band(0.5, 0.2)
    assert Band.parse("0.0626:1") == Band(0.0626, 1.0)
    with pytest.raises(ValueError):
        Band.parse("abc")
    with pytest.raises(ValueError):
        band_pass(np.zeros(2048), Band(0, 1), n_fft=1024)
