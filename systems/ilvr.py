"""ILVR (Choi et al. 2021) on the harness's unconditional mel prior (``make train SYSTEM=uncond``).

``ilvr``: at every sampling step, the sample's content in the band (spectrum of the mel along
time, rfft n=512) is replaced by the reference's, noised to the current level. Blending replaces
both bands, each from its own reference. ``ilvr-paper``: the reference code's version, one
replacement after sampling. Formulas in models/steering.py. Options: ``checkpoint``,
``steps`` (default: the scale's).
"""

from __future__ import annotations

from bench.core.registry import register
from bench.systems.families.prior_steered import SteeredPriorSystem


class _ILVRBase(SteeredPriorSystem):
    variant = "per-step"

    def settings(self) -> dict:
        return {"ilvr_variant": self.variant, "band_fft": 512}

    def steer(self, model, mels, masks, seeds, sampler, frames):
        from bench.models.steering import ILVR

        hook = ILVR(tuple(mels), tuple(masks), tuple(seeds), sampler.steps, self.variant)
        return model.sample(seeds, sampler, frames, after_step=hook, device=self.context.device)


@register
class ILVRPerStep(_ILVRBase):
    name = "ilvr"
    description = "ILVR: the unconditional mel prior, in-band content replaced at every step"


@register
class ILVRPaper(_ILVRBase):
    name = "ilvr-paper"
    description = "ILVR as the reference code runs it: one in-band replacement after sampling"
    variant = "paper"
