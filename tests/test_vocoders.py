"""The Griffin-Lim vocoder's inverse STFT (its window envelope computed once) gives torch.istft's
bits, and the vocoder the bits of the plain torch.istft loop it replaced."""

import numpy as np
import pytest
import torch

from bench.adapters.vocoders import GriffinLim, _InverseSTFT
from bench.core.mel import HOP, N_FFT, PAD, denormalise_log_mel, mel_basis, normalised_mel


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


def _plain_griffin_lim(normalised_mels, seeds, length, n_iter, momentum=0.99):
    """The vocoder as it was written before (torch.istft at every iteration, pinv at every call)."""
    mels = np.exp(denormalise_log_mel(np.asarray(normalised_mels, dtype=np.float64)))
    magnitude = np.maximum(np.linalg.pinv(mel_basis()) @ mels, 0.0)
    magnitude = np.concatenate([magnitude, magnitude[..., -1:]], axis=-1)
    target = torch.from_numpy(magnitude).to(torch.float32)
    window = torch.hann_window(N_FFT, dtype=torch.float32)
    phases = [
        torch.rand(target.shape[1:], generator=torch.Generator().manual_seed(int(s)), dtype=torch.float32)
        for s in seeds
    ]
    angles = torch.polar(torch.ones_like(target), 2 * np.pi * torch.stack(phases))
    n_samples = (target.shape[-1] - 1) * HOP

    def istft(spec):
        return torch.istft(spec, N_FFT, HOP, N_FFT, window, center=True, length=n_samples)

    previous = torch.zeros_like(angles)
    for _ in range(n_iter):
        rebuilt = torch.stft(
            istft(target * angles), N_FFT, HOP, N_FFT, window, center=True, return_complex=True
        )
        accelerated = rebuilt - (momentum / (1 + momentum)) * previous
        angles = accelerated / accelerated.abs().clamp_min(1e-16)
        previous = rebuilt
    shifted = istft(target * angles).double().numpy()
    offset = HOP // 2 if PAD == 384 else 0
    out = np.zeros((shifted.shape[0], length))
    usable = min(length - offset, shifted.shape[-1])
    out[:, offset : offset + usable] = shifted[:, :usable]
    return out


def test_griffin_lim_gives_the_bits_of_the_plain_loop(fixture_clips):
    mels = normalised_mel(np.stack(fixture_clips[:2]))
    length = fixture_clips[0].shape[-1]
    out = GriffinLim(n_iter=4)(mels, [3, 4], length)
    assert np.array_equal(out, _plain_griffin_lim(mels, [3, 4], length, 4))
