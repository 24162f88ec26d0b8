"""``rave``: band-masking the latent of a RAVE model exported to TorchScript (docs/protocol.md section 5).

Resample to the model's rate (``model.sr``), ``encode`` [1, C, T] -> [1, L, T / ratio], band-mask
the latent along time in absolute Hz (systems/families/latent_filter.py: a 2048x model at 44.1 kHz has a
21.5 Hz latent, so bands above 10.8 Hz keep nothing), ``decode``, trim to the input length,
resample back. Blending decodes 0.5 m1(z1) + 0.5 m2(z2).

The model: ``--system-option rave.model=/path/model.ts``, a non-streaming export (RAVE's
``rave export --run RUN`` without ``--streaming``). Streaming exports keep a cache between calls;
the adapter detects that (two encodings of the same clip differ) and refuses them. Only
``torch.jit.load`` is used, on a file checked to be a TorchScript archive (the format RAVE exports;
TorchScript, not a Python pickle: docs/untrusted-files.md): the acids-rave package is not needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.core.registry import register
from bench.core.safe_load import UnreadableFileError
from bench.core.system import Availability, Needs, WeightFile, validate_options
from bench.systems.families.latent_filter import LatentFilterSystem

PROBE_SECONDS = 1.0


def load_rave(path: str, device: str = "cpu"):
    """The TorchScript module, its sample rate, input channels and compression ratio. Only a file
    that is a TorchScript archive reaches ``torch.jit.load`` (bench/core/safe_load.py)."""
    import torch

    from bench.core.safe_load import check_torchscript_archive

    check_torchscript_archive(path, "RAVE TorchScript export")
    model = torch.jit.load(str(path), map_location=device).eval()
    if not hasattr(model, "sr") or not hasattr(model, "encode") or not hasattr(model, "decode"):
        raise ValueError(f"{path}: not a RAVE export (needs encode, decode and sr)")
    sample_rate = int(model.sr)
    buffers = dict(model.named_buffers())
    if "encode_params" in buffers:
        in_channels, _, _, ratio = (int(v) for v in buffers["encode_params"].tolist())
    else:
        in_channels = 1
        probe = torch.zeros(1, 1, sample_rate)
        with torch.no_grad():
            ratio = sample_rate // int(model.encode(probe).shape[-1])
    return model, sample_rate, in_channels, ratio


def is_streaming(model, sample_rate: int, in_channels: int) -> bool:
    """A streaming export carries state from call to call: the same clip encodes differently."""
    import torch

    clip = torch.sin(torch.linspace(0, 2000.0, int(PROBE_SECONDS * sample_rate)))[None, None]
    clip = clip.repeat(1, in_channels, 1)
    with torch.no_grad():
        first, second = model.encode(clip), model.encode(clip)
    return first.shape != second.shape or not torch.allclose(first, second, atol=1e-6)


@register
class RAVELatentFilter(LatentFilterSystem):
    name = "rave"
    description = "RAVE (TorchScript export) latent band-masked along time, decoded"
    needs = Needs(
        packages=("torch",), weights=(WeightFile("model", "RAVE model (TorchScript export)", required=False),)
    )

    @dataclass(frozen=True)
    class Options:
        model: str | None = None  # the non-streaming TorchScript export (rave export --run RUN)

    @classmethod
    def availability(cls, options=None) -> Availability:
        base = super().availability(options)
        if not base.ok:
            return base
        given = validate_options(cls, options).model
        if not given:
            return Availability(
                False,
                "no RAVE model given",
                "export a non-streaming TorchScript model (rave export --run RUN) and pass "
                "--system-option rave.model=/path/model.ts",
            )
        if not Path(given).is_file():
            return Availability(False, f"RAVE model not found: {given}", "check --system-option rave.model")
        try:
            model, sample_rate, in_channels, _ = load_rave(given)
            if is_streaming(model, sample_rate, in_channels):
                return Availability(
                    False,
                    f"{given} is a streaming export (it keeps state between calls)",
                    "export again without --streaming",
                )
        except UnreadableFileError as error:  # not a TorchScript archive at all
            return Availability(False, str(error), "pass a TorchScript file written by rave export")
        except Exception as error:  # a file that is not a usable export
            return Availability(
                False,
                f"{given} does not load as a RAVE export: {error}",
                "pass a TorchScript file written by rave export",
            )
        return Availability(True)

    def load(self):
        return load_rave(self.options.model, self.context.device)

    @property
    def model_rate(self) -> int:
        return self.loaded[1]

    @property
    def latent_rate(self) -> float:
        _, sample_rate, _, ratio = self.loaded
        return sample_rate / ratio

    def encode_one(self, audio):
        import torch

        model, _, in_channels, ratio = self.loaded
        padded = int(np.ceil(audio.shape[-1] / ratio)) * ratio
        x = torch.zeros(1, in_channels, padded, device=self.context.device)
        x[..., : audio.shape[-1]] = torch.as_tensor(audio, dtype=torch.float32, device=self.context.device)
        with torch.no_grad():
            return model.encode(x)[0].double().cpu().numpy()

    def decode_one(self, latent, length):
        import torch

        model = self.loaded[0]
        with torch.no_grad():
            y = model.decode(torch.as_tensor(latent, dtype=torch.float32, device=self.context.device)[None])
        return y[0].mean(dim=0)[:length].double().cpu().numpy()  # several output channels: their mean

    def info(self) -> dict:
        model, sample_rate, in_channels, ratio = self.loaded
        probe = self.encode_one(np.zeros(ratio * 4))
        return {
            "sample_rate": sample_rate,
            "latent": f"{probe.shape[0]} channels at {sample_rate / ratio:.2f} Hz",
            "ratio": ratio,
            "input_channels": in_channels,
            "parameters": int(sum(p.numel() for p in model.parameters())),
        }
