"""What ILVR and guidance share: the unconditional mel prior (``make train SYSTEM=uncond``), the
reference mels, seeded sampling and the vocoder."""

from __future__ import annotations

import numpy as np

from bench.core.system import one_item_at_a_time_on_cpu
from bench.systems.families.trained import TrainedSystem


class SteeredPriorSystem(TrainedSystem):
    uses_vocoder = True
    trained_by = "uncond"

    def load(self):
        from bench.models.mel_prior import mel_prior_from_state

        state = self.load_checkpoint()
        return mel_prior_from_state(state, self.context.device, self.checkpoint(self.options)), state

    def settings(self) -> dict:
        """The steering settings that change the outputs (recorded in the fingerprint)."""
        return {}

    def extra_fingerprint(self) -> dict:
        _, state = self.loaded
        return {**self.checkpoint_fingerprint(state), "sampling_steps": self._steps(), **self.settings()}

    def info(self) -> dict:
        model, state = self.loaded
        return {
            "parameters": sum(p.numel() for p in model.parameters()),
            "prior": "unconditional EDM on 80-band normalised log-mels",
            **self.checkpoint_info(state),
        }

    def _mels(self, audio):
        import torch

        from bench.core.mel import normalised_mel

        return torch.as_tensor(
            normalised_mel(np.asarray(audio)), dtype=torch.float32, device=self.context.device
        )

    def _sample(self, references, bands, seeds, length):
        """Mels steered towards ``references[j]`` in ``bands[j]`` (lists over the conditions), vocoded."""
        from bench.models.edm import SamplerConfig
        from bench.models.steering import band_bins

        model, _ = self.loaded
        mels = [self._mels(r) for r in references]
        frames = mels[0].shape[-1]
        masks = [band_bins(b, frames).to(self.context.device) for b in bands]
        sampler = SamplerConfig(steps=self._steps())
        out = self.steer(model, mels, masks, seeds, sampler, frames)
        return self.context.vocoder(out.double().cpu().numpy(), seeds, length)

    def steer(self, model, mels, masks, seeds, sampler, frames):
        raise NotImplementedError

    @one_item_at_a_time_on_cpu
    def conditional(self, batch):
        return self._sample([batch.references], [batch.bands], batch.seeds, batch.references.shape[-1])

    @one_item_at_a_time_on_cpu
    def blend(self, batch):
        return self._sample(
            [batch.references1, batch.references2],
            [batch.bands1, batch.bands2],
            batch.seeds,
            batch.references1.shape[-1],
        )
