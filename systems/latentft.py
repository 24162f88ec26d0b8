"""LatentFT (MLP and U-Net encoders): the harness's own implementation, trained with
``make train SYSTEM=latentft-mlp`` (or -unet). The checkpoint is
``--system-option latentft-mlp.checkpoint=PATH`` or results/checkpoints/<system>-tiny.pt.

Conditional generation: encode the reference mel, band-mask the latent along time (n_fft 1024
on 512 frames), sample with classifier-free guidance ``cfg`` (default 2.0; null latent = zeros).
Blending: each reference's latent masked by its own band; denoisers combined with weights
``blend_weights`` (default 1, 1, -1 over z1, z2, null). Sampler steps: the scale's (100 at paper
scale) unless ``steps`` is given. The output mel goes through the run's vocoder.
"""
from __future__ import annotations

import numpy as np

from bench.registry import register
from bench.system import BLEND, CONDITIONAL, TrainedSystem


class _LatentFTBase(TrainedSystem):
    capabilities = frozenset({CONDITIONAL, BLEND})
    uses_vocoder = True

    def _model(self):
        if getattr(self, "_loaded", None) is None:
            import torch

            from bench.models.latentft import LatentFT, LatentFTConfig

            state = torch.load(self.checkpoint(self.context.options), map_location="cpu", weights_only=False)
            model_config = dict(state["config"]["model"])
            model_config["decoder_mults"] = tuple(model_config["decoder_mults"])
            model = LatentFT(LatentFTConfig(**model_config))
            model.load_state_dict(state["ema"])
            self._loaded = (model.eval().to(self.context.device), state)
        return self._loaded

    def fingerprint(self) -> dict:
        _, state = self._model()
        return {**super().fingerprint(), **self.checkpoint_fingerprint(state), "sampling_steps": self._steps(),
                "cfg": float(self.context.options.get("cfg", 2.0)),
                "blend_weights": self.context.options.get("blend_weights", "1,1,-1")}

    def info(self) -> dict:
        model, state = self._model()
        return {"parameters": sum(p.numel() for p in model.parameters()), "trained_steps": state["step"],
                "latent": f"{model.latent_channels} channels at 86.13 Hz", "trained_on": state["meta"].get("dataset")}

    def _latents(self, references):
        import torch

        from bench.mel import normalised_mel

        model, _ = self._model()
        mels = torch.as_tensor(normalised_mel(np.asarray(references)), dtype=torch.float32, device=self.context.device)
        with torch.no_grad():
            return model.encode(mels)

    def _sample(self, conditions, weights, seeds, length):
        from bench.models.edm import SamplerConfig

        model, _ = self._model()
        mels = model.generate(conditions, weights, seeds, SamplerConfig(steps=self._steps()), conditions[0].shape[-1])
        return self.context.vocoder(mels.double().cpu().numpy(), seeds, length)

    def _conditional(self, batch):
        import torch

        from bench.models.frequency_mask import apply_mask, band_masks

        latent = self._latents(batch.references)
        masked = apply_mask(latent, band_masks(batch.bands).to(latent.device))
        cfg = float(self.context.options.get("cfg", 2.0))
        return self._sample([masked, torch.zeros_like(masked)], [cfg, 1.0 - cfg], batch.seeds,
                            batch.references.shape[-1])

    def _blend(self, batch):
        import torch

        from bench.models.frequency_mask import apply_mask, band_masks

        latent1, latent2 = self._latents(batch.references1), self._latents(batch.references2)
        z1 = apply_mask(latent1, band_masks(batch.bands1).to(latent1.device))
        z2 = apply_mask(latent2, band_masks(batch.bands2).to(latent2.device))
        weights = [float(w) for w in str(self.context.options.get("blend_weights", "1,1,-1")).split(",")]
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
