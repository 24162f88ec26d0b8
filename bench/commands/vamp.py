"""``python -m bench vamp IN.wav --codec C --coarse K --c2f F --keep-codebooks 0:2 --seed 0 --out OUT.wav``:
vamp one file with VampNet (bench/adapters/vampnet/, docs/vampnet.md): encode it, keep the codebooks
named (``LO:HI`` ranges, comma-separated), regenerate the rest, decode, write the result at the
input's sample rate and length (mono, float WAV)."""

from __future__ import annotations

import sys
from pathlib import Path


def parse_ranges(text: str) -> list[tuple[int, int]]:
    """``0:2`` or ``0:1,3:4`` -> [(0, 2)] / [(0, 1), (3, 4)] (half-open codebook ranges)."""
    ranges = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, sep, hi = part.partition(":")
        try:
            lo, hi = int(lo), int(hi) if sep else int(lo) + 1
        except ValueError:
            raise ValueError(f"--keep-codebooks: {part!r} is not LO:HI (whole numbers)") from None
        if not 0 <= lo < hi:
            raise ValueError(f"--keep-codebooks: {part!r} needs 0 <= LO < HI")
        ranges.append((lo, hi))
    return ranges


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("vamp", help="vamp one audio file with VampNet (your codec/coarse/c2f weights)")
    p.add_argument("input", help="audio file to vamp")
    p.add_argument("--codec", required=True, help="VampNet codec.pth")
    p.add_argument("--coarse", required=True, help="VampNet coarse.pth")
    p.add_argument("--c2f", required=True, help="VampNet c2f.pth (coarse-to-fine)")
    p.add_argument(
        "--keep-codebooks", default="0:2", help="codebook ranges kept, LO:HI[,LO:HI] (default 0:2)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output WAV file")
    p.add_argument("--coarse-steps", type=int, default=12)
    p.add_argument("--c2f-steps", type=int, default=2)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument(
        "--reference-batch",
        type=int,
        default=None,
        help="use the official schedule of a batch of N (masked count summed over the batch)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-bf16", action="store_true", help="no bfloat16 autocast on CUDA")
    p.set_defaults(func=run)


def run(args) -> int:
    import soundfile
    import torch

    from bench.adapters.vampnet.checkpoint import CheckpointError
    from bench.adapters.vampnet.pipeline import VampNet, keep_mask
    from bench.adapters.vampnet.sampling import Schedule
    from bench.core.audio import AudioError, load_audio

    try:
        keep = parse_ranges(args.keep_codebooks)
        audio, rate = load_audio(args.input)
        pipe = VampNet.load(args.codec, args.coarse, args.c2f, args.device)
        if any(hi > pipe.n_codebooks for _, hi in keep):
            raise ValueError(
                f"--keep-codebooks {args.keep_codebooks}: the codec has {pipe.n_codebooks} codebooks"
            )
        schedule = Schedule(
            args.coarse_steps, args.c2f_steps, args.temperature, reference_batch=args.reference_batch
        )
    except (ValueError, AudioError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    codes = pipe.encode(torch.as_tensor(audio, dtype=torch.float32)[None], rate)
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    autocast = args.device.startswith("cuda") and not args.no_bf16
    tokens = pipe.vamp(codes, keep_mask(codes, keep), schedule, generator, autocast)
    out = pipe.decode(tokens, audio.shape[-1], rate)[0].float().cpu().numpy()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(args.out, out, rate, subtype="FLOAT")
    print(
        f"{args.out}: {out.shape[-1] / rate:.2f} s at {rate} Hz, kept codebooks {args.keep_codebooks} "
        f"of {pipe.n_codebooks}, seed {args.seed}"
    )
    return 0
