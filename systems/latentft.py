"""LatentFT (MLP, U-Net and DAC + U-Net encoders): the harness's own implementation, trained with
``make train SYSTEM=latentft-mlp`` (or -unet, or -dac with the user's DAC weights). The checkpoint
is ``--system-option latentft-mlp.checkpoint=PATH``, else results/checkpoints/<system>-tiny.pt
when trained here, else the shipped models/weights/<system>-tiny.pt.

Conditional generation: encode the reference mel, band-mask the latent along time (n_fft 1024
on 512 frames), sample with classifier-free guidance ``cfg`` (default 2.0; null latent = zeros).
Blending: each reference's latent masked by its own band; denoisers combined with weights
``blend_weights`` (default 1, 1, -1 over z1, z2, null). Sampler steps: the scale's (100 at paper
scale) unless ``steps`` is given. The output mel goes through the run's vocoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from bench.adapters.dac_codec import INSTALL as DAC_INSTALL
from bench.core.registry import register
from bench.core.system import Availability, Needs, one_item_at_a_time_on_cpu, validate_options
from bench.models.latentft_ablations import VARIANTS
from bench.systems.families.trained import TrainedSystem


class _LatentFTBase(TrainedSystem):
    uses_vocoder = True

    @dataclass(frozen=True)
    class Options(TrainedSystem.Options):
        cfg: float = 2.0  # classifier-free guidance of conditional generation
        blend_weights: str = "1,1,-1"  # blending's denoiser weights over z1, z2, null

        def __post_init__(self):
            super().__post_init__()
            if len(self.blend_weight_values()) != 3:
                raise ValueError(
                    f"blend_weights must be three numbers W1,W2,WNULL, not {self.blend_weights!r}"
                )

        def blend_weight_values(self) -> list[float]:
            try:
                return [float(w) for w in self.blend_weights.split(",")]
            except ValueError:
                raise ValueError(
                    f"blend_weights must be three numbers W1,W2,WNULL, not {self.blend_weights!r}"
                ) from None

    def load(self):
        from bench.models.latentft import LatentFT, LatentFTConfig

        state = self.load_checkpoint()
        model_config = dict(state["config"]["model"])
        model_config["decoder_mults"] = tuple(model_config["decoder_mults"])
        model = LatentFT(LatentFTConfig(**model_config))
        model.load_state_dict(state["ema"])
        return model.eval().to(self.context.device), state

    def extra_fingerprint(self) -> dict:
        _, state = self.loaded
        return {
            **self.checkpoint_fingerprint(state),
            "sampling_steps": self._steps(),
            "cfg": self.options.cfg,
            "blend_weights": self.options.blend_weights,
        }

    def info(self) -> dict:
        model, state = self.loaded
        return {
            "parameters": sum(p.numel() for p in model.parameters()),
            "latent": f"{model.latent_channels} channels at 86.13 Hz",
            **self.checkpoint_info(state),
        }

    def _encoder_inputs(self, references):
        from bench.core.mel import normalised_mel

        return normalised_mel(np.asarray(references))

    def _latents(self, references):
        import torch

        model, _ = self.loaded
        features = torch.as_tensor(
            self._encoder_inputs(references), dtype=torch.float32, device=self.context.device
        )
        with torch.no_grad():
            return model.encode(features)

    def _sample(self, conditions, weights, seeds, length):
        from bench.models.edm import SamplerConfig

        model, _ = self.loaded
        mels = model.generate(
            conditions, weights, seeds, SamplerConfig(steps=self._steps()), conditions[0].shape[-1]
        )
        return self.context.vocoder(mels.double().cpu().numpy(), seeds, length)

    @one_item_at_a_time_on_cpu
    def conditional(self, batch):
        import torch

        from bench.models.frequency_mask import apply_mask, band_masks

        latent = self._latents(batch.references)
        masked = apply_mask(latent, band_masks(batch.bands).to(latent.device))
        cfg = self.options.cfg
        return self._sample(
            [masked, torch.zeros_like(masked)], [cfg, 1.0 - cfg], batch.seeds, batch.references.shape[-1]
        )

    @one_item_at_a_time_on_cpu
    def blend(self, batch):
        import torch

        from bench.models.frequency_mask import apply_mask, band_masks

        latent1, latent2 = self._latents(batch.references1), self._latents(batch.references2)
        z1 = apply_mask(latent1, band_masks(batch.bands1).to(latent1.device))
        z2 = apply_mask(latent2, band_masks(batch.bands2).to(latent2.device))
        weights = self.options.blend_weight_values()
        return self._sample([z1, z2, torch.zeros_like(z1)], weights, batch.seeds, batch.references1.shape[-1])

    def isolate(self, references, bands, seeds, weights=(0.1, 0.9)):
        """Self-blend the full latent and its band-passed copy (weights 0.1 / 0.9): the sound of
        one latent-frequency band in its context."""
        from bench.models.frequency_mask import apply_mask, band_masks

        latent = self._latents(references)
        band_only = apply_mask(latent, band_masks(bands).to(latent.device))
        return self._sample([latent, band_only], list(weights), seeds, np.asarray(references).shape[-1])


@register
class LatentFTMLP(_LatentFTBase):
    name = "latentft-mlp"
    description = "LatentFT with a frame-wise MLP encoder (trained by the harness)"


@register
class LatentFTUNet(_LatentFTBase):
    name = "latentft-unet"
    description = "LatentFT with a 1D U-Net encoder (trained by the harness)"


@register
class LatentFTDAC(_LatentFTBase):
    """The encoder reads the frozen DAC's continuous latent z (resampled to 44.1 kHz, 86.13 Hz,
    as many frames as the mel) through a 1D U-Net. DAC weights: ``latentft-dac.dac_weights=PATH``,
    else the file the checkpoint was trained with, else descript-audio-codec's cache; they must be
    the weights the checkpoint was trained with (checked by hash)."""

    name = "latentft-dac"
    description = (
        "LatentFT with a DAC front end and a 1D U-Net encoder (trained by the harness; needs DAC weights)"
    )
    needs = Needs(packages=("dac", "audiotools", "torch"), install_hint=DAC_INSTALL)

    @dataclass(frozen=True)
    class Options(_LatentFTBase.Options):
        dac_weights: str | None = None  # default: the file the checkpoint was trained with, else DAC's cache

    @classmethod
    def _training_meta(cls, options) -> dict:
        from bench.models.checkpoint_store import load_state

        return load_state(cls.checkpoint(options))["meta"]

    @classmethod
    def dac_weights(cls, options, meta: dict):
        from pathlib import Path

        from bench.adapters.dac_codec import weights_path

        given = validate_options(cls, options).dac_weights
        if not given and meta.get("dac_weights") and Path(meta["dac_weights"]).is_file():
            given = meta["dac_weights"]
        return weights_path(given)

    @classmethod
    def availability(cls, options=None) -> Availability:
        from bench.adapters.dac_codec import weights_availability
        from bench.core.storage import file_sha256

        base = super().availability(options)
        if not base.ok:
            if base.reason.startswith("no checkpoint"):
                return Availability(
                    False,
                    base.reason,
                    base.fix + "; training reads the DAC latent: "
                    "ARGS=--dac-weights=/path/weights.pth, or descript-audio-codec's cache",
                )
            return base
        meta = cls._training_meta(options)
        path = cls.dac_weights(options, meta)
        weights = weights_availability(path, "--system-option latentft-dac.dac_weights")
        if not weights.ok:
            return weights
        expected = meta.get("dac_weights_sha256")
        if expected and file_sha256(str(path)) != expected:
            return Availability(
                False,
                f"{path} is not the DAC the checkpoint was trained with (sha256 {expected[:12]}...)",
                "pass those weights as latentft-dac.dac_weights",
            )
        return Availability(True)

    @cached_property
    def _dac(self):
        """The frozen DAC the encoder reads (loaded once, after the checkpoint that names it)."""
        from bench.adapters.dac_codec import load_dac

        _, state = self.loaded
        return load_dac(self.dac_weights(self.options, state["meta"]), self.context.device)

    def _encoder_inputs(self, references):
        from bench.adapters.dac_codec import clip_latents
        from bench.core.audio import SAMPLE_RATE
        from bench.core.mel import frame_count

        references = np.asarray(references)
        return clip_latents(
            self._dac, references, frame_count(references.shape[-1]), SAMPLE_RATE, self.context.device
        )

    def extra_fingerprint(self) -> dict:
        return {
            **super().extra_fingerprint(),
            "dac_weights_sha256": self.loaded[1]["meta"].get("dac_weights_sha256"),
        }


# the ablations of Tables 9-10 (models/latentft_ablations.py): LatentFT-MLP trained with one change
# each, run exactly as latentft-mlp; in the registry (make systems, compare, isolate), never in
# table1's default rows
for _name, (_, _what) in VARIANTS.items():
    register(
        type(
            "LatentFT_" + _name.replace("-", "_"),
            (_LatentFTBase,),
            {
                "name": _name,
                "description": f"LatentFT-MLP {_what} (ablation; trained by the harness)",
                "__module__": __name__,
            },
        )
    )
