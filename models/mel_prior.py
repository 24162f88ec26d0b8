"""An unconditional EDM diffusion prior on normalised log-mels [B, 80, T]: the model that ILVR and
guidance steer at sampling time. Same U-Net family and EDM core as the LatentFT decoder, with no
condition channels."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from bench.models.edm import SamplerConfig, edm_loss, heun_sample, initial_noise, precondition
from bench.models.unet1d import PaperUNet1D, UNet1D

N_MELS = 80


@dataclass(frozen=True)
class MelPriorConfig:
    """``architecture`` "paper": the reference's unconditional model (exp/configs/model/unconditional.yaml:
    PaperUNet1D with 80 inputs); "tiny": the harness's UNet1D."""

    base: int = 64
    mults: tuple = (1, 2, 2, 2)
    blocks: int = 1
    architecture: str = "tiny"
    attention_at: tuple = ()
    resolution: int = 512
    clamp_output: bool = True  # clamp samples to [-1, 1] (tiny); the reference does not (paper)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["mults"] = list(self.mults)
        d["attention_at"] = list(self.attention_at)
        return d


class MelPrior(nn.Module):
    def __init__(self, config: MelPriorConfig):
        super().__init__()
        self.config = config
        if config.architecture == "paper":
            self.network = PaperUNet1D(
                N_MELS,
                N_MELS,
                base=config.base,
                mults=tuple(config.mults),
                blocks=config.blocks,
                attention_at=tuple(config.attention_at),
                resolution=config.resolution,
            )
        elif config.architecture == "tiny":
            self.network = UNet1D(
                N_MELS,
                N_MELS,
                base=config.base,
                mults=tuple(config.mults),
                blocks=config.blocks,
                attention=tuple(config.attention_at),
            )
        else:
            raise ValueError(f"unknown architecture {config.architecture!r} (tiny or paper)")

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
        return x.clamp(-1.0, 1.0) if self.config.clamp_output else x


def load_mel_prior(path, device: str = "cpu") -> tuple[MelPrior, dict]:
    """The EMA weights of a checkpoint of ``make train SYSTEM=uncond`` (or the shipped one)."""
    from bench.models.checkpoint_store import load_state

    state = load_state(path)
    return mel_prior_from_state(state, device, path), state


def mel_prior_from_state(state: dict, device: str = "cpu", path="checkpoint") -> MelPrior:
    """The prior of a loaded checkpoint (``path``: the file it came from, named in errors)."""
    from bench.models.checkpoint_store import model_from_state

    def build(config):
        config = {**config, "mults": tuple(config["mults"])}
        config["attention_at"] = tuple(config.get("attention_at", ()))
        return MelPrior(MelPriorConfig(**config))

    return model_from_state(path, state, build).eval().to(device)
