"""Guidance on the harness's unconditional mel prior (``make train SYSTEM=uncond``).

At every step the ODE derivative is pushed down the gradient of the squared distance between the
in-band time-spectrum (rfft n=512, every mel channel) of the reference mel and of the denoised
estimate; blending sums the two bands' losses. Formulas in models/steering.py.
Options: ``scale`` (1e-3, the reference code's), ``sign`` (+1), ``norm`` (none | rms),
``through_denoiser`` (0: the estimate is a leaf, as the reference code), ``checkpoint``, ``steps``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.core.registry import register
from bench.systems.families.prior_steered import SteeredPriorSystem


@register
class Guidance(SteeredPriorSystem):
    name = "guidance"
    description = "Guidance: the unconditional mel prior steered by the in-band spectral distance"

    @dataclass(frozen=True)
    class Options(SteeredPriorSystem.Options):
        scale: float = 1e-3  # the reference code's
        sign: float = 1.0
        norm: str = "none"  # none | rms
        through_denoiser: bool = False  # False: the estimate is a leaf, as the reference code

        def __post_init__(self):
            super().__post_init__()
            if self.norm not in ("none", "rms"):
                raise ValueError(f"norm must be none or rms, not {self.norm!r}")

    def settings(self) -> dict:
        o = self.options
        return {
            "guidance_scale": o.scale,
            "guidance_sign": o.sign,
            "guidance_norm": o.norm,
            "through_denoiser": o.through_denoiser,
            "band_fft": 512,
        }

    def steer(self, model, mels, masks, seeds, sampler, frames):
        from bench.models.steering import guided_denoiser

        s = self.settings()
        denoise = guided_denoiser(
            model.denoise,
            mels,
            masks,
            scale=s["guidance_scale"],
            sign=s["guidance_sign"],
            norm=s["guidance_norm"],
            through_denoiser=s["through_denoiser"],
        )
        return model.sample(seeds, sampler, frames, denoise=denoise, device=self.context.device)
