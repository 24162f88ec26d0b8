"""``dac``: band-masking the latent of the Descript Audio Codec (docs/protocol.md section 5).

Resample to the codec's rate (44.1 kHz for the paper's model), encode to the quantised continuous
latent z (1024 channels at 86.13 Hz), band-mask z along time, decode, resample back; blending
decodes 0.5 m1(z1) + 0.5 m2(z2). See systems/families/latent_filter.py.

Weights: ``--system-option dac.weights=/path/weights.pth``, or the file descript-audio-codec
keeps in its cache (~/.cache/descript/dac/weights_44khz_8kbps_*.pth). Nothing is downloaded.
The package: ``make venv-dev`` (installs descript-audio-codec and descript-audiotools without
their torchaudio / TensorBoard requirements; the adapter imports them with in-process stand-ins
for those two, see bench/core/optional_imports.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.adapters.dac_codec import INSTALL, encode, load_dac, weights_availability, weights_path
from bench.core.registry import register
from bench.core.system import Availability, Needs, WeightFile, validate_options
from bench.systems.families.latent_filter import LatentFilterSystem


@register
class DACLatentFilter(LatentFilterSystem):
    name = "dac"
    description = "DAC latent band-masked along time, decoded (needs the user's DAC weights)"
    needs = Needs(
        packages=("dac", "audiotools", "torch"),
        install_hint=INSTALL,
        weights=(WeightFile("weights", "DAC weights", required=False),),
    )

    @dataclass(frozen=True)
    class Options:
        weights: str | None = None  # the DAC weights file (default: descript-audio-codec's cache)

    @classmethod
    def weights_path(cls, options=None):
        return weights_path(validate_options(cls, options).weights)

    @classmethod
    def availability(cls, options=None) -> Availability:
        base = super().availability(options)
        if not base.ok:
            return base
        return weights_availability(cls.weights_path(options), "--system-option dac.weights")

    def load(self):
        return load_dac(self.weights_path(self.options), self.context.device)

    @property
    def model_rate(self) -> int:
        return int(self.loaded.sample_rate)

    @property
    def latent_rate(self) -> float:
        model = self.loaded
        return model.sample_rate / model.hop_length

    def encode_one(self, audio):
        return encode(self.loaded, audio, self.context.device)

    def decode_one(self, latent, length):
        import torch

        model = self.loaded
        with torch.no_grad():
            y = model.decode(torch.as_tensor(latent, dtype=torch.float32, device=self.context.device)[None])
        return y[0, 0, :length].double().cpu().numpy()

    def weight_path(self, weight) -> str | None:
        return str(self.weights_path(self.options))

    def extra_fingerprint(self) -> dict:
        from importlib.metadata import version

        return {"package": f"descript-audio-codec {version('descript-audio-codec')}"}

    def info(self) -> dict:
        model = self.loaded
        return {
            "sample_rate": int(model.sample_rate),
            "latent": f"{model.latent_dim} channels at {model.sample_rate / model.hop_length:.2f} Hz",
            "codebooks": int(model.n_codebooks),
            "parameters": int(sum(p.numel() for p in model.parameters())),
        }
