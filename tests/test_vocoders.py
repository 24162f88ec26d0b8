"""The Griffin-Lim vocoder's inverse STFT (its window envelope computed once) gives torch.istft's
bits, and the vocoder the bits of the plain torch.istft loop it replaced."""

import numpy as np
import pytest
import torch

from bench.adapters.vocoders import GriffinLim, _InverseSTFT
from bench.core.mel import HOP, N_FFT, normalised_mel
from tools.generation_bench import griffin_lim_before


@pytest.mark.parametrize("batch", [1, 2])
def test_inverse_stft_gives_torch_istft_bits(batch):
    frames = 129
    generator = torch.Generator().manual_seed(batch)
    spec = torch.complex(
        torch.randn(batch, N_FFT // 2 + 1, frames, generator=generator),
        torch.randn(batch, N_FFT // 2 + 1, frames, generator=generator),
    )
    window = torch.hann_window(N_FFT, dtype=torch.float32)
    n_samples = (frames - 1) * HOP
    expected = torch.istft(spec, N_FFT, HOP, N_FFT, window, center=True, length=n_samples)
    assert torch.equal(_InverseSTFT(window, frames, n_samples)(spec), expected)


def test_griffin_lim_gives_the_bits_of_the_plain_loop(fixture_clips):
    mels = normalised_mel(np.stack(fixture_clips[:2]))
    length = fixture_clips[0].shape[-1]
    out = GriffinLim(n_iter=4)(mels, [3, 4], length)
    assert np.array_equal(out, griffin_lim_before(mels, [3, 4], length, 4))
