"""VampNet's masked token transformer (vampnet/modules/transformer.py, vampnet/modules/layers.py,
vampnet/modules/activations.py): codebook-vector input embedding with a learned MASK vector per
codebook and a 1x1 projection, pre-RMSNorm bidirectional self-attention blocks whose T5 relative
position bias is held by layer 0 and reused by the others, GEGLU feed-forward (tanh GELU), a final
RMSNorm and a weight-normed 1x1 classifier.

Output layout: the classifier's ``vocab * n_predict`` channels are ordered (token, codebook), so
``logits[b, v, t * n_predict + c] = out[b, v * n_predict + c, t]`` (the official
``b (p c) t -> b p (t c)``). The coarse model predicts every codebook; the coarse-to-fine model takes
all 14 as input and predicts the ``n_codebooks - n_conditioning_codebooks`` upper ones.

FiLM, controls and classifier-free guidance are off in the published checkpoints (``r_cond_dim=0``,
``ctrl_dims=None``); checkpoint.py refuses files that turn them on. LoRA pairs are folded into the
weights at load time; ``LoRALinear`` keeps r (and alpha, loralib's default 1) for the layout check.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn
from torch.nn import functional as F

from bench.adapters.vampnet.codec import WNConv1d


class LoRALinear(nn.Linear):
    """A bias-free Linear stored with LoRA factors ``lora_A`` [r, in], ``lora_B`` [out, r]."""

    def __init__(self, d_in: int, d_out: int, r: int = 8, alpha: float = 1.0):
        super().__init__(d_in, d_out, bias=False)
        self.lora_r, self.lora_alpha = r, alpha


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def tanh_gelu(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class FeedForward(nn.Module):
    def __init__(self, d_model: int, r: int):
        super().__init__()
        self.w_1 = LoRALinear(d_model, 4 * d_model, r)
        self.w_2 = LoRALinear(2 * d_model, d_model, r)

    def forward(self, x):
        value, gate = self.w_1(x).chunk(2, dim=-1)
        return self.w_2(value * tanh_gelu(gate))


@functools.lru_cache(maxsize=8)
def relative_buckets(query_length: int, key_length: int, num_buckets: int, max_distance: int) -> torch.Tensor:
    """T5's bidirectional bucketing of key - query offsets: half the buckets per direction, of which
    half exact offsets and half log-spaced up to ``max_distance`` (clipped to the last bucket)."""
    offset = torch.arange(key_length)[None, :] - torch.arange(query_length)[:, None]
    half = num_buckets // 2
    buckets = (offset > 0).long() * half
    distance = offset.abs()
    exact = half // 2
    large = (
        exact + (torch.log(distance.float() / exact) / math.log(max_distance / exact) * (half - exact)).long()
    )
    large = torch.minimum(large, torch.full_like(large, half - 1))
    return buckets + torch.where(distance < exact, distance, large)


class Attention(nn.Module):
    def __init__(
        self,
        n_heads: int,
        d_model: int,
        r: int,
        with_bias: bool,
        num_buckets: int = 32,
        max_distance: int = 128,
    ):
        super().__init__()
        self.n_heads = n_heads
        self.w_qs = LoRALinear(d_model, d_model, r)
        self.w_ks = nn.Linear(d_model, d_model, bias=False)
        self.w_vs = LoRALinear(d_model, d_model, r)
        self.fc = LoRALinear(d_model, d_model, r)
        self.num_buckets, self.max_distance = num_buckets, max_distance
        if with_bias:
            self.relative_attention_bias = nn.Embedding(num_buckets, n_heads)

    def position_bias(self, length: int) -> torch.Tensor:
        """[heads, 1, T, T]."""
        table = self.relative_attention_bias.weight
        index = relative_buckets(length, length, self.num_buckets, self.max_distance).to(table.device)
        return F.embedding(index, table).permute(2, 0, 1)[:, None]

    def forward(self, x, bias):
        b, t, _ = x.shape
        heads = lambda y: y.reshape(b, t, self.n_heads, -1).permute(2, 0, 1, 3)  # noqa: E731
        q, k, v = heads(self.w_qs(x)), heads(self.w_ks(x)), heads(self.w_vs(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        scores = scores + bias.to(scores.dtype)
        out = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.fc(out.permute(1, 2, 0, 3).reshape(b, t, -1))


class Layer(nn.Module):
    def __init__(self, d_model: int, n_heads: int, r: int, with_bias: bool):
        super().__init__()
        self.norm_1 = RMSNorm(d_model)
        self.self_attn = Attention(n_heads, d_model, r, with_bias)
        self.norm_3 = RMSNorm(d_model)
        self.feed_forward = FeedForward(d_model, r)

    def forward(self, x, bias):
        x = x + self.self_attn(self.norm_1(x), bias)
        return x + self.feed_forward(self.norm_3(x))


class Stack(nn.Module):
    def __init__(self, d_model: int, n_heads: int, n_layers: int, r: int):
        super().__init__()
        self.layers = nn.ModuleList(Layer(d_model, n_heads, r, i == 0) for i in range(n_layers))
        self.norm = RMSNorm(d_model)

    def forward(self, x):
        bias = self.layers[0].self_attn.position_bias(x.shape[1])
        for layer in self.layers:
            x = layer(x, bias)
        return self.norm(x)


class CodebookEmbedding(nn.Module):
    def __init__(self, n_codebooks: int, latent_dim: int, emb_dim: int):
        super().__init__()
        self.special = nn.ParameterDict({"MASK": nn.Parameter(torch.zeros(n_codebooks, latent_dim))})
        self.out_proj = nn.Conv1d(n_codebooks * latent_dim, emb_dim, 1)

    def vectors(self, codes: torch.Tensor, codebooks) -> torch.Tensor:
        """codes [B, C, T] (MASK = vocab size) -> codebook vectors [B, C * latent, T]; ``codebooks[i]``
        is the codec's codebook i ([vocab, latent]). Codebooks past this model's MASK rows (the coarse
        model decoding 14 codebooks) have no MASK row, as in the official from_codes."""
        out = []
        for i in range(codes.shape[1]):
            table = codebooks[i]
            if i < self.special["MASK"].shape[0]:
                table = torch.cat([table, self.special["MASK"][i : i + 1]], dim=0)
            out.append(F.embedding(codes[:, i], table).transpose(1, 2))
        return torch.cat(out, dim=1)


class VampNetModel(nn.Module):
    """Built from a checkpoint's ``metadata["kwargs"]`` (checkpoint.build_transformer)."""

    def __init__(
        self,
        n_heads: int = 20,
        n_layers: int = 16,
        n_codebooks: int = 9,
        n_conditioning_codebooks: int = 0,
        latent_dim: int = 8,
        embedding_dim: int = 1280,
        vocab_size: int = 1024,
        lora_r: int = 8,
    ):
        super().__init__()
        self.n_codebooks = int(n_codebooks)
        self.n_conditioning_codebooks = int(n_conditioning_codebooks)
        self.n_predict_codebooks = self.n_codebooks - self.n_conditioning_codebooks
        self.vocab_size = int(vocab_size)
        self.mask_token = self.vocab_size
        self.latent_dim = int(latent_dim)
        self.embedding = CodebookEmbedding(n_codebooks, latent_dim, embedding_dim)
        self.transformer = Stack(embedding_dim, n_heads, n_layers, lora_r)
        self.classifier = nn.Module()
        self.classifier.layers = nn.ModuleList(
            [WNConv1d(embedding_dim, vocab_size * self.n_predict_codebooks, 1)]
        )

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """codebook vectors [B, C * latent, T] -> logits [B, vocab, T * n_predict] ((t, c) order)."""
        x = self.embedding.out_proj(latents).transpose(1, 2)
        x = self.transformer(x).transpose(1, 2)
        out = self.classifier.layers[0](x)
        b, _, t = out.shape
        return (
            out.reshape(b, self.vocab_size, self.n_predict_codebooks, t)
            .transpose(2, 3)
            .reshape(b, self.vocab_size, -1)
        )
