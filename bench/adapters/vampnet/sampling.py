"""VampNet's sampling, as the official code runs it (vampnet/modules/transformer.py ``generate``,
``sample_from_logits``, ``mask_by_random_topk``; vampnet/interface.py ``coarse_vamp``,
``coarse_to_fine``, ``vamp``).

One chunk (:func:`generate`), for ``steps`` steps with r = (i + 1) / steps:
1. logits of the masked sequence; probabilities softmax(logits / temperature); one token drawn per
   position (``torch.multinomial`` over all (item, position) rows at once);
2. positions already unmasked keep their token and get confidence +inf;
3. the number left masked is floor(cos(pi r / 2) * N) (N the masked count at the start), at least 1
   and at most the masked count minus one except at the last step (where it is 0);
4. confidence = log p(token) + mask_temperature (1 - r) * Gumbel noise (uniform(1e-20, 1) drawn
   after the tokens), and the positions of lowest confidence are masked again.

N: the official code counts MASK tokens over the whole batch, so its schedule depends on the batch size
(with the paper's batches of 128 the clamp leaves one token unmasked per step and the rest to the
last step). By default N is counted per item, so a result never depends on its batch; with
``reference_batch=n`` N is n times the item's count: the official schedule for a batch of n items
with the same mask (the paper's case: every item of a run shares its mask).

``typical_filtering``: the official ``sample_from_logits`` calls ``typical_filter`` and discards its
result (the function returns new logits and changes nothing in place), so the official default
``typical_filtering=True`` samples from the unfiltered distribution; so does this port. ``top_p`` is
None in every official call. The interface passes its temperature to the coarse model only: the
coarse-to-fine pass always samples at temperature 1.

Chunking: the coarse model runs on chunks of ceil(coarse_chunk_s * rate / hop) frames (10 s by
default, the last chunk shorter); in a chunk where anything is kept, its first and last frames are
kept too (every coarse codebook). The coarse-to-fine model runs on chunks of 3 s: the sequence is
zero-padded to whole chunks with the padding masked, its conditioning codebooks are never masked, and
the result is cut back. The coarse-to-fine mask is the caller's mask (without the edge rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

COARSE_STEPS, C2F_STEPS = 12, 2
MASK_TEMPERATURE = 10.5


@dataclass(frozen=True)
class Schedule:
    """The sampling settings of one vamp."""

    coarse_steps: int = COARSE_STEPS
    c2f_steps: int = C2F_STEPS
    temperature: float = 1.0
    mask_temperature: float = MASK_TEMPERATURE
    coarse_chunk_s: float = 10.0
    c2f_chunk_s: float = 3.0
    reference_batch: int | None = None


def gamma(r: torch.Tensor) -> torch.Tensor:
    """The masking schedule cos(pi r / 2), clamped to [1e-10, 1] (float32 like the official)."""
    return (r * math.pi / 2).cos().clamp(1e-10, 1.0)


def masked_counts(
    start_counts: torch.Tensor, steps: int, reference_batch: int | None = None
) -> list[list[int]]:
    """The number of tokens still masked after each step for items with ``start_counts`` masked
    tokens, following the schedule alone (no sampling): for the tests and docs/vampnet.md."""
    counts = start_counts.long().clone()
    total = counts * (reference_batch or 1)
    out = []
    for i in range(steps):
        r = torch.full(counts.shape, (i + 1) / steps)
        num = torch.floor(gamma(r) * total).long()
        if i != steps - 1:
            num = torch.maximum(torch.tensor(1), torch.minimum(counts - 1, num))
        counts = torch.minimum(num, counts) if i != steps - 1 else torch.zeros_like(counts)
        out.append(counts.tolist())
    return out


def _flatten(tokens: torch.Tensor) -> torch.Tensor:
    """[B, C, T] -> [B, T * C] in (time, codebook) order."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1)


def _unflatten(flat: torch.Tensor, n_codebooks: int) -> torch.Tensor:
    return flat.reshape(flat.shape[0], -1, n_codebooks).transpose(1, 2)


