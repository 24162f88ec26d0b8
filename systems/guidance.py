"""Guidance on the harness's unconditional mel prior (``make train SYSTEM=uncond``).

At every step the ODE derivative is pushed down the gradient of the squared distance between the
in-band time-spectrum (rfft n=512, every mel channel) of the reference mel and of the denoised
estimate; blending sums the two bands' losses. Formulas in bench/models/steering.py.
Options: ``scale`` (1e-3, the reference code's), ``sign`` (+1), ``norm`` (none | rms),
``through_denoiser`` (0: the estimate is a leaf, as the reference code), ``checkpoint``, ``steps``.
"""
from __future__ import annotations

from bench.prior_system import SteeredPriorSystem
from bench.registry import register


@register
class Guidance(SteeredPriorSystem):
    name = "guidance"
    description = "Guidance: the unconditional mel prior steered by the in-band spectral distance"

    def settings(self) -> dict:
        options = self.context.options
        through = str(options.get("through_denoiser", "0")).lower() in ("1", "true", "yes")
        return {"guidance_scale": float(options.get("scale", 1e-3)), "guidance_sign": float(options.get("sign", 1.0)),
                "guidance_norm": str(options.get("norm", "none")), "through_denoiser": through, "band_fft": 512}

    def steer(self, model, mels, masks, seeds, sampler, frames):
        from bench.models.steering import guided_denoiser

        s = self.settings()
        denoise = guided_denoiser(model.denoise, mels, masks, scale=s["guidance_scale"], sign=s["guidance_sign"],
                                  norm=s["guidance_norm"], through_denoiser=s["through_denoiser"])
        return model.sample(seeds, sampler, frames, denoise=denoise, device=self.context.device)
