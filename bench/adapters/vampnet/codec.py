"""The ``lac`` codec VampNet tokenises with (lac/model/lac.py, lac/nn/quantize.py, lac/nn/layers.py):
a DAC-like convolutional encoder, a residual vector quantiser with factorised, l2-normalised codebook
look-up, and its own decoder (transposed convolutions followed by HiFi-GAN-style multi-receptive-field
blocks averaged), all with Snake activations. Weight norm is folded away at load time
(bench/adapters/vampnet/checkpoint.py), so the convolutions here are plain ones whose class marks that
the checkpoint stores them as ``weight_g`` / ``weight_v``.

Padding rule: every strided convolution pads ``stride // 2`` on each side with a kernel of
``2 * stride``. With an even stride the encoder gives ``T / stride`` frames and the decoder
``T * stride`` samples; with an odd stride the encoder drops one frame and the decoder adds one sample
(``(T - 1) * s - 2 (s // 2) + 2 s``), exactly as the official layers do.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class WNConv1d(nn.Conv1d):
    """A Conv1d stored weight-normed (``weight_g``, ``weight_v``) in the official checkpoints."""

    weight_normed = True


class WNConvTranspose1d(nn.ConvTranspose1d):
    """A ConvTranspose1d stored weight-normed (norm over every dimension but the first)."""

    weight_normed = True


class Snake1d(nn.Module):
    """x + sin^2(alpha x) / (alpha + 1e-9), per channel (the official op order)."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x):
        shape = x.shape
        x = x.reshape(shape[0], shape[1], -1)
        x = x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)
        return x.reshape(shape)


class _Residual(nn.Module):
    """x + body(x), the body kept under the official attribute name."""

    def __init__(self, name: str, body: nn.Sequential):
        super().__init__()
        self._name = name
        self.add_module(name, body)

    def forward(self, x):
        return x + getattr(self, self._name)(x)


def _encoder_layer(dim: int, dilation: int) -> nn.Module:
    return _Residual(
        "block",
        nn.Sequential(
            Snake1d(dim),
            WNConv1d(dim, dim, kernel_size=7, dilation=dilation, padding=3 * dilation),
            Snake1d(dim),
            WNConv1d(dim, dim, kernel_size=1),
        ),
    )


class _Blocked(nn.Module):
    def __init__(self, *layers):
        super().__init__()
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return self.block(x)


