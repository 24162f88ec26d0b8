"""``make bench``, scoring part: what one output never seen before costs on one core, by part.

The descriptors (fast path) split into their stages (metrics/fast_descriptors.py: the shared
1024-point STFT with loudness and MFCC, the onset STFT, the tuning estimate, the multirate CQT, chroma
and tonnetz), the embedding by ``melstats`` and by ``melstats-fast`` (the same numbers to rounding),
adherence against a reference, and the item's writes (output .npy + record, descriptors .npz,
embedding .npy) as bench/core/item_cache.py makes them. Each figure is the best of ``repeats``
passes over the same distinct clips, in this process, so the ratios hold under load.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

EMBEDDERS = ("melstats", "melstats-fast")


def _best_ms(fn, clips, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for clip in clips:
            fn(clip)
        best = min(best, time.perf_counter() - start)
    return 1000 * best / len(clips)


def new_item_cost(n_clips: int = 8, repeats: int = 3) -> dict:
    import torch

    from bench.core.bands import CONDITIONAL_BANDS
    from bench.core.item_cache import DescriptorBackend, OutputStore
    from bench.core.registry import make_embedder
    from bench.core.storage import atomic_save_npy, atomic_save_npz
    from bench.metrics.adherence import adherence
    from tools.benchmark_clips import benchmark_clips
    from tools.scaleout_bench import _load, _one_core

    with _one_core(), torch.inference_mode(), tempfile.TemporaryDirectory(prefix="bench-scoring-") as tmp:
        clips = benchmark_clips(n_clips + 1).astype(np.float32)
        backend = DescriptorBackend("fast")
        fast = backend._extract
        backend([clips[0]])
        warm = list(clips[1:])
        backend(warm)  # the tuning values' filter banks, built once per new value (cached)
        tensors = [torch.as_tensor(c[None]) for c in warm]
        pad = torch.nn.functional.pad
        tunings = {id(t): fast.tuning(pad(t, (128, 0))) for t in tensors}

        def shared_stft(t):
            squares = fast.padded_squares(t)
            return fast.loudness(t, squares), fast.mfcc(t, squares)

        stages = {
            "stft 1024 + loudness + mfcc": shared_stft,
            "onset (its own centred STFT)": fast.onset,
            "tuning (2048-point STFT, piptrack)": lambda t: fast.tuning(pad(t, (128, 0))),
            "cqt (7 octaves, soxr halving)": lambda t: fast.cqt_magnitude(pad(t, (128, 0)), tunings[id(t)]),
        }
        out: dict = {"clips": n_clips, "cores": 1, "repeats": repeats, "load_average": _load()}
        parts = {name: _best_ms(fn, tensors, repeats) for name, fn in stages.items()}
        tonnetz = _best_ms(fast.tonnetz, tensors, repeats)
        parts["chroma + tonnetz"] = max(
            0.0,
            tonnetz - parts["tuning (2048-point STFT, piptrack)"] - parts["cqt (7 octaves, soxr halving)"],
        )
        out["descriptors_ms"] = _best_ms(lambda c: backend([c]), warm, repeats)
        out["descriptor_stages_ms"] = {k: round(v, 2) for k, v in parts.items()}
        described = backend(warm)
        reference = described[0]
        band = CONDITIONAL_BANDS[3]
        out["adherence_ms"] = _best_ms(lambda d: adherence(d, reference, band), described, repeats)
        out["embedding_ms"] = {}
        for name in EMBEDDERS:
            embedder = make_embedder(name)
            embedder.embed(clips[0])
            out["embedding_ms"][name] = _best_ms(embedder.embed, warm, repeats)
        store = OutputStore(Path(tmp), "bench")
        counter = iter(range(10**6))

        def writes(clip):
            key = f"item{next(counter)}"
            store.save_ok(key, clip, {"seed": 0})
            atomic_save_npz(Path(tmp) / "d" / f"{key}.npz", durable=False, **described[0].as_dict())
            atomic_save_npy(Path(tmp) / "e" / f"{key}.npy", np.zeros((6, 128), np.float32), durable=False)

        out["writes_ms"] = _best_ms(writes, warm, repeats)
    base = out["descriptors_ms"] + out["adherence_ms"] + out["writes_ms"]
    out["total_ms"] = {name: round(base + ms, 2) for name, ms in out["embedding_ms"].items()}
    out["embedding_ms"] = {k: round(v, 2) for k, v in out["embedding_ms"].items()}
    for key in ("descriptors_ms", "adherence_ms", "writes_ms"):
        out[key] = round(out[key], 2)
    out["target_ms"] = 12.0
    return out


def print_new_item_cost(r: dict, print_line=print) -> None:
    print_line(
        f"scoring an output never seen before (one core, best of {r['repeats']} passes over {r['clips']} "
        f"clips, load {r['load_average']}): "
        + ", ".join(f"with {k} {v:.1f} ms" for k, v in r["total_ms"].items())
        + f" per item (target {r['target_ms']:.0f} ms)"
    )
    print_line(
        f"  descriptors {r['descriptors_ms']:.1f} ms ("
        + ", ".join(f"{k} {v:.1f}" for k, v in r["descriptor_stages_ms"].items())
        + f"), adherence {r['adherence_ms']:.2f} ms, writes {r['writes_ms']:.2f} ms, embedding "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in r["embedding_ms"].items())
    )
