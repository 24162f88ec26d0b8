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


class SelfAttention1d(nn.Module):
    """x + MHA(GroupNorm(x)) over time: one head, no biases, the output projection zero at init."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.attention = nn.MultiheadAttention(channels, num_heads=1, bias=False, batch_first=True)
        nn.init.zeros_(self.attention.out_proj.weight)

    def forward(self, x):
        seq = self.norm(x).transpose(1, 2)
        return x + self.attention(seq, seq, seq, need_weights=False)[0].transpose(1, 2)


class UNet1D(nn.Module):
    """[B, in_ch, T] -> [B, out_ch, T]; T must be divisible by 2^(len(mults) - 1). ``attention``:
    the levels (indices into ``mults``) whose blocks are each followed by self-attention (none by
    default: the shipped tiny weights' network)."""

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
        attention=(),
    ):
        super().__init__()
        self.embed = NoiseEmbedding(emb_dim) if noise_embedding else None
        emb = emb_dim if noise_embedding else None
        self.stem = nn.Conv1d(in_ch, base * mults[0], 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        channels = [base * mults[0]]
        ch = base * mults[0]
        attend = {}  # "down3" / "up5": the attention after that block (levels in ``attention``)
        for level, mult in enumerate(mults):
            for _ in range(blocks):
                self.down.append(ResBlock(ch, base * mult, emb, dropout))
                ch = base * mult
                channels.append(ch)
                if level in attention:
                    attend[f"down{len(self.down) - 1}"] = SelfAttention1d(ch)
            if level < len(mults) - 1:
                self.downsample.append(nn.Conv1d(ch, ch, 3, stride=2, padding=1))
                channels.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch, emb, dropout), ResBlock(ch, ch, emb, dropout)])
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level, mult in reversed(list(enumerate(mults))):
            for _ in range(blocks + 1):
                self.up.append(ResBlock(ch + channels.pop(), base * mult, emb, dropout))
                ch = base * mult
                if level in attention:
                    attend[f"up{len(self.up) - 1}"] = SelfAttention1d(ch)
            if level > 0:
                self.upsample.append(nn.Conv1d(ch, ch, 3, padding=1))
        self.out = nn.Sequential(
            nn.GroupNorm(_groups(ch), ch), nn.SiLU(), nn.Conv1d(ch, out_ch, 3, padding=1)
        )
        if attend:
            self.attend = nn.ModuleDict(attend)
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
        attend = self.attend if hasattr(self, "attend") else {}
        down_blocks, downsamples = iter(enumerate(self.down)), iter(self.downsample)
        for level in range(self.levels):
            for _ in range(self.blocks):
                index, block = next(down_blocks)
                h = block(h, emb)
                if f"down{index}" in attend:
                    h = attend[f"down{index}"](h)
                skips.append(h)
            if level < self.levels - 1:
                h = next(downsamples)(h)
                skips.append(h)
        for block in self.mid:
            h = block(h, emb)
        up_blocks, upsamples = iter(enumerate(self.up)), iter(self.upsample)
        for level in reversed(range(self.levels)):
            for _ in range(self.blocks + 1):
                index, block = next(up_blocks)
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
                if f"up{index}" in attend:
                    h = attend[f"up{index}"](h)
            if level > 0:
                h = next(upsamples)(torch.nn.functional.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.out(h)


# ---------------------------------------------------------------------------------------------------
# The paper's U-Net (LatentFT reference code, github:maswang32/latentfouriertransform @ c645508,
# latentft/arc/unet1d.py and exp/configs/model/5s.yaml): the topology of the paper's decoder, U-Net
# encoder and unconditional prior. Written here from the reference's description; its state dict
# equals the reference's after models/reference_checkpoint.py harness_key (the reference wraps every
# nn.Conv1d / nn.Linear / nn.GroupNorm in a module of its own: ".conv.", ".linear.", ".gn." segments).


def paper_group_norm(channels: int) -> nn.GroupNorm:
    """min(32, C // 4) groups (at least 4 channels a group), eps 1e-6."""
    groups = min(32, channels // 4)
    if groups == 0:
        raise ValueError(f"GroupNorm needs at least 4 channels, not {channels}")
    return nn.GroupNorm(groups, channels, eps=1e-6)


def _zero_bias(layer: nn.Module, weight_scale: float = 1.0) -> nn.Module:
    with torch.no_grad():
        layer.weight.mul_(weight_scale)
        if layer.bias is not None:
            layer.bias.zero_()
    return layer


def _resample(x: torch.Tensor, up: bool, down: bool) -> torch.Tensor:
    """Down: the mean of each pair of frames (filter [1/2, 1/2], stride 2); up: each frame twice
    (the transposed filter 2 x [1/2, 1/2], stride 2)."""
    if down:
        return torch.nn.functional.avg_pool1d(x, 2)
    if up:
        return x.repeat_interleave(2, dim=-1)
    return x


class PaperBlock(nn.Module):
    """GroupNorm-SiLU-conv3 (+ time embedding, added), GroupNorm-SiLU-conv3; the skip (1x1 conv when
    the width changes) added and the sum divided by sqrt 2; optional one-head self-attention (no bias),
    added and divided by sqrt 2. ``up`` / ``down`` resample before the first conv and the skip."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        emb_dim: int | None,
        up: bool = False,
        down: bool = False,
        attention: bool = False,
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.up, self.down = in_ch, out_ch, up, down
        self.norm0 = paper_group_norm(in_ch)
        self.conv0 = _zero_bias(nn.Conv1d(in_ch, out_ch, 3, padding=1))
        self.norm1 = paper_group_norm(out_ch)
        self.conv1 = _zero_bias(nn.Conv1d(out_ch, out_ch, 3, padding=1), 1e-5)
        if emb_dim:
            self.emb_proj = _zero_bias(nn.Linear(emb_dim, out_ch))
        if in_ch != out_ch:
            self.skip_proj = _zero_bias(nn.Conv1d(in_ch, out_ch, 1))
        if attention:
            self.attention = nn.MultiheadAttention(out_ch, num_heads=1, bias=False, batch_first=True)
            with torch.no_grad():
                self.attention.out_proj.weight.mul_(1e-5)

    def forward(self, x, emb=None):
        h = self.conv0(_resample(torch.nn.functional.silu(self.norm0(x)), self.up, self.down))
        if emb is not None and hasattr(self, "emb_proj"):
            h = h + self.emb_proj(emb)[..., None]
        h = self.conv1(torch.nn.functional.silu(self.norm1(h)))
        skip = _resample(x, self.up, self.down)
        if hasattr(self, "skip_proj"):
            skip = self.skip_proj(skip)
        x = (h + skip) / math.sqrt(2)
        if hasattr(self, "attention"):
            seq = x.transpose(1, 2)
            x = (x + self.attention(seq, seq, seq, need_weights=False)[0].transpose(1, 2)) / math.sqrt(2)
        return x


class PaperTimeEmbedding(nn.Module):
    """cos and sin of c_noise at 64 angular frequencies 100^(-i/63), i = 0..63, then two
    Linear-SiLU layers to ``dim``."""

    def __init__(self, dim: int, sinusoids: int = 128, max_value: float = 100.0):
        super().__init__()
        half = sinusoids // 2
        self.register_buffer("freqs", max_value ** (-torch.linspace(0.0, 1.0, half)), persistent=False)
        self.linear0 = _zero_bias(nn.Linear(sinusoids, dim))
        self.linear1 = _zero_bias(nn.Linear(dim, dim))

    def forward(self, c_noise):
        angles = c_noise.reshape(-1, 1) * self.freqs[None]
        h = torch.nn.functional.silu(self.linear0(torch.cat([angles.cos(), angles.sin()], dim=1)))
        return torch.nn.functional.silu(self.linear1(h))


class PaperUNet1D(nn.Module):
    """[B, in_ch, T] -> [B, out_ch, T], the paper's U-Net: width ``base`` x mult per level, ``blocks``
    blocks a level going down (self-attention in every block of a resolution in ``attention_at``),
    ``blocks`` + 1 coming up (attention in the last), two blocks at the bottom (the first with
    attention), resampling blocks between levels. Modules are named by resolution as in the
    reference (``enc["512_block0"]``, ``dec["256->512_up"]``); ``resolution`` is the frame count
    the names and ``attention_at`` refer to (512 at the paper's 5 s). T must be divisible by
    2^(levels - 1). ``time=False``: no noise embedding (the U-Net encoder)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        base: int = 256,
        mults=(2, 2, 2, 3, 3, 4),
        blocks: int = 4,
        attention_at=(64, 32, 16),
        time: bool = True,
        resolution: int = 512,
    ):
        super().__init__()
        emb = base * 4 if time else None
        if time:
            self.emb_network = PaperTimeEmbedding(emb)
        self.levels = len(mults)
        self.enc, self.dec = nn.ModuleDict(), nn.ModuleDict()
        ch = base
        for level, mult in enumerate(mults):
            res = resolution >> level
            if level == 0:
                self.enc[f"{res}_conv0"] = _zero_bias(nn.Conv1d(in_ch, base, 3, padding=1))
            else:
                self.enc[f"{res * 2}->{res}_down"] = PaperBlock(ch, ch, emb, down=True)
            for i in range(blocks):
                self.enc[f"{res}_block{i}"] = PaperBlock(ch, base * mult, emb, attention=res in attention_at)
                ch = base * mult
        widths = [base] + [m.out_channels for name, m in self.enc.items() if name != f"{resolution}_conv0"]
        self.skips = {}
        skip_names = list(self.enc)
        for level in reversed(range(self.levels)):
            res, out = resolution >> level, base * mults[level]
            if level == self.levels - 1:
                self.dec[f"{res}_in0"] = PaperBlock(ch, ch, emb, attention=bool(attention_at))
                self.dec[f"{res}_in1"] = PaperBlock(ch, ch, emb)
            else:
                self.dec[f"{res // 2}->{res}_up"] = PaperBlock(ch, ch, emb, up=True)
            for i in range(blocks + 1):
                name = f"{res}_block{i}"
                self.skips[name] = skip_names.pop()
                skip_ch = widths[len(skip_names)]
                attend = res in attention_at and i == blocks
                self.dec[name] = PaperBlock(ch + skip_ch, out, emb, attention=attend)
                ch = out
        self.dec[f"{resolution}_outnorm"] = paper_group_norm(ch)
        self.dec[f"{resolution}_outsilu"] = nn.SiLU()
        self.dec[f"{resolution}_outconv"] = _zero_bias(nn.Conv1d(ch, out_ch, 3, padding=1))

    def forward(self, x, c_noise=None):
        emb = self.emb_network(c_noise) if hasattr(self, "emb_network") else None
        outputs = {}
        for name, module in self.enc.items():
            x = module(x, emb) if isinstance(module, PaperBlock) else module(x)
            outputs[name] = x
        for name, module in self.dec.items():
            if name in self.skips:
                x = torch.cat([x, outputs[self.skips[name]]], dim=1)
            x = module(x, emb) if isinstance(module, PaperBlock) else module(x)
        return x
