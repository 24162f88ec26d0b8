"""LatentFT: an encoder to a latent sequence, a mask on the latent's spectrum along time, and an
EDM diffusion decoder of normalised log-mels conditioned on the masked latent.

The decoder sees concat(c_in x, z_masked) and is trained with the correlated random frequency
mask (models.frequency_mask) and condition dropout for classifier-free guidance (null latent =
zeros). Sampling: Heun, guidance D = cfg D(x; z) + (1 - cfg) D(x; 0); blending combines the
denoisers of each reference's band-masked latent with weights [1, 1, -1] over (z1, z2, null).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from bench.models.edm import SamplerConfig, combine, edm_loss, heun_sample, initial_noise, precondition
from bench.models.frequency_mask import apply_mask, sample_band_pass_masks, sample_training_masks
from bench.models.pointwise_conv import PointwiseConv1d
from bench.models.unet1d import UNet1D

N_MELS = 80


@dataclass(frozen=True)
class LatentFTConfig:
    encoder: str = "mlp"  # "mlp" | "unet" | "dac-unet" | "none" (the no-encoder ablation: z = mel)
    latent_channels: int = 16
    encoder_input_channels: int = N_MELS  # dac-unet: the codec's latent_dim (1024 for the 44 kHz DAC)
    encoder_hidden: int = 128
    encoder_base: int = 32
    decoder_base: int = 64
    decoder_mults: tuple = (1, 2, 2, 2)
    decoder_blocks: int = 1
    cond_dropout: float = 0.1
    mask_log_axis: bool = True
    mask_correlated: bool = True
    masking: bool = True
    mask_kind: str = "dft"  # "dft" (the correlated random DFT mask) | "band-pass" (one random band)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["decoder_mults"] = list(self.decoder_mults)
        return d


class MLPEncoder(nn.Module):
    """Frame-wise MLP: each mel frame to a latent frame (1x1 convolutions)."""

    def __init__(self, hidden: int, latent: int):
        super().__init__()
        self.net = nn.Sequential(
            PointwiseConv1d(N_MELS, hidden),
            nn.SiLU(),
            PointwiseConv1d(hidden, hidden),
            nn.SiLU(),
            PointwiseConv1d(hidden, latent),
        )

    def forward(self, mel):
        return self.net(mel)


class LatentFT(nn.Module):
    def __init__(self, config: LatentFTConfig):
        super().__init__()
        self.config = config
        if config.encoder == "mlp":
            self.encoder = MLPEncoder(config.encoder_hidden, config.latent_channels)
            latent = config.latent_channels
        elif config.encoder == "unet":
            self.encoder = UNet1D(
                N_MELS,
                config.latent_channels,
                base=config.encoder_base,
                mults=(1, 2, 2),
                noise_embedding=False,
            )
            nn.init.normal_(self.encoder.out[-1].weight, std=0.02)
            latent = config.latent_channels
        elif config.encoder == "dac-unet":
            # a frozen DAC front end (its z, computed outside the model) standardised per channel
            # with the training set's statistics, then a 1D U-Net
            self.register_buffer("input_mean", torch.zeros(config.encoder_input_channels, 1))
            self.register_buffer("input_std", torch.ones(config.encoder_input_channels, 1))
            self.encoder = UNet1D(
                config.encoder_input_channels,
                config.latent_channels,
                base=config.encoder_base,
                mults=(1, 2, 2),
                noise_embedding=False,
            )
            nn.init.normal_(self.encoder.out[-1].weight, std=0.02)
            latent = config.latent_channels
        elif config.encoder == "none":
            self.encoder = nn.Identity()
            latent = N_MELS
        else:
            raise ValueError(f"unknown encoder {config.encoder!r}")
        self.latent_channels = latent
        self.decoder = UNet1D(
            N_MELS + latent,
            N_MELS,
            base=config.decoder_base,
            mults=tuple(config.decoder_mults),
            blocks=config.decoder_blocks,
        )

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """The encoder's input: the normalised mel [B, 80, T], or the DAC latent [B, C, T] for dac-unet."""
        if self.config.encoder == "dac-unet":
            return self.encoder((features - self.input_mean) / self.input_std)
        return self.encoder(features)

    def set_input_statistics(self, features: torch.Tensor) -> None:
        """dac-unet: per-channel mean and std of the training set's DAC latents [N, C, T]."""
        self.input_mean.copy_(features.mean(dim=(0, 2))[:, None])
        self.input_std.copy_(features.std(dim=(0, 2))[:, None].clamp_min(1e-5))

    def denoiser(self, condition: torch.Tensor):
        """D(x; sigma) given a (masked) latent condition [B, C, T]."""

        def network(x_in, c_noise):
            return self.decoder(torch.cat([x_in, condition], dim=1), c_noise)

        return lambda x, sigma: precondition(network, x, sigma)

    def training_masks(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """The [B, bins] latent-spectrum masks of one training batch (the config's distribution)."""
        c = self.config
        if c.mask_kind == "band-pass":
            return sample_band_pass_masks(batch, generator)
        if c.mask_kind != "dft":
            raise ValueError(f"unknown mask_kind {c.mask_kind!r} (dft or band-pass)")
        return sample_training_masks(
            batch, generator, log_axis=c.mask_log_axis, correlated=c.mask_correlated, masking=c.masking
        )

    def loss(self, batch, generator: torch.Generator) -> torch.Tensor:
        """``batch``: mels [B, 80, T], or (mels, encoder inputs) for dac-unet."""
        c = self.config
        mel, features = batch if isinstance(batch, (tuple, list)) else (batch, batch)
        latent = self.encode(features)
        masks = self.training_masks(mel.shape[0], generator).to(mel.device)
        condition = apply_mask(latent, masks)
        keep = (torch.rand(mel.shape[0], generator=generator) >= c.cond_dropout).float().to(mel.device)
        condition = condition * keep[:, None, None]
        return edm_loss(self.denoiser(condition), mel, generator)

    @torch.no_grad()
    def generate(
        self,
        conditions: list[torch.Tensor],
        weights: list[float],
        seeds: list[int],
        sampler: SamplerConfig,
        frames: int,
    ) -> torch.Tensor:
        """Sample mels from a weighted combination of denoisers, one per condition (zeros = null)."""
        denoise = combine([self.denoiser(c) for c in conditions], weights)
        noise = initial_noise((N_MELS, frames), seeds, device=conditions[0].device)
        return heun_sample(denoise, noise, sampler).clamp(-1.0, 1.0)  # the data range of normalised mels
