"""``make bench``: speed of the descriptor paths, measured in one process on the same clips.

Prints clips/s of the librosa reference path and of the fast batched path, their ratio, and
the largest deviation between the two per descriptor and per adherence score.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench.core.paths import REPO_ROOT
from tools.benchmark_clips import benchmark_clips
from tools.distribution_bench import distribution_interval_benchmark


def descriptor_benchmark(n_clips: int = 32, device: str = "cpu", repeats: int = 3) -> dict:
    """Both paths timed on the same clips in this process; each time is the best of ``repeats``
    passes (the same number for both), which discounts what else the machine is doing."""
    from bench.core.bands import CONDITIONAL_BANDS
    from bench.metrics.adherence import adherence
    from bench.metrics.descriptors import compute_descriptors
    from bench.metrics.fast_descriptors import FastDescriptorExtractor

    clips = benchmark_clips(n_clips)
    compute_descriptors(clips[0])  # warm-up: numba compilation
    fast = FastDescriptorExtractor(device=device)
    fast(clips[: fast.chunk])

    reference_s = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        reference = [compute_descriptors(c) for c in clips]
        reference_s = min(reference_s, time.perf_counter() - start)
    start = time.perf_counter()
    fast(clips)  # first pass: also builds the CQT filter bank of each new tuning value (cached)
    cold_s = time.perf_counter() - start
    fast_s = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        quick = fast(clips)
        if device != "cpu":
            import torch

            torch.cuda.synchronize()
        fast_s = min(fast_s, time.perf_counter() - start)

    deviation = {}
    for name in ("loudness", "onset", "mfcc", "tonnetz"):
        deviation[name] = max(
            float(np.abs(getattr(a, name) - getattr(b, name)).max()) for a, b in zip(reference, quick)
        )
    score_deviation: dict[str, float] = {}
    for i in range(len(clips) - 1):
        for band in CONDITIONAL_BANDS:
            ref_scores = adherence(reference[i], reference[i + 1], band)
            fast_scores = adherence(quick[i], quick[i + 1], band)
            for key, value in ref_scores.items():
                score_deviation[key] = max(score_deviation.get(key, 0.0), abs(value - fast_scores[key]))
    return {
        "clips": n_clips,
        "device": device,
        "repeats": repeats,
        "reference_s": reference_s,
        "fast_s": fast_s,
        "fast_cold_s": cold_s,
        "cold_ratio": reference_s / cold_s,
        "reference_clips_per_s": n_clips / reference_s,
        "fast_clips_per_s": n_clips / fast_s,
        "ratio": reference_s / fast_s,
        "descriptor_deviation": deviation,
        "fast_layout": (
            f"{fast.workers} passes side by side, one torch thread each, {fast.chunk} clip(s) per pass"
            if device == "cpu"
            else f"passes of {max(fast.chunk, 64)} clips"
        ),
        "score_deviation": score_deviation,
    }


def embedder_benchmark(names, n_clips: int = 2, device: str = "cpu") -> list[dict]:
    """Seconds per clip of each named embedder that can run here (timed after one warm-up clip),
    or the reason it cannot."""
    from bench.adapters.embedders import EmbedderUnavailable
    from bench.core.audio import SAMPLE_RATE
    from bench.core.registry import make_embedder

    clips = benchmark_clips(n_clips + 1)
    clip_seconds = clips.shape[-1] / SAMPLE_RATE
    out = []
    for name in names:
        try:
            embedder = make_embedder(name, device)
        except EmbedderUnavailable as error:
            out.append({"embedder": name, "available": False, "reason": str(error)})
            continue
        per_clip = _seconds_per_clip(embedder, clips)
        out.append(
            {
                "embedder": name,
                "id": embedder.id,
                "available": True,
                "device": device,
                "clips": n_clips,
                "clip_seconds": clip_seconds,
                "seconds_per_clip": per_clip,
                "times_real_time": clip_seconds / per_clip,
            }
        )
    return out


def _seconds_per_clip(embedder, clips) -> float:
    """Mean seconds per embedding of clips[1:], after one warm-up call on clips[0]."""
    embedder.embed(clips[0])
    start = time.perf_counter()
    for clip in clips[1:]:
        embedder.embed(clip)
    return (time.perf_counter() - start) / (len(clips) - 1)


def random_init_embedder_benchmark(n_clips: int = 2, device: str = "cpu") -> list[dict]:
    """vggish and clap timed on randomly initialised instances of their real architectures
    (torchvggish's VGG; transformers' ClapModel with its default, HTSAT-tiny, configuration): their
    cost does not depend on the weights, which are not here. Each through our own wrapper's
    front end (bench/adapters/embedders.py), after one warm-up clip."""
    import torch

    from bench.adapters.embedders import ClapEmbedder, VGGishEmbedder
    from bench.core.audio import SAMPLE_RATE

    clips = benchmark_clips(n_clips + 1)
    clip_seconds = clips.shape[-1] / SAMPLE_RATE
    out = []
    for name in ("vggish", "clap"):
        torch.manual_seed(0)
        try:
            if name == "vggish":
                from torchvggish import torchvggish

                embedder = VGGishEmbedder("unused", device)
                vgg = torchvggish.VGG(torchvggish.make_layers(), postprocess=False)
                embedder._model = vgg.eval().to(device)
                parameters = sum(p.numel() for p in embedder._model.parameters())
            else:
                import transformers

                embedder = ClapEmbedder(None, device)
                model = transformers.ClapModel(transformers.ClapConfig()).eval().to(device)
                # laion/clap-htsat-unfused's preprocessing: one 10 s window, no fusion of 4 crops
                embedder._model = (model, transformers.ClapFeatureExtractor(truncation="rand_trunc"))
                parameters = sum(p.numel() for p in model.audio_model.parameters())
        except Exception as error:
            out.append(
                {
                    "embedder": name,
                    "random_init": True,
                    "available": False,
                    "reason": f"{type(error).__name__}: {error}",
                }
            )
            continue
        per_clip = _seconds_per_clip(embedder, clips)
        out.append(
            {
                "embedder": name,
                "random_init": True,
                "available": True,
                "device": device,
                "parameters": parameters,
                "clips": n_clips,
                "seconds_per_clip": per_clip,
                "times_real_time": clip_seconds / per_clip,
            }
        )
    return out


def sampling_benchmark(steps: int = 100, batch: int = 8, device: str = "cpu") -> dict:
    """LatentFT sampling throughput with the tiny architecture (speed does not depend on weights):
    Heun with ``steps`` steps and classifier-free guidance (two denoiser calls per evaluation)."""
    import torch

    from bench.models.edm import SamplerConfig
    from bench.models.latentft import LatentFT
    from bench.models.trainable import TRAINABLE

    config = TRAINABLE["latentft-mlp"][0]()["tiny"].model
    torch.manual_seed(0)
    model = LatentFT(config).eval().to(device)
    condition = torch.randn(batch, model.latent_channels, 512, device=device)
    null = torch.zeros_like(condition)
    model.generate([condition, null], [2.0, -1.0], list(range(batch)), SamplerConfig(steps=2), 512)
    start = time.perf_counter()
    model.generate([condition, null], [2.0, -1.0], list(range(batch)), SamplerConfig(steps=steps), 512)
    if device != "cpu":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {
        "steps": steps,
        "batch": batch,
        "device": device,
        "seconds": seconds,
        "clips_per_s": batch / seconds,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


PARTS = (
    "descriptors",
    "sampling",
    "embedders",
    "random-init",
    "distribution-intervals",
    "executors",
    "harness",
    "ray",
    "slurm",
    "scoring",
    "generation",
    "isa-pins",
)
# opt-in: minutes per clip on a CPU; `make bench ARGS="--parts vampnet"` adds it to results/bench.json
OPT_IN_PARTS = ("vampnet",)


def main(
    n_clips: int = 32,
    out: str | None = None,
    sampling_steps: int = 100,
    embedders=None,
    parts=None,
    isa_pins: bool = True,
    costly_parts: bool = True,
) -> int:
    """Run the benchmarks, print them and write them with their provenance to ``out``
    (default results/bench.json); ``costly_parts=False`` leaves out the interval, scoring and
    generation parts. ``parts`` (a subset of PARTS) runs only those and updates their
    entries in an existing ``out``, keeping the others with the provenance they were measured with
    (``partial_updates`` lists what was replaced when)."""
    import torch

    from bench.core.provenance import environment, resource_use
    from bench.core.registry import EMBEDDERS
    from bench.core.storage import atomic_write_json, read_json
    from bench.metrics.fast_descriptors import FAST_DESCRIPTOR_VERSION

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    names = tuple(EMBEDDERS.names()) if embedders is None else tuple(embedders)
    path = Path(out) if out else REPO_ROOT / "results" / "bench.json"
    if parts is not None:
        unknown = set(parts) - set(PARTS) - set(OPT_IN_PARTS)
        if unknown:
            raise ValueError(
                f"unknown benchmark part(s) {sorted(unknown)}: choose from {', '.join(PARTS + OPT_IN_PARTS)}"
            )
        return _update_parts(
            path, tuple(parts), devices, environment, resource_use, atomic_write_json, read_json
        )
    record = {"schema": "latentft-bench/bench/v1", "descriptors": [], "sampling": [], "embedders": []}
    for device in devices:
        r = descriptor_benchmark(n_clips, device)
        record["descriptors"].append(r)
        print(
            f"descriptors on {r['clips']} clips ({device}; best of {r['repeats']} passes each; fast path: "
            f"{r['fast_layout']}):"
        )
        print(
            f"  librosa reference: {r['reference_s']:.2f} s  {r['reference_clips_per_s']:.1f} clips/s  "
            f"({1000 * r['reference_s'] / r['clips']:.1f} ms/clip)"
        )
        print(
            f"  fast path:         {r['fast_s']:.2f} s  {r['fast_clips_per_s']:.1f} clips/s  "
            f"({1000 * r['fast_s'] / r['clips']:.1f} ms/clip)"
        )
        print(
            f"  ratio: {r['ratio']:.1f}x  (first pass, building a filter bank per new tuning value: "
            f"{1000 * r['fast_cold_s'] / r['clips']:.1f} ms/clip, {r['cold_ratio']:.1f}x)"
        )
        print(
            "  largest deviation per descriptor: "
            + ", ".join(f"{k} {v:.2e}" for k, v in r["descriptor_deviation"].items())
        )
        print(
            "  largest deviation per score (14 bands x clip pairs): "
            + ", ".join(f"{k} {v:.2e}" for k, v in sorted(r["score_deviation"].items()))
        )
    for device in devices:
        r = sampling_benchmark(steps=sampling_steps, device=device)
        record["sampling"].append(r)
        print(
            f"LatentFT sampling ({device}, tiny architecture, {r['parameters']:,} parameters): "
            f"{r['steps']} Heun "
            f"steps with guidance, batch {r['batch']}: {r['seconds']:.1f} s, {r['clips_per_s']:.2f} clips/s "
            f"(mels only; the vocoder is extra)"
        )
    for device in devices if names else []:
        results = embedder_benchmark(names, device=device)
        record["embedders"] += results
        timed = [
            f"{r['embedder']} {r['seconds_per_clip']:.3g} s/clip ({r['times_real_time']:.3g}x real time)"
            for r in results
            if r["available"]
        ]
        missing = [r["embedder"] for r in results if not r["available"]]
        print(
            f"embedders ({device}, {results[0].get('clips', 2)} clips after one warm-up): "
            + ", ".join(timed)
            + (f"; not available here: {', '.join(missing)} (reasons in bench.json)" if missing else "")
        )
    record["embedders_random_init"] = _random_init(devices)
    from tools.scaleout_bench import scaleout_benchmarks

    record["scaleout"] = scaleout_benchmarks()
    if costly_parts:  # minutes each; tests/test_benchmarks.py leaves them to their own tests
        record["distribution_intervals"] = distribution_interval_benchmark()
        _cost_parts(record, ("scoring", "generation"))
    if isa_pins:  # subprocesses per system and setting: minutes (tools/isa_cost.py)
        record["isa_pins"] = _isa_pins()
    record.update(
        fast_descriptor_version=FAST_DESCRIPTOR_VERSION,
        cpu_threads=torch.get_num_threads(),
        cpu=_cpu_name(),
        environment=environment(),
        resources=resource_use(),
    )
    atomic_write_json(path, record)
    print(f"wrote {path}")
    return 0


def _random_init(devices) -> list[dict]:
    out = []
    for device in devices:
        results = random_init_embedder_benchmark(device=device)
        out += results
        timed = [
            f"{r['embedder']} {r['seconds_per_clip']:.3g} s/clip ({r['times_real_time']:.3g}x real "
            f"time, {r['parameters']:,} parameters)"
            if r["available"]
            else f"{r['embedder']}: {r['reason']}"
            for r in results
        ]
        print(
            f"embedders on randomly initialised instances of their real architectures ({device}; "
            "cost only, the figures mean nothing): " + ", ".join(timed)
        )
    return out


def _vampnet(devices, seconds: float | None = None) -> list[dict]:
    """VampNet's full-size architecture with random weights: seconds per clip (encode, 12 coarse and 2
    coarse-to-fine steps, decode) and peak memory (tools/vampnet_benchmark.py)."""
    from tools.vampnet_benchmark import vampnet_benchmark

    out = []
    for device in devices:
        r = vampnet_benchmark(device=device) if seconds is None else vampnet_benchmark(seconds, device)
        out.append(r)
        print(
            f"vampnet ({device}, random_init, {r['threads']} thread(s)): {r['seconds_per_clip']:.1f} s per "
            f"{r['clip_s']} s clip ({', '.join(f'{k} {v:.1f} s' for k, v in r['stages_s'].items())}), "
            f"{r['memory_kind']} {r['peak_memory_mib'] / 1024:.2f} GiB"
        )
    return out


def _isa_pins() -> list[dict]:
    """Seconds per item of each default system with and without bench/core/determinism.py's pins."""
    from tools.isa_cost import isa_pin_benchmark, report

    rows = isa_pin_benchmark()
    report(rows, 25, "griffin-lim:32")
    return rows