@torch.no_grad()
def generate(
    model,
    codebooks,
    z: torch.Tensor,
    mask: torch.Tensor,
    steps: int,
    generator: torch.Generator,
    temperature: float = 1.0,
    mask_temperature: float = MASK_TEMPERATURE,
    reference_batch: int | None = None,
    autocast: bool = False,
    trace: list | None = None,
) -> torch.Tensor:
    """Sample one chunk: z [B, C, T] tokens, mask [B, C, T] (1 = regenerate) -> tokens [B, C, T].
    ``trace`` (a list) receives each step's per-item masked counts."""
    mask_token, n_cond = model.mask_token, model.n_conditioning_codebooks
    batch = z.shape[0]
    z_masked = z.masked_fill(mask.bool(), mask_token)
    start = (z_masked == mask_token).sum(dim=(1, 2))
    total = start if reference_batch is None else start * reference_batch
    conditioning = z[:, :n_cond]
    sampled = None
    for i in range(steps):
        r = torch.full((batch,), (i + 1) / steps, device=z.device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            logits = model(model.embedding.vectors(z_masked, codebooks))
        logits = logits.float().permute(0, 2, 1)
        probs = (
            torch.softmax(logits / temperature, dim=-1) if temperature > 0 else torch.softmax(logits, dim=-1)
        )
        vocab = probs.shape[-1]
        tokens = torch.multinomial(probs.reshape(-1, vocab), 1, generator=generator).reshape(batch, -1)
        chosen = probs.take_along_dim(tokens[..., None], dim=-1).squeeze(-1)

        flat = _flatten(z_masked[:, n_cond:])
        masked = flat == mask_token
        sampled = torch.where(masked, tokens, flat)
        chosen = torch.where(masked, chosen, torch.inf)
        num = torch.floor(gamma(r) * total).unsqueeze(1).long()
        if i != steps - 1:
            num = torch.maximum(
                torch.tensor(1, device=z.device), torch.minimum(masked.sum(dim=-1, keepdim=True) - 1, num)
            )
        uniform = torch.zeros_like(chosen).uniform_(1e-20, 1, generator=generator)
        noise = -torch.log(-torch.log(uniform))
        confidence = torch.log(chosen) + (mask_temperature * (1 - r)).unsqueeze(-1) * noise
        cut = torch.take_along_dim(confidence.sort(dim=-1)[0], num, dim=-1)
        remask = confidence < cut
        if trace is not None:
            trace.append(remask.sum(-1).tolist())
        remasked = torch.where(remask, mask_token, sampled)
        z_masked = torch.cat([conditioning, _unflatten(remasked, model.n_predict_codebooks)], dim=1)
    return torch.cat([conditioning, _unflatten(sampled, model.n_predict_codebooks)], dim=1)


def frames(seconds: float, rate: int, hop: int) -> int:
    """The interface's s2t: ceil(seconds * rate / hop)."""
    return math.ceil(seconds * rate / hop)


@torch.no_grad()
def vamp(
    coarse,
    c2f,
    codebooks,
    codes: torch.Tensor,
    mask: torch.Tensor,
    rate: int,
    hop: int,
    schedule: Schedule,
    generator: torch.Generator,
    autocast: bool = False,
    trace: dict | None = None,
) -> torch.Tensor:
    """codes [B, n, T] and mask [B, n, T] (n = the codec's codebooks, 1 = regenerate) -> tokens [B, n, T]:
    the coarse chunks, then the coarse-to-fine chunks (interface.vamp with one feedback step)."""
    mask = mask.long()
    n_coarse = coarse.n_codebooks
    length = codes.shape[-1]
    common = dict(
        temperature=schedule.temperature,
        mask_temperature=schedule.mask_temperature,
        reference_batch=schedule.reference_batch,
        autocast=autocast,
    )
    chunk = frames(schedule.coarse_chunk_s, rate, hop)
    pieces = []
    for begin in range(0, length, chunk):
        part = codes[:, :n_coarse, begin : begin + chunk]
        part_mask = mask[:, :n_coarse, begin : begin + chunk]
        if bool((part_mask == 0).any()):
            part_mask = part_mask.clone()
            part_mask[:, :, 0] = 0
            part_mask[:, :, -1] = 0
        part = part * (1 - part_mask) + coarse.mask_token * part_mask
        steps_trace = [] if trace is not None else None
        pieces.append(
            generate(
                coarse,
                codebooks,
                part,
                part_mask,
                schedule.coarse_steps,
                generator,
                trace=steps_trace,
                **common,
            )
        )
        if trace is not None:
            trace.setdefault("coarse", []).append(steps_trace)
    tokens = torch.cat([torch.cat(pieces, dim=-1), codes[:, n_coarse:]], dim=1)
    if c2f is None:
        return tokens

    chunk = frames(schedule.c2f_chunk_s, rate, hop)
    pad = (-length) % chunk
    tokens = torch.nn.functional.pad(tokens, (0, pad))
    fine_mask = torch.nn.functional.pad(mask, (0, pad), value=1).clone()
    if c2f.n_codebooks > tokens.shape[1]:
        extra = c2f.n_codebooks - tokens.shape[1]
        tokens = torch.cat([tokens, tokens.new_zeros(tokens.shape[0], extra, tokens.shape[-1])], dim=1)
    fine_mask[:, : c2f.n_conditioning_codebooks] = 0
    common["temperature"] = 1.0
    pieces = []
    for begin in range(0, tokens.shape[-1], chunk):
        steps_trace = [] if trace is not None else None
        pieces.append(
            generate(
                c2f,
                codebooks,
                tokens[:, :, begin : begin + chunk],
                fine_mask[:, :, begin : begin + chunk],
                schedule.c2f_steps,
                generator,
                trace=steps_trace,
                **common,
            )
        )
        if trace is not None:
            trace.setdefault("c2f", []).append(steps_trace)
    return torch.cat(pieces, dim=-1)[:, :, :length]