def _encoder_block(dim: int, stride: int) -> nn.Module:
    half = dim // 2
    return _Blocked(
        _encoder_layer(half, 1),
        _encoder_layer(half, 3),
        _encoder_layer(half, 9),
        Snake1d(half),
        WNConv1d(half, dim, kernel_size=2 * stride, stride=stride, padding=stride // 2),
    )


class Encoder(nn.Module):
    def __init__(self, d_model: int, strides):
        super().__init__()
        layers = [WNConv1d(1, d_model, kernel_size=7, padding=3)]
        for stride in strides:
            d_model *= 2
            layers.append(_encoder_block(d_model, int(stride)))
        layers += [Snake1d(d_model), WNConv1d(d_model, d_model, kernel_size=3, padding=1)]
        self.block = nn.Sequential(*layers)
        self.enc_dim = d_model

    def forward(self, x):
        return self.block(x)


def _residual_layer(channels: int, kernel: int, dilation: int) -> nn.Module:
    return _Residual(
        "layer",
        nn.Sequential(
            Snake1d(channels),
            WNConv1d(
                channels,
                channels,
                kernel_size=kernel,
                dilation=dilation,
                padding=(kernel - 1) * dilation // 2,
            ),
            Snake1d(channels),
            WNConv1d(channels, channels, kernel_size=kernel, padding=(kernel - 1) // 2),
        ),
    )


class MRFBlock(nn.Module):
    """The mean of residual stacks with different kernel sizes (multi-receptive-field fusion)."""

    def __init__(self, channels: int, kernel_sizes=(3, 7, 11), dilations=((1, 3, 5),) * 3):
        super().__init__()
        self.mrf_blocks = nn.ModuleList(
            _Blocked(*[_residual_layer(channels, k, d) for d in ds]) for k, ds in zip(kernel_sizes, dilations)
        )

    def forward(self, x):
        total = 0
        for stack in self.mrf_blocks:
            total += stack(x)
        return total / len(self.mrf_blocks)


class Decoder(nn.Module):
    def __init__(self, input_channel: int, channels: int, rates, d_out: int = 1):
        super().__init__()
        layers = [WNConv1d(input_channel, channels, kernel_size=7, padding=3)]
        for i, stride in enumerate(rates):
            stride = int(stride)
            in_dim, out_dim = channels // 2**i, channels // 2 ** (i + 1)
            layers.append(
                _Blocked(
                    Snake1d(in_dim),
                    WNConvTranspose1d(
                        in_dim, out_dim, kernel_size=2 * stride, stride=stride, padding=stride // 2
                    ),
                    MRFBlock(out_dim),
                )
            )
        layers += [Snake1d(out_dim), WNConv1d(out_dim, d_out, kernel_size=7, padding=3), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class Quantizer(nn.Module):
    """One codebook: project down (in_proj), nearest l2-normalised codeword, project up (out_proj)."""

    def __init__(self, input_dim: int, codebook_size: int, codebook_dim: int):
        super().__init__()
        self.in_proj = WNConv1d(input_dim, codebook_dim, kernel_size=1)
        self.out_proj = WNConv1d(codebook_dim, input_dim, kernel_size=1)
        self.codebook = nn.Embedding(codebook_size, codebook_dim)

    def nearest(self, latents: torch.Tensor) -> torch.Tensor:
        """latents [B, D, T] -> codes [B, T]: the codeword of largest cosine similarity, found as the
        official decode_latents does (squared distance of l2-normalised vectors, its op order)."""
        batch = latents.shape[0]
        flat = F.normalize(latents.transpose(1, 2).reshape(-1, latents.shape[1]))
        book = F.normalize(self.codebook.weight)
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ book.t() + book.pow(2).sum(1, keepdim=True).t()
        return (-dist).max(1)[1].reshape(batch, -1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.codebook.weight).transpose(1, 2)


class ResidualVQ(nn.Module):
    def __init__(self, input_dim: int, n_codebooks: int, codebook_size: int, codebook_dim):
        super().__init__()
        dims = [codebook_dim] * n_codebooks if isinstance(codebook_dim, int) else list(codebook_dim)
        if len(dims) != n_codebooks:
            raise ValueError(f"codebook_dim lists {len(dims)} sizes for {n_codebooks} codebooks")
        self.quantizers = nn.ModuleList(Quantizer(input_dim, codebook_size, d) for d in dims)

    def encode(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, D, T] -> codes [B, n_codebooks, T] (every codebook, residual after residual)."""
        residual, codes = z, []
        for quantizer in self.quantizers:
            z_e = quantizer.in_proj(residual)
            index = quantizer.nearest(z_e)
            # the straight-through z_e + (z_q - z_e) of the official forward, its value in float arithmetic
            z_q = quantizer.out_proj(z_e + (quantizer.lookup(index) - z_e))
            residual = residual - z_q
            codes.append(index)
        return torch.stack(codes, dim=1)

    def from_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Codebook vectors stacked [B, sum(dims), T] -> z [B, D, T], requantising each slice to its
        nearest codeword first (what VampNet's decode calls)."""
        bounds = [0]
        for quantizer in self.quantizers:
            bounds.append(bounds[-1] + quantizer.codebook.weight.shape[1])
        used = max(i for i, b in enumerate(bounds) if b <= latents.shape[1])
        z = 0
        for i in range(used):
            quantizer = self.quantizers[i]
            index = quantizer.nearest(latents[:, bounds[i] : bounds[i + 1]])
            z = z + quantizer.out_proj(quantizer.lookup(index))
        return z


class LAC(nn.Module):
    """The codec, built from a checkpoint's ``metadata["kwargs"]`` (never from constants)."""

    def __init__(
        self,
        encoder_dim: int = 64,
        encoder_rates=(2, 4, 8, 8),
        decoder_dim: int = 512,
        decoder_rates=(4, 4, 4, 2, 2, 2),
        n_codebooks: int = 9,
        codebook_size: int = 1024,
        codebook_dim=8,
        sample_rate: int = 44100,
    ):
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.hop_length = int(math.prod(int(r) for r in decoder_rates))
        self.n_codebooks = int(n_codebooks)
        self.codebook_size = int(codebook_size)
        self.encoder = Encoder(encoder_dim, encoder_rates)
        self.quantizer = ResidualVQ(self.encoder.enc_dim, n_codebooks, codebook_size, codebook_dim)
        self.decoder = Decoder(self.encoder.enc_dim, decoder_dim, decoder_rates)

    def pad(self, audio: torch.Tensor) -> torch.Tensor:
        """Right zero-padding to a whole number of hops (the official preprocess)."""
        length = audio.shape[-1]
        return F.pad(audio, (0, math.ceil(length / self.hop_length) * self.hop_length - length))

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, 1, T] at ``sample_rate`` -> codes [B, n_codebooks, frames]."""
        return self.quantizer.encode(self.encoder(self.pad(audio)))

    def decode_z(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)
