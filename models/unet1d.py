"""A 1D U-Net over time with an optional noise-level embedding (FiLM), shared by the diffusion
decoders, the U-Net encoder and the unconditional prior."""

from __future__ import annotations

import math

import torch
from torch import nn

from bench.models.pointwise_conv import PointwiseConv1d


def _groups(channels: int) -> int:
    for g in (8, 4, 2, 1):
        if channels % g == 0:
            return g
    return 1


class NoiseEmbedding(nn.Module):
    """Sinusoidal features of c_noise, then a 2-layer MLP."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 2), nn.SiLU(), nn.Linear(dim * 2, dim))

    def forward(self, c_noise: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(
            -math.log(10000.0) * torch.arange(half, device=c_noise.device, dtype=c_noise.dtype) / half
        )
        angles = c_noise[:, None] * freqs[None] * 100.0
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=1))


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, emb_dim: int | None, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(in_ch), in_ch)
        self.conv1 = nn.Conv1d(in_ch, out_ch, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * out_ch) if emb_dim else None
        self.norm2 = nn.GroupNorm(_groups(out_ch), out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(out_ch, out_ch, 3, padding=1)
        self.skip = PointwiseConv1d(in_ch, out_ch) if in_ch != out_ch else nn.Identity()

    def forward(self, x, emb=None):
        h = self.conv1(torch.nn.functional.silu(self.norm1(x)))
        h = self.norm2(h)
        if self.film is not None and emb is not None:
            scale, shift = self.film(emb).chunk(2, dim=1)
            h = h * (1 + scale[..., None]) + shift[..., None]
        h = self.conv2(self.dropout(torch.nn.functional.silu(h)))
        return h + self.skip(x)


class UNet1D(nn.Module):
    """[B, in_ch, T] -> [B, out_ch, T]; T must be divisible by 2^(len(mults) - 1)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        base: int = 64,
        mults=(1, 2, 2),
        blocks: int = 1,
        noise_embedding: bool = True,
        emb_dim: int = 128,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.embed = NoiseEmbedding(emb_dim) if noise_embedding else None
        emb = emb_dim if noise_embedding else None
        self.stem = nn.Conv1d(in_ch, base * mults[0], 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        channels = [base * mults[0]]
        ch = base * mults[0]
        for level, mult in enumerate(mults):
            for _ in range(blocks):
                self.down.append(ResBlock(ch, base * mult, emb, dropout))
                ch = base * mult
                channels.append(ch)
            if level < len(mults) - 1:
                self.downsample.append(nn.Conv1d(ch, ch, 3, stride=2, padding=1))
                channels.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch, emb, dropout), ResBlock(ch, ch, emb, dropout)])
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level, mult in reversed(list(enumerate(mults))):
            for _ in range(blocks + 1):
                self.up.append(ResBlock(ch + channels.pop(), base * mult, emb, dropout))
                ch = base * mult
            if level > 0:
                self.upsample.append(nn.Conv1d(ch, ch, 3, padding=1))
        self.out = nn.Sequential(
            nn.GroupNorm(_groups(ch), ch), nn.SiLU(), nn.Conv1d(ch, out_ch, 3, padding=1)
        )
        self.levels, self.blocks = len(mults), blocks
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x, c_noise=None):
        if not self.training and x.device.type == "cpu" and x.shape[0] > 1:
            # torch's CPU convolutions (kernel 3) pick their kernels by batch size, so an item's bits
            # would depend on what it is batched with (--batch-size, the unit split); one item at a
            # time on CPU keeps them fixed: as fast with 2 threads, ~1.4x slower with 1 (README,
            # "Caching, resuming, determinism"; tests/test_thread_invariance.py)
            per_item = c_noise is not None and c_noise.ndim > 0 and c_noise.shape[0] == x.shape[0]
            return torch.cat(
                [
                    self._forward(x[i : i + 1], c_noise[i : i + 1] if per_item else c_noise)
                    for i in range(x.shape[0])
                ]
            )
        return self._forward(x, c_noise)

    def _forward(self, x, c_noise=None):
        emb = self.embed(c_noise) if self.embed is not None else None
        h = self.stem(x)
        skips = [h]
        down_blocks, downsamples = iter(self.down), iter(self.downsample)
        for level in range(self.levels):
            for _ in range(self.blocks):
                h = next(down_blocks)(h, emb)
                skips.append(h)
            if level < self.levels - 1:
                h = next(downsamples)(h)
                skips.append(h)
        for block in self.mid:
            h = block(h, emb)
        up_blocks, upsamples = iter(self.up), iter(self.upsample)
        for level in reversed(range(self.levels)):
            for _ in range(self.blocks + 1):
                h = next(up_blocks)(torch.cat([h, skips.pop()], dim=1), emb)
            if level > 0:
                h = next(upsamples)(torch.nn.functional.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.out(h)
