"""The batched torch descriptors against the librosa reference, and their batch independence."""

import numpy as np
import pytest

from bench.core.bands import CONDITIONAL_BANDS
from bench.metrics.adherence import adherence
from bench.metrics.descriptors import compute_descriptors
from bench.metrics.fast_descriptors import FastDescriptorExtractor

# largest absolute deviation allowed, per descriptor (float32 path vs float64 librosa)
DESCRIPTOR_TOLERANCE = {"loudness": 1e-3, "onset": 1e-3, "mfcc": 1e-2, "tonnetz": 1e-4}
SCORE_TOLERANCE = {"loudness": 1e-4, "rhythm": 1e-4, "timbre": 1e-2, "harmony": 1e-4}


@pytest.fixture(scope="module")
def both(fixture_clips):
    clips = np.stack(fixture_clips)
    return [compute_descriptors(c) for c in clips], FastDescriptorExtractor()(clips)


def test_descriptors_match_the_librosa_reference(both):
    reference, fast = both
    for name, tolerance in DESCRIPTOR_TOLERANCE.items():
        for r, f in zip(reference, fast):
            assert getattr(f, name).shape == getattr(r, name).shape
            assert np.abs(getattr(f, name) - getattr(r, name)).max() <= tolerance, name


def test_scores_match_the_librosa_reference(both):
    reference, fast = both
    for i in range(len(reference) - 1):
        for band in CONDITIONAL_BANDS:
            r = adherence(reference[i], reference[i + 1], band)
            f = adherence(fast[i], fast[i + 1], band)
            for key, value in r.items():
                assert abs(f[key] - value) <= SCORE_TOLERANCE[key.rsplit("_", 1)[0]], (key, band)


def test_tuning_estimate_matches_librosa(fixture_clips):
    import librosa
    import torch

    padded = np.pad(np.stack(fixture_clips), ((0, 0), (128, 0)))
    fast = FastDescriptorExtractor().tuning(torch.as_tensor(padded))
    slow = [librosa.estimate_tuning(y=p, sr=22050, bins_per_octave=36) for p in padded]
    np.testing.assert_allclose(fast, slow, atol=1e-9)


def test_a_clip_scores_the_same_alone_and_inside_a_batch_of_64(fixture_clips):
    rng = np.random.default_rng(0)
    batch = np.stack(
        [np.roll(fixture_clips[i % 8], int(rng.integers(131072))) * rng.uniform(0.2, 1) for i in range(64)]
    )
    extractor = FastDescriptorExtractor()
    together = extractor(batch)
    for index in (0, 17, 63):
        alone = extractor(batch[index : index + 1])[0]
        for name, curve in alone.as_dict().items():
            np.testing.assert_array_equal(curve, together[index].as_dict()[name])


def test_silence_and_bad_input():
    extractor = FastDescriptorExtractor()
    d = extractor(np.zeros((1, 131072)))[0]
    assert all(np.all(np.isfinite(c)) for c in d.as_dict().values())
    with pytest.raises(ValueError, match=r"clip\(s\) \[0, 1\] have 1000 samples, shorter than one 1024"):
        extractor(np.zeros((2, 1000)))
    with pytest.raises(ValueError, match=r"clip\(s\) \[1\]"):
        extractor(np.stack([np.ones(131072), np.full(131072, np.nan)]))


@pytest.mark.parametrize("tuning", [-0.5, -0.17, 0.0, 0.31, 0.49])
def test_one_cqt_bank_serves_every_octave_as_librosa_builds_them(tuning):
    """librosa builds a bank per octave at that octave's rate; the fast path uses the top one."""
    import librosa

    from bench.metrics.fast_descriptors import (
        C1_HZ,
        CQT_BINS,
        CQT_BPO,
        CQT_OCTAVES,
        SR,
        _cqt_bank,
        _relative_bandwidth,
    )

    bank, n_fft = _cqt_bank(tuning)
    freqs = C1_HZ * 2.0 ** (tuning / CQT_BPO) * 2.0 ** (np.arange(CQT_BINS) / CQT_BPO)
    alpha = _relative_bandwidth(freqs)
    lengths, _ = librosa.filters.wavelet_lengths(freqs=freqs, sr=SR, window="hann", alpha=alpha)
    for octave in range(CQT_OCTAVES):
        octave_sr = SR / 2**octave
        bins = slice(CQT_BINS - CQT_BPO * (octave + 1), CQT_BINS - CQT_BPO * octave)
        basis, octave_lengths = librosa.filters.wavelet(
            freqs=freqs[bins],
            sr=octave_sr,
            norm=1,
            pad_fft=True,
            window="hann",
            alpha=alpha[bins],
            dtype=np.complex128,
        )
        assert basis.shape[1] == n_fft
        fft_basis = np.fft.fft(basis * (octave_lengths[:, None] / n_fft), axis=1)[:, : n_fft // 2 + 1]
        fft_basis = librosa.util.sparsify_rows(fft_basis, quantile=0.01, dtype=np.complex128).toarray()
        expected = fft_basis * np.sqrt(SR / octave_sr) / np.sqrt(lengths[bins])[:, None]
        np.testing.assert_array_equal(expected != 0, bank != 0)
        np.testing.assert_allclose(bank, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


def test_compiled_peak_picking_agrees_with_the_torch_ops(fixture_clips):
    import torch

    from bench.metrics.fast_descriptors import TUNING_N_FFT, _piptrack_peaks

    extractor = FastDescriptorExtractor()
    frames = torch.as_tensor(np.stack(fixture_clips[:3]), dtype=torch.float32).unfold(-1, TUNING_N_FFT, 512)
    spectrum = torch.fft.rfft(frames * extractor.tuning_window)
    lo, hi = extractor._tuning_band
    compiled = _piptrack_peaks(torch.view_as_real(spectrum).numpy(), lo, hi)
    reference = extractor._piptrack_peaks_torch(spectrum, lo, hi)
    assert compiled[0].size > 100
    for a, b in zip(compiled[:2], reference[:2]):  # the same peaks
        np.testing.assert_array_equal(a, b)
    for a, b in zip(compiled[2:], reference[2:]):  # |X| rounded apart in float32 at most
        np.testing.assert_allclose(a, b, rtol=2.4e-7, atol=0)


def test_passes_of_several_clips_as_on_a_gpu_agree_with_single_clip_passes(fixture_clips, monkeypatch):
    """A GPU runs passes of 64 clips (each clip with its own tuning's filter bank inside one
    product) and picks the tuning peaks with torch ops; the same code on the CPU, several clips per pass."""
    import torch

    import bench.metrics.fast_descriptors as fast

    clips = np.stack(fixture_clips)
    single = FastDescriptorExtractor()(clips)
    extractor = FastDescriptorExtractor(chunk=len(clips), workers=1)
    monkeypatch.setattr(
        fast,
        "_piptrack_peaks",
        lambda spectrum, lo, hi: extractor._piptrack_peaks_torch(
            torch.view_as_complex(torch.as_tensor(spectrum)), lo, hi
        ),
    )
    together = extractor(clips)
    assert len({round(t, 2) for t in extractor.tuning(torch.as_tensor(clips, dtype=torch.float32))}) > 1
    for a, b in zip(single, together):
        for name, tolerance in {"loudness": 1e-4, "onset": 1e-4, "mfcc": 1e-3, "tonnetz": 1e-6}.items():
            np.testing.assert_allclose(
                getattr(a, name), getattr(b, name), rtol=0, atol=tolerance, err_msg=name
            )
