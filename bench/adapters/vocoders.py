"""Mel vocoders. Every output records the vocoder id that made it.

``griffin-lim`` needs no download: mel -> linear magnitude by the clamped pseudo-inverse of the
mel basis, then fast Griffin-Lim (momentum 0.99, Perraudin et al. 2013) with seeded random
initial phase, in torch on CPU or GPU.

``bigvgan:/path/to/dir`` runs the user's BigVGAN (pip ``bigvgan``) from a local directory holding
``config.json`` and ``bigvgan_generator.pt`` (``{"generator": state_dict}``), the layout NVIDIA
publishes, read as data (bench/core/safe_load.py); nothing is fetched from the hub. The config must
use this harness's mel convention
(22050 Hz, 80 bands, hop 256, n_fft 1024, fmin 0, fmax 11025 or null): the 22 kHz 80-band 256x
model does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from bench.core.audio import CLIP_SAMPLES, SAMPLE_RATE
from bench.core.mel import HOP, N_FFT, N_MELS, PAD, denormalise_log_mel, mel_basis


@dataclass(frozen=True)
class GriffinLim:
    n_iter: int = 32
    momentum: float = 0.99

    @classmethod
    def from_spec(cls, name: str, argument: str, device: str = "cpu") -> "GriffinLim":
        """``griffin-lim`` or ``griffin-lim:N`` (iterations)."""
        return cls(n_iter=int(argument)) if argument else cls()

    @property
    def id(self) -> str:
        return f"griffinlim-fast-n{self.n_iter}-m{self.momentum}-pinvmel"

    def __call__(
        self, normalised_mels: np.ndarray, seeds: list[int], length: int = CLIP_SAMPLES
    ) -> np.ndarray:
        """[B, 80, F] normalised log-mels -> [B, length] audio, one seed per item."""
        import torch

        mels = np.exp(denormalise_log_mel(np.asarray(normalised_mels, dtype=np.float64)))
        magnitude = np.maximum(_mel_pinv() @ mels, 0.0)
        # Mel frame k is centred on sample 256k + 128 (reflect pad 384, center=False); a
        # centre=True STFT of y[n] = x[n + 128] puts frame k on 256k, plus one trailing frame.
        magnitude = np.concatenate([magnitude, magnitude[..., -1:]], axis=-1)
        target = torch.from_numpy(magnitude).to(torch.float32)
        window = torch.hann_window(N_FFT, dtype=torch.float32)
        phases = []
        for seed in seeds:
            generator = torch.Generator().manual_seed(int(seed))
            phases.append(torch.rand(target.shape[1:], generator=generator, dtype=torch.float32))
        angles = torch.polar(torch.ones_like(target), 2 * np.pi * torch.stack(phases))
        n_samples = (target.shape[-1] - 1) * HOP
        istft = _InverseSTFT(window, target.shape[-1], n_samples)

        def stft(signal):
            return torch.stft(signal, N_FFT, HOP, N_FFT, window, center=True, return_complex=True)

        with torch.inference_mode():
            previous = torch.zeros_like(angles)
            for _ in range(self.n_iter):
                rebuilt = stft(istft(target * angles))
                accelerated = rebuilt - (self.momentum / (1 + self.momentum)) * previous
                angles = accelerated / accelerated.abs().clamp_min(1e-16)
                previous = rebuilt
            shifted = istft(target * angles).double().numpy()
        offset = HOP // 2 if PAD == 384 else 0
        out = np.zeros((shifted.shape[0], length))
        usable = min(length - offset, shifted.shape[-1])
        out[:, offset : offset + usable] = shifted[:, :usable]
        return out


@lru_cache(maxsize=1)
def _mel_pinv() -> np.ndarray:
    return np.linalg.pinv(mel_basis())


class _InverseSTFT:
    """``torch.istft(spec, 1024, 256, 1024, window, center=True, length=n_samples)`` with its
    window envelope (the overlap-added squared window) computed once instead of at every call:
    the same operations on the same values, so the same bits (tests/test_audio.py compares)."""

    def __init__(self, window, frames: int, n_samples: int):
        import torch

        self.window, self.n_samples = window, n_samples
        self.full = N_FFT + HOP * (frames - 1)
        envelope = torch.ops.aten.unfold_backward(
            window.pow(2).expand(1, frames, N_FFT), [1, self.full], 1, N_FFT, HOP
        )
        self.envelope = envelope[..., N_FFT // 2 : N_FFT // 2 + n_samples]
        if bool(self.envelope.abs().min() < 1e-11):
            raise ValueError("window overlap-add is zero somewhere: not invertible")

    def __call__(self, spec):
        import torch

        frames = torch.fft.irfft(spec.transpose(1, 2), N_FFT, dim=-1) * self.window
        signal = torch.ops.aten.unfold_backward(frames, [spec.shape[0], self.full], 1, N_FFT, HOP)
        return signal[..., N_FFT // 2 : N_FFT // 2 + self.n_samples] / self.envelope


BIGVGAN_MEL = {
    "sampling_rate": SAMPLE_RATE,
    "num_mels": N_MELS,
    "hop_size": HOP,
    "n_fft": N_FFT,
    "win_size": N_FFT,
    "fmin": 0,
}


class VocoderUnavailable(RuntimeError):
    pass


class BigVGANVocoder:
    @classmethod
    def from_spec(cls, name: str, argument: str, device: str = "cpu") -> "BigVGANVocoder":
        """``bigvgan:/path/to/dir``."""
        if not argument:
            raise VocoderUnavailable(
                "bigvgan needs a directory: --vocoder bigvgan:/path/to/bigvgan_v2_22khz_80band_256x"
            )
        return cls(argument, device)

    def __init__(self, directory: str, device: str = "cpu"):
        self.directory = Path(directory)
        self.device = device
        self.config_path = self.directory / "config.json"
        self.weights_path = self.directory / "bigvgan_generator.pt"
        for path in (self.config_path, self.weights_path):
            if not path.is_file():
                raise VocoderUnavailable(
                    f"bigvgan: {path} not found (the directory needs config.json and "
                    "bigvgan_generator.pt, e.g. from nvidia/bigvgan_v2_22khz_80band_256x)"
                )
        try:
            config = json.loads(self.config_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise VocoderUnavailable(f"bigvgan: {self.config_path}: not a JSON config ({error})") from None
        if not isinstance(config, dict):
            raise VocoderUnavailable(f"bigvgan: {self.config_path}: not a JSON object of settings")
        wrong = {k: (config.get(k), v) for k, v in BIGVGAN_MEL.items() if config.get(k) != v}
        if config.get("fmax") not in (None, SAMPLE_RATE // 2, SAMPLE_RATE / 2):
            wrong["fmax"] = (config.get("fmax"), "null or 11025")
        if wrong:
            detail = ", ".join(f"{k} is {got}, the harness needs {need}" for k, (got, need) in wrong.items())
            raise VocoderUnavailable(f"bigvgan: {self.config_path} uses another mel convention: {detail}")
        self.config = config
        self._model = None

    @property
    def id(self) -> str:
        from bench.core.storage import file_sha256

        return (
            f"bigvgan-c{file_sha256(str(self.config_path))[:12]}-w{file_sha256(str(self.weights_path))[:12]}"
        )

    def model(self):
        if self._model is None:
            from bench.core.optional_imports import placeholders
            from bench.core.safe_load import (
                UnreadableFileError,
                load_module_state,
                load_torch_file,
                require_keys,
                state_mismatches,
            )

            with placeholders("torchaudio"):
                import bigvgan

            model = bigvgan.BigVGAN(bigvgan.AttrDict(self.config), use_cuda_kernel=False)
            try:
                checkpoint = load_torch_file(self.weights_path, "BigVGAN weights file")
                require_keys(checkpoint, ("generator",), self.weights_path, what="BigVGAN weights file")
                state = checkpoint["generator"]
                if isinstance(state, dict) and not state_mismatches(model, state):
                    model.load_state_dict(state)
                    model.remove_weight_norm()
                else:  # a checkpoint saved without weight norm, or one that fits neither: named
                    model.remove_weight_norm()
                    load_module_state(model, state, self.weights_path, "'generator' weights")
            except UnreadableFileError as error:
                raise VocoderUnavailable(f"bigvgan: {error}") from None
            self._model = model.eval().to(self.device)
        return self._model

    def __call__(
        self, normalised_mels: np.ndarray, seeds: list[int], length: int = CLIP_SAMPLES
    ) -> np.ndarray:
        """[B, 80, F] normalised log-mels -> [B, length]; deterministic, one item at a time."""
        import torch

        model = self.model()
        log_mels = denormalise_log_mel(np.asarray(normalised_mels, dtype=np.float64))
        out = np.zeros((log_mels.shape[0], length))
        with torch.no_grad():
            for i, mel in enumerate(log_mels):
                y = model(torch.as_tensor(mel, dtype=torch.float32, device=self.device)[None])[0, 0]
                y = y.double().cpu().numpy()[:length]
                out[i, : y.shape[0]] = y
        return out
