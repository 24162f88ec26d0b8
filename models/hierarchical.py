"""Hierarchical diffusion autoencoders: the multi-scale spectral DAE and the HDAE baseline
(systems.md; protocol.md section 6), at toy scale on the harness's mels.

Both decode a normalised 80-band log-mel [80, T] with the shared EDM core and 1D U-Net, conditioned
by three codes h1 (T/32 steps, the coarsest), h2 (T/16) and h3 (T/8), each ``code_channels``
wide, upsampled to T (nearest) and concatenated to the U-Net's input. The codes are dropped
together with probability 0.14 (classifier-free training).

- ``msdae`` (multi-scale spectral DAE): three encoders read log-mels at three resolutions
  (32 bands hop 1024, 64 bands hop 512, 128 bands hop 256) and pool to T/32, T/16, T/8 steps;
  hierarchical sums z1 = e1, z2 = e2 + up(z1), z3 = e3 + up(z2). Progressive training: the first
  third of the steps trains e1 only (e2, e3 zero), the second adds e2 with e1 frozen, the last
  adds e3 with e1 and e2 frozen.
- ``hdae``: one encoder on the 128-band mel; h3, h2, h1 are its features after one, two and three
  stages (pooled to T/8, T/16, T/32); trained jointly, no sums.

Departures from the seed work, forced by a 2-core CPU: the decoder models mels, not a codec's
latent frames, and the codes enter at the U-Net's input, not at three of its levels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from bench.models.edm import SamplerConfig, edm_loss, heun_sample, initial_noise, precondition
from bench.models.pointwise_conv import PointwiseConv1d
from bench.models.unet1d import ResBlock, UNet1D

N_MELS = 80
RESOLUTIONS = ((32, 1024), (64, 512), (128, 256))  # (mel bands, hop) read by e1, e2, e3
POOLS = (32, 16, 8)  # frames of the 80-band mel per code step
LEVELS = ("h1", "h2", "h3")


@dataclass(frozen=True)
class HierarchicalConfig:
    kind: str = "msdae"  # "msdae" | "hdae"
    code_channels: int = 16
    encoder_base: int = 32
    decoder_base: int = 32
    decoder_mults: tuple = (1, 2, 2)
    cond_dropout: float = 0.14
    total_steps: int = 3000  # for the progressive schedule of msdae

    def as_dict(self) -> dict:
        d = asdict(self)
        d["decoder_mults"] = list(self.decoder_mults)
        return d


def multires_mels(audio: np.ndarray, sample_rate: int = 22050) -> list[np.ndarray]:
    """log-mels at the three RESOLUTIONS, scaled like the 80-band mel: [..., bands, T / hop] each."""
    import librosa

    from bench.core.mel import normalise_log_mel

    out = []
    for bands, hop in RESOLUTIONS:
        power = librosa.feature.melspectrogram(
            y=np.asarray(audio, dtype=np.float64),
            sr=sample_rate,
            n_fft=4 * hop,
            hop_length=hop,
            n_mels=bands,
            center=False,
            power=1.0,
        )
        frames = audio.shape[-1] // hop
        power = power[..., :frames]
        if power.shape[-1] < frames:
            power = np.pad(power, [(0, 0)] * (power.ndim - 1) + [(0, frames - power.shape[-1])], mode="edge")
        out.append(normalise_log_mel(np.log(np.maximum(power, 1e-5))).astype(np.float32))
    return out


class _Stage(nn.Module):
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.block = ResBlock(in_ch, out_ch, None)

    def forward(self, x):
        return self.block(x)


class ResolutionEncoder(nn.Module):
    """[B, bands, F] -> [B, code_channels, steps]: two residual blocks, then average pooling."""

    def __init__(self, bands: int, base: int, code_channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(bands, base, 3, padding=1),
            _Stage(base, base),
            _Stage(base, base),
            PointwiseConv1d(base, code_channels),
        )

    def forward(self, mel, steps: int):
        return nn.functional.adaptive_avg_pool1d(self.net(mel), steps)


class DepthEncoder(nn.Module):
    """One encoder on the 128-band mel; the codes are its features at three depths."""

    def __init__(self, bands: int, base: int, code_channels: int):
        super().__init__()
        self.stem = nn.Conv1d(bands, base, 3, padding=1)
        self.stages = nn.ModuleList([_Stage(base, base), _Stage(base, 2 * base), _Stage(2 * base, 2 * base)])
        self.heads = nn.ModuleList(
            [
                PointwiseConv1d(base, code_channels),
                PointwiseConv1d(2 * base, code_channels),
                PointwiseConv1d(2 * base, code_channels),
            ]
        )

    def forward(self, mel, steps: tuple[int, int, int]):
        """steps = (h1, h2, h3) lengths; returns [h1, h2, h3]."""
        h = self.stem(mel)
        codes = []
        for stage, head, length in zip(
            self.stages, self.heads, reversed(steps)
        ):  # shallow -> deep: h3, h2, h1
            h = nn.functional.avg_pool1d(stage(h), 2)
            codes.append(nn.functional.adaptive_avg_pool1d(head(h), length))
        return codes[::-1]


def upsample(code: torch.Tensor, length: int) -> torch.Tensor:
    return nn.functional.interpolate(code, size=length, mode="nearest")


class HierarchicalDAE(nn.Module):
    def __init__(self, config: HierarchicalConfig):
        super().__init__()
        if config.kind not in ("msdae", "hdae"):
            raise ValueError(f"kind must be 'msdae' or 'hdae', not {config.kind!r}")
        self.config = config
        c = config.code_channels
        if config.kind == "msdae":
            self.encoders = nn.ModuleList(
                [ResolutionEncoder(bands, config.encoder_base, c) for bands, _ in RESOLUTIONS]
            )
        else:
            self.encoder = DepthEncoder(RESOLUTIONS[-1][0], config.encoder_base, c)
        self.decoder = UNet1D(
            N_MELS + 3 * c, N_MELS, base=config.decoder_base, mults=tuple(config.decoder_mults)
        )
        self.step = 0

    def set_step(self, step: int) -> None:
        self.step = step

    @property
    def active_levels(self) -> int:
        """msdae's progressive schedule: how many encoders are on (all of them outside training)."""
        if self.config.kind != "msdae" or not self.training:
            return 3
        return min(3, 1 + 3 * self.step // max(1, self.config.total_steps))

    def encoder_outputs(self, multires: list[torch.Tensor], frames: int) -> list[torch.Tensor]:
        """e1, e2, e3 (msdae) or h1, h2, h3 (hdae), before any hierarchical sum."""
        steps = tuple(frames // p for p in POOLS)
        if self.config.kind == "hdae":
            return self.encoder(multires[-1], steps)
        active = self.active_levels
        outputs = []
        for level, (encoder, mel, length) in enumerate(zip(self.encoders, multires, steps)):
            if level >= active:
                outputs.append(mel.new_zeros(mel.shape[0], self.config.code_channels, length))
            elif level < active - 1 and self.training:  # frozen: trained in an earlier stage
                with torch.no_grad():
                    outputs.append(encoder(mel, length))
            else:
                outputs.append(encoder(mel, length))
        return outputs

    def combine(self, outputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The codes the decoder reads: hierarchical sums for msdae, the outputs for hdae."""
        if self.config.kind == "hdae":
            return list(outputs)
        z1 = outputs[0]
        z2 = outputs[1] + upsample(z1, outputs[1].shape[-1])
        z3 = outputs[2] + upsample(z2, outputs[2].shape[-1])
        return [z1, z2, z3]

    def codes(self, multires: list[torch.Tensor], frames: int) -> list[torch.Tensor]:
        return self.combine(self.encoder_outputs(multires, frames))

    def condition(self, codes: list[torch.Tensor], frames: int) -> torch.Tensor:
        return torch.cat([upsample(code, frames) for code in codes], dim=1)

    def denoiser(self, condition: torch.Tensor):
        def network(x_in, c_noise):
            return self.decoder(torch.cat([x_in, condition], dim=1), c_noise)

        return lambda x, sigma: precondition(network, x, sigma)

    def loss(self, batch, generator: torch.Generator) -> torch.Tensor:
        mel, *multires = batch
        condition = self.condition(self.codes(multires, mel.shape[-1]), mel.shape[-1])
        keep = (
            (torch.rand(mel.shape[0], generator=generator) >= self.config.cond_dropout).float().to(mel.device)
        )
        return edm_loss(self.denoiser(condition * keep[:, None, None]), mel, generator)

    @torch.no_grad()
    def decode(
        self, codes: list[torch.Tensor], seeds: list[int], frames: int, steps: int = 25
    ) -> torch.Tensor:
        condition = self.condition(codes, frames)
        noise = initial_noise((N_MELS, frames), seeds, device=condition.device)
        return heun_sample(self.denoiser(condition), noise, SamplerConfig(steps=steps)).clamp(-1.0, 1.0)
