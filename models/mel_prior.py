"""An unconditional EDM diffusion prior on normalised log-mels [B, 80, T]: the model that ILVR and
guidance steer at sampling time. Same U-Net family and EDM core as the LatentFT decoder, with no
condition channels."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from bench.models.edm import SamplerConfig, edm_loss, heun_sample, initial_noise, precondition
from bench.models.unet1d import UNet1D

N_MELS = 80


@dataclass(frozen=True)
class MelPriorConfig:
    base: int = 64
    mults: tuple = (1, 2, 2, 2)
    blocks: int = 1

    def as_dict(self) -> dict:
        d = asdict(self)
        d["mults"] = list(self.mults)
        return d


class MelPrior(nn.Module):
    def __init__(self, config: MelPriorConfig):
        super().__init__()
        self.config = config
        self.network = UNet1D(
            N_MELS, N_MELS, base=config.base, mults=tuple(config.mults), blocks=config.blocks
        )

    def denoise(self, x: torch.Tensor, sigma) -> torch.Tensor:
        return precondition(self.network, x, sigma)

    def loss(self, mel: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return edm_loss(self.denoise, mel, generator)

    def sample(
        self,
        seeds: list[int],
        sampler: SamplerConfig,
        frames: int,
        denoise=None,
        after_step=None,
        device=None,
    ) -> torch.Tensor:
        """Heun samples clamped to the data range [-1, 1]. ``denoise`` replaces D (guidance);
        ``after_step`` edits the sample after each step (ILVR)."""
        noise = initial_noise((N_MELS, frames), seeds, device=device)
        with torch.no_grad():
            x = heun_sample(denoise or self.denoise, noise, sampler, after_step)
        return x.clamp(-1.0, 1.0)


def load_mel_prior(path, device: str = "cpu") -> tuple[MelPrior, dict]:
    """The EMA weights of a checkpoint of ``make train SYSTEM=uncond`` (or the shipped one)."""
    from bench.models.checkpoint_store import load_state

    state = load_state(path)
    return mel_prior_from_state(state, device), state


def mel_prior_from_state(state: dict, device: str = "cpu") -> MelPrior:
    model_config = dict(state["config"]["model"])
    model_config["mults"] = tuple(model_config["mults"])
    model = MelPrior(MelPriorConfig(**model_config))
    model.load_state_dict(state["ema"])
    return model.eval().to(device)
