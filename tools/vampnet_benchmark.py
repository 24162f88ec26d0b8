"""VampNet's cost per clip at full size with random weights (labelled ``random_init``: the speed and
memory of the architecture, not of a trained model; nothing is downloaded).

The transformers use the published checkpoints' kwargs (vampnet_state_dict_manifest.json: coarse 20
layers, c2f 16 layers, 1280 wide, 20 heads). The codec's kwargs are not in any fixture: the run assumes
the lac base configuration's widths (encoder 64, decoder 1536) with VampNet's 14 codebooks of 1024 at a
hop of 768 (57.4 frames/s at 44.1 kHz), and says so in its result.

A developer tool (tools/, outside the runtime package): ``vampnet_benchmark(seconds=..., device=...)``
-> dict, called by ``make bench ARGS="--parts vampnet"`` (tools/benchmarks.py);
``python -m tools.vampnet_benchmark [--seconds S] [--device D]`` prints it as JSON.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import torch

CODEC_KWARGS = dict(
    encoder_dim=64,
    encoder_rates=[2, 4, 8, 12],
    decoder_dim=1536,
    decoder_rates=[12, 8, 4, 2],
    n_codebooks=14,
    codebook_size=1024,
    codebook_dim=8,
    sample_rate=44100,
)
MODEL_KWARGS = dict(n_heads=20, embedding_dim=1280, vocab_size=1024, latent_dim=8)
COARSE_KWARGS = dict(MODEL_KWARGS, n_layers=20, n_codebooks=4, n_conditioning_codebooks=0)
C2F_KWARGS = dict(MODEL_KWARGS, n_layers=16, n_codebooks=14, n_conditioning_codebooks=4)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def random_pipeline(device: str = "cpu", seed: int = 0):
    from bench.adapters.vampnet.codec import LAC
    from bench.adapters.vampnet.pipeline import VampNet
    from bench.adapters.vampnet.transformer import VampNetModel

    torch.manual_seed(seed)
    models = [LAC(**CODEC_KWARGS), VampNetModel(**COARSE_KWARGS), VampNetModel(**C2F_KWARGS)]
    return VampNet(*(m.eval().to(device) for m in models), device=device)


def vampnet_benchmark(
    seconds: float = 131072 / 22050, device: str = "cpu", keep=((0, 2),), repeats: int = 1, bf16: bool = True
) -> dict:
    """Seconds per clip (encode + 12 coarse + 2 coarse-to-fine steps + decode) of a ``seconds`` long
    clip at 22050 Hz, best of ``repeats``, and peak memory (CPU: the process's peak RSS, weights
    included; CUDA: peak allocated)."""
    from bench.adapters.vampnet.pipeline import keep_mask
    from bench.adapters.vampnet.sampling import Schedule

    began = time.perf_counter()
    pipe = random_pipeline(device)
    build_s = time.perf_counter() - began
    clip = torch.randn(1, int(seconds * 22050), generator=torch.Generator().manual_seed(0)) * 0.1
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    autocast = bf16 and device.startswith("cuda")
    best, stages = float("inf"), {}

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(repeats):
        marks = [time.perf_counter()]
        codes = pipe.encode(clip)
        sync()
        marks.append(time.perf_counter())
        mask = keep_mask(codes, list(keep))
        tokens = pipe.vamp(codes, mask, Schedule(), torch.Generator(device).manual_seed(0), autocast)
        sync()
        marks.append(time.perf_counter())
        audio = pipe.decode(tokens, clip.shape[-1])
        sync()
        marks.append(time.perf_counter())
        if marks[-1] - marks[0] < best:
            best = marks[-1] - marks[0]
            names = ("encode", "vamp", "decode")
            stages = {name: round(b - a, 3) for name, a, b in zip(names, marks, marks[1:])}
    assert audio.shape[-1] == clip.shape[-1]
    memory = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else _peak_rss_mib()
    return {
        "label": "random_init",
        "device": device,
        "threads": torch.get_num_threads(),
        "clip_s": round(seconds, 3),
        "frames": int(codes.shape[-1]),
        "seconds_per_clip": round(best, 3),
        "stages_s": stages,
        "build_s": round(build_s, 2),
        "peak_memory_mib": round(memory, 1),
        "memory_kind": "peak allocated" if device.startswith("cuda") else "process peak RSS",
        "bf16_autocast": autocast,
        "parameters": {
            n: int(sum(p.numel() for p in m.parameters()))
            for n, m in (("codec", pipe.codec), ("coarse", pipe.coarse), ("c2f", pipe.c2f))
        },
        "codec_kwargs": "assumed: " + json.dumps(CODEC_KWARGS),
    }


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=131072 / 22050)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(vampnet_benchmark(args.seconds, args.device, repeats=args.repeats), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