def _update_parts(path: Path, parts, devices, environment, resource_use, write_json, read_json) -> int:
    """Only ``parts`` (random-init, distribution-intervals and the scale-out parts), merged into the
    record at ``path``."""
    from tools.scaleout_bench import SCALEOUT_PARTS, scaleout_benchmarks

    supported = {
        "random-init",
        "distribution-intervals",
        "scoring",
        "generation",
        "isa-pins",
        *SCALEOUT_PARTS,
        *OPT_IN_PARTS,
    }
    if set(parts) - supported:
        raise ValueError(
            f"benchmark parts {sorted(set(parts) - supported)} run only in the full `make bench`"
        )
    record = read_json(path) if path.exists() else {"schema": "latentft-bench/bench/v1"}
    if "random-init" in parts:
        record["embedders_random_init"] = _random_init(devices)
    if "distribution-intervals" in parts:
        record["distribution_intervals"] = distribution_interval_benchmark()
    if "vampnet" in parts:
        record["vampnet_random_init"] = _vampnet(devices)
    _cost_parts(record, parts)
    if "isa-pins" in parts:
        record["isa_pins"] = _isa_pins()
    chosen = tuple(p for p in parts if p in SCALEOUT_PARTS)
    if chosen:
        record.setdefault("scaleout", {}).update(scaleout_benchmarks(parts=chosen))
    record.setdefault("partial_updates", []).append(
        {
            "parts": list(parts),
            "at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "environment": environment(),
            "resources": resource_use(),
        }
    )
    write_json(path, record)
    print(f"updated {', '.join(parts)} in {path}")
    return 0


