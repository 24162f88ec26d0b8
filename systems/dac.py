"""``dac``: band-masking the latent of the Descript Audio Codec (protocol.md section 5).

Resample to the codec's rate (44.1 kHz for the paper's model), encode to the quantised continuous
latent z (1024 channels at 86.13 Hz), band-mask z along time, decode, resample back; blending
decodes 0.5 m1(z1) + 0.5 m2(z2). See bench/latent_filter.py.

Weights: ``--system-option dac.weights=/path/weights.pth``, or the file descript-audio-codec
keeps in its cache (~/.cache/descript/dac/weights_44khz_8kbps_*.pth). Nothing is downloaded.
The package: ``make deps-codecs`` (installs descript-audio-codec and descript-audiotools without
their torchaudio / TensorBoard requirements; the adapter imports them with in-process stand-ins
for those two, see bench/optional_imports.py).
"""
from __future__ import annotations

from pathlib import Path


from bench.latent_filter import LatentFilterSystem
from bench.registry import register
from bench.system import Availability, Needs

CACHE = Path.home() / ".cache" / "descript" / "dac"
CACHE_PATTERN = "weights_44khz_8kbps_*.pth"
INSTALL = ("make deps-codecs  (pip install --no-deps descript-audio-codec==1.0.0 descript-audiotools==0.7.2 "
           "argbind docstring-parser einops julius flatten-dict ffmpy randomname pyloudnorm markdown2 "
           "importlib-resources rich)")


def import_dac():
    from bench.optional_imports import placeholders

    with placeholders("torchaudio", "torch.utils.tensorboard"):
        import dac
    return dac


@register
class DACLatentFilter(LatentFilterSystem):
    name = "dac"
    description = "DAC latent band-masked along time, decoded (needs the user's DAC weights)"
    needs = Needs(packages=("dac", "audiotools", "torch"), install_hint=INSTALL)

    @classmethod
    def weights_path(cls, options: dict | None) -> Path | None:
        given = (options or {}).get("weights")
        if given:
            return Path(given)
        cached = sorted(CACHE.glob(CACHE_PATTERN))
        return cached[-1] if cached else None

    @classmethod
    def availability(cls, options=None) -> Availability:
        base = super().availability(options)
        if not base.ok:
            return base
        path = cls.weights_path(options)
        if path is None:
            return Availability(False, f"no DAC weights: no dac.weights option and no {CACHE / CACHE_PATTERN}",
                                "copy weights_44khz_8kbps_0.0.1.pth (descript-audio-codec's 44 kHz release) "
                                f"into {CACHE}/ or pass --system-option dac.weights=/path/weights.pth")
        if not path.is_file():
            return Availability(False, f"DAC weights not found: {path}", "check --system-option dac.weights")
        return Availability(True)

    def _model(self):
        if getattr(self, "_loaded", None) is None:
            dac = import_dac()
            model = dac.DAC.load(str(self.weights_path(self.context.options)))
            self._loaded = model.eval().to(self.context.device)
        return self._loaded

    @property
    def model_rate(self) -> int:
        return int(self._model().sample_rate)

    @property
    def latent_rate(self) -> float:
        model = self._model()
        return model.sample_rate / model.hop_length

    def encode_one(self, audio):
        import torch

        model = self._model()
        x = torch.as_tensor(audio, dtype=torch.float32, device=self.context.device)[None, None]
        with torch.no_grad():
            z = model.encode(model.preprocess(x, model.sample_rate))[0]
        return z[0].double().cpu().numpy()

    def decode_one(self, latent, length):
        import torch

        model = self._model()
        with torch.no_grad():
            y = model.decode(torch.as_tensor(latent, dtype=torch.float32, device=self.context.device)[None])
        return y[0, 0, :length].double().cpu().numpy()

    def fingerprint(self) -> dict:
        from importlib.metadata import version

        from bench.storage import file_sha256

        return {**super().fingerprint(), "weights_sha256": file_sha256(str(self.weights_path(self.context.options))),
                "package": f"descript-audio-codec {version('descript-audio-codec')}"}

    def info(self) -> dict:
        model = self._model()
        return {"sample_rate": int(model.sample_rate), "latent": f"{model.latent_dim} channels at "
                f"{model.sample_rate / model.hop_length:.2f} Hz", "codebooks": int(model.n_codebooks),
                "parameters": int(sum(p.numel() for p in model.parameters()))}
