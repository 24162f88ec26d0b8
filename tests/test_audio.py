import numpy as np
import pytest
import soundfile

from bench.core.audio import AudioError, check_output, chunk_track, load_audio, normalise_clip, resample


@pytest.mark.parametrize("orig,new", [(44100, 22050), (48000, 22050), (16000, 22050)])
def test_resample_preserves_in_band_sine(orig, new, sine):
    y = resample(sine(440, 1.0, orig), orig, new)
    assert len(y) == int(np.ceil(orig * 1.0 * new / orig))
    expected = sine(440, 1.0, new)[: len(y)]
    assert np.abs(y - expected)[300:-300].max() < 1e-3


def test_resample_removes_content_above_the_new_nyquist(sine):
    y = resample(sine(15000, 1.0, 44100), 44100, 22050)
    assert np.abs(y[300:-300]).max() < 1e-3


def test_normalise_and_chunk():
    x = np.random.default_rng(0).normal(size=131072 * 2 + 10) * 0.1 + 3.0
    clip = normalise_clip(x[:131072])
    assert abs(clip.mean()) < 1e-12 and np.isclose(np.abs(clip).max(), 1.0)
    quiet = np.concatenate([x[:131072], np.zeros(131072)])
    assert len(chunk_track(quiet)) == 1


def test_load_audio_folds_stereo_and_names_bad_files(tmp_path):
    stereo = np.stack([np.ones(1000) * 0.5, np.zeros(1000)], axis=1)
    soundfile.write(tmp_path / "s.wav", stereo, 8000)
    mono, sr = load_audio(tmp_path / "s.wav")
    assert sr == 8000 and np.allclose(mono, 0.25, atol=1e-4)
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really")
    with pytest.raises(AudioError, match="broken.wav"):
        load_audio(tmp_path / "broken.wav")
    soundfile.write(tmp_path / "empty.wav", np.zeros((0, 1)), 8000)
    with pytest.raises(AudioError, match="empty.wav"):
        load_audio(tmp_path / "empty.wav")


def test_check_output_reasons():
    good = np.random.default_rng(0).normal(size=131072)
    assert check_output(good) is None
    assert "NaN" in check_output(np.full(131072, np.nan))
    assert "silent" in check_output(np.zeros(131072))
    assert "samples" in check_output(good[:1000])