def _cost_parts(record: dict, parts) -> None:
    """scoring (tools/scoring_bench.py) and generation (tools/generation_bench.py), when asked."""
    if "scoring" in parts:
        from tools.scoring_bench import new_item_cost, print_new_item_cost

        record["scoring"] = new_item_cost()
        print_new_item_cost(record["scoring"])
    if "generation" in parts:
        from tools.generation_bench import generation_profiles, print_generation_profiles

        record["generation"] = generation_profiles()
        print_generation_profiles(record["generation"])


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


if (
    __name__ == "__main__"
):  # make bench: python -m tools.benchmarks [--clips N] [--out FILE] [--embedders a,b]
    import argparse

    parser = argparse.ArgumentParser(description="speed benchmarks (ratios against a reference run)")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--out", help="where to write the figures as JSON (default results/bench.json)")
    parser.add_argument("--embedders", help="comma-separated embedders to time (default: all)")
    parser.add_argument(
        "--parts",
        help=f"comma-separated parts to run and update in --out, keeping the others: {', '.join(PARTS)}; "
        f"opt-in (never in the full run): {', '.join(OPT_IN_PARTS)}",
    )
    cli = parser.parse_args()
    raise SystemExit(
        main(
            cli.clips,
            cli.out,
            embedders=cli.embedders.split(",") if cli.embedders else None,
            parts=tuple(p for p in cli.parts.split(",") if p) if cli.parts else None,
        )
    )
