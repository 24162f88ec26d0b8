"""Where one item's generation time goes (``python -m bench profile SYSTEM``): the denoiser's calls,
the sampler's steps, the vocoder, copies and allocations (torch.profiler), and the denoiser's
FLOPs per call against this CPU's measured float32 matmul rate on one thread (the bound).

Items are the committed fixture clips (tests/fixtures/audio), one conditional item at a time, with the
system's own weights and the ``quick`` scale's sampler steps and vocoder unless told otherwise. This
is a measurement, never a test: every figure depends on the machine and its load.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

import numpy as np

COPY_OPS = ("aten::copy_", "aten::clone", "aten::_to_copy", "aten::contiguous", "aten::cat", "aten::stack")
ALLOC_OPS = ("aten::empty", "aten::empty_strided", "aten::empty_like", "aten::zeros", "aten::zeros_like")


def matmul_peak_gflops(n: int = 1024, repeats: int = 5) -> float:
    """GFLOP/s of a float32 ``torch.matmul`` of two n x n matrices on one thread (2 n^3 flops;
    the best of ``repeats``), the rate the denoiser's convolutions are measured against."""
    import torch

    with _threads(1):
        a, b = torch.randn(n, n), torch.randn(n, n)
        out = torch.empty(n, n)
        torch.matmul(a, b, out=out)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


@contextmanager
def _threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _denoiser_network(system):
    """The noise-conditioned U-Net of a diffusion system (LatentFT's decoder, the mel prior's
    network), or None."""
    from bench.models.unet1d import UNet1D

    loaded = getattr(system, "loaded", None)
    model = loaded[0] if isinstance(loaded, tuple) else loaded
    if model is None or not hasattr(model, "modules"):
        return None
    for module in model.modules():
        if isinstance(module, UNet1D) and module.embed is not None:
            return module
    return None


class _Timer:
    """Wall time and calls of one callable or module."""

    def __init__(self):
        self.seconds, self.calls, self.first_args = 0.0, 0, None

    def wrap(self, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        return timed

    def hook(self, module):
        def before(_, args):
            if self.first_args is None:
                self.first_args = tuple(a.detach().clone() for a in args)
            self._start = time.perf_counter()

        def after(*_):
            self.seconds += time.perf_counter() - self._start
            self.calls += 1

        return [module.register_forward_pre_hook(before), module.register_forward_hook(after)]


class _TimedVocoder:
    """The run's vocoder with its calls timed (every other attribute its own)."""

    def __init__(self, vocoder, timer: _Timer):
        self._vocoder, self._call = vocoder, timer.wrap(vocoder)

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._vocoder, name)


@contextmanager
def _timed_sampler(timer: _Timer):
    """Every diffusion system's Heun sampler (models/edm.py), as its modules imported it, timed."""
    import importlib

    patched = []
    for name in ("bench.models.latentft", "bench.models.mel_prior", "bench.models.hierarchical"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        original = getattr(module, "heun_sample", None)
        if original is not None:
            setattr(module, "heun_sample", timer.wrap(original))
            patched.append((module, original))
    try:
        yield
    finally:
        for module, original in patched:
            module.heun_sample = original


def denoiser_flops(network, args) -> int:
    """FLOPs of one call of ``network`` (torch.utils.flop_counter: convolutions and matrix
    products, 2 per multiply-add; normalisations and activations are not counted)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        network(*args)
    return int(counter.get_total_flops())


def _fixture_clips(n: int) -> tuple[np.ndarray, list[str]]:
    from bench.core.audio import load_audio, normalise_clip
    from bench.experiments.drift import FIXTURES

    files = sorted(FIXTURES.glob("*.flac"))
    if len(files) < 2:
        raise FileNotFoundError(f"the profile needs the fixture clips in {FIXTURES} (a source checkout)")
    files = (files * (1 + n // len(files)))[: max(n, 2)]
    return np.stack([normalise_clip(load_audio(f)[0]) for f in files]), [f.stem for f in files]


def profile_system(
    name: str, items: int = 1, steps: int | None = None, vocoder: str | None = None, device: str = "cpu"
) -> dict:
    """One system's generation, ``items`` conditional items one after the other (after one warm-up
    item), on one thread: seconds per item, per denoiser call, per sampler step, in the vocoder;
    then one more item under torch.profiler for copies and allocations."""
    from torch.profiler import ProfilerActivity, profile

    from bench.core.bands import CONDITIONAL_BANDS
    from bench.core.config import SCALES
    from bench.core.registry import get_system_class, make_vocoder
    from bench.core.system import ConditionalBatch, RunContext

    scale = SCALES["quick"]
    steps = steps or scale.sampling_steps
    clips, ids = _fixture_clips(items + 2)
    voc = _Timer()
    vocoder_fn = make_vocoder(vocoder or scale.vocoder)
    context = RunContext(clips, ids, _TimedVocoder(vocoder_fn, voc), device, {}, steps)
    system = get_system_class(name)(context)
    if "conditional" not in system.capabilities:
        raise ValueError(f"{name} has no conditional task to profile")

    def item(i: int):
        band = CONDITIONAL_BANDS[(3 + i) % len(CONDITIONAL_BANDS)]
        return system.conditional(ConditionalBatch(clips[i : i + 1], [band], [100 + i], [ids[i]]))

    with _threads(1):
        item(items + 1)  # warm-up: weights, filter banks, first-call allocations
        network = _denoiser_network(system)
        denoiser, sampler = _Timer(), _Timer()
        hooks = denoiser.hook(network) if network is not None else []
        voc.seconds, voc.calls = 0.0, 0
        try:
            with _timed_sampler(sampler):
                start = time.perf_counter()
                for i in range(items):
                    item(i)
                total = time.perf_counter() - start
            vocoder_seconds = voc.seconds
        finally:
            for h in hooks:
                h.remove()
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            item(0)
    ops = prof.key_averages()
    per_op = sorted(ops, key=lambda e: e.self_cpu_time_total, reverse=True)
    profiled_ms = sum(e.self_cpu_time_total for e in ops) / 1000

    def group(names):
        chosen = [e for e in ops if e.key in names]
        return {
            "calls": int(sum(e.count for e in chosen)),
            "self_ms": round(sum(e.self_cpu_time_total for e in chosen) / 1000, 3),
            "bytes": int(sum(max(e.self_cpu_memory_usage, 0) for e in chosen)),
        }

    record = {
        "system": name,
        "items": items,
        "device": device,
        "threads": 1,
        "sampling_steps": steps if network is not None else None,
        "vocoder": getattr(vocoder_fn, "id", vocoder or scale.vocoder),
        "ms_per_item": round(1000 * total / items, 2),
        "vocoder_ms_per_item": round(1000 * vocoder_seconds / items, 2),
        "profiled_item": {
            "ops_self_ms": round(profiled_ms, 2),
            "copies": group(COPY_OPS),
            "allocations": group(ALLOC_OPS),
            "allocated_bytes": int(sum(max(e.self_cpu_memory_usage, 0) for e in ops)),
            "top_ops_self_ms": {e.key: round(e.self_cpu_time_total / 1000, 2) for e in per_op[:8]},
        },
        "load_average": _load(),
    }
    if network is not None and denoiser.calls:
        flops = denoiser_flops(network, denoiser.first_args)
        per_call = denoiser.seconds / denoiser.calls
        peak = matmul_peak_gflops()
        achieved = flops / per_call / 1e9
        record.update(
            denoiser_calls_per_item=denoiser.calls / items,
            denoiser_ms_per_call=round(1000 * per_call, 3),
            denoiser_input_shape=list(denoiser.first_args[0].shape),
            sampler_ms_per_step=round(1000 * sampler.seconds / (items * steps), 3),
            sampler_ms_outside_denoiser_per_step=round(
                1000 * (sampler.seconds - denoiser.seconds) / (items * steps), 3
            ),
            denoiser_share_of_item=round(denoiser.seconds / total, 3),
            denoiser_mflops_per_call=round(flops / 1e6, 2),
            denoiser_gflops_per_s=round(achieved, 2),
            matmul_peak_gflops_per_s=round(peak, 2),
            fraction_of_matmul_peak=round(achieved / peak, 3),
        )
    return record


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min) on {os.cpu_count()} cores"


def describe(record: dict) -> str:
    """The profile as lines of text."""
    r, p = record, record["profiled_item"]
    lines = [
        f"{r['system']}: {r['ms_per_item']:.1f} ms per item ({r['items']} item(s), one thread, "
        f"{r['device']}; load {r['load_average']})",
        f"  vocoder ({r['vocoder']}): {r['vocoder_ms_per_item']:.1f} ms per item",
    ]
    if "denoiser_ms_per_call" in r:
        lines += [
            f"  sampler: {r['sampling_steps']} steps, {r['sampler_ms_per_step']:.2f} ms per step, of which "
            f"{r['sampler_ms_outside_denoiser_per_step']:.3f} ms outside the denoiser",
            f"  denoiser: {r['denoiser_calls_per_item']:.0f} calls per item on {r['denoiser_input_shape']}, "
            f"{r['denoiser_ms_per_call']:.2f} ms per call "
            f"({100 * r['denoiser_share_of_item']:.0f}% of the item)",
            f"  denoiser FLOPs: {r['denoiser_mflops_per_call']:.1f} MFLOP per call, "
            f"{r['denoiser_gflops_per_s']:.1f} GFLOP/s achieved against a float32 matmul peak of "
            f"{r['matmul_peak_gflops_per_s']:.1f} GFLOP/s on one thread: "
            f"{100 * r['fraction_of_matmul_peak']:.1f}% of the bound",
        ]
    c, a = p["copies"], p["allocations"]
    lines += [
        f"  one item under torch.profiler: {p['ops_self_ms']:.1f} ms in ops; copies {c['calls']} calls "
        f"{c['self_ms']:.1f} ms; allocations {a['calls']} calls {a['self_ms']:.1f} ms; "
        f"{p['allocated_bytes'] / 2**20:.1f} MiB allocated",
        "  top ops (self ms): " + ", ".join(f"{k} {v:.1f}" for k, v in p["top_ops_self_ms"].items()),
    ]
    return "\n".join(lines)
