"""Which operations make item bits depend on the CPU's instruction set (issue 31).

Runs the same few items through every stage (input mel, vocoder, resampler, melstats embedding,
fast descriptors, adherence, and each runnable default system's ``conditional`` and ``blend`` with
the scores of its output) in one subprocess per instruction-set setting, the math libraries limited
by environment variables (``SETTINGS``: how another CPU is emulated on this one), and compares the
arrays with those of the host's default. Inside torch every ATen op is traced (its name, a hash of
its inputs and of its outputs): an op whose inputs are bitwise the same in two settings but whose
output is not is one that depends on the instruction set, and the report names it with its shapes.

    /work/wt/py tools/isa_probe.py                      # every setting, as the libraries come
    /work/wt/py tools/isa_probe.py --pinned             # the same, with bench/core/determinism.py's pins
    /work/wt/py tools/isa_probe.py --systems spectrogram --settings default,sse

Small on purpose: fixture clips, smoke sampler steps, griffin-lim:16, one torch thread.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# How to make this CPU behave like one with fewer instruction sets, library by library.
SETTINGS: dict[str, dict[str, str]] = {
    "default": {},
    "sse": {
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "ATEN_CPU_CAPABILITY": "default",
    },
    "avx2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
    "mkl-sse": {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    "onednn-sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
    "numpy-no-avx2": {"NPY_DISABLE_CPU_FEATURES": "AVX2 FMA3 AVX512F AVX512CD AVX512_SKX"},
    "openblas-sandybridge": {"OPENBLAS_CORETYPE": "Sandybridge"},
}
UNINITIALISED = {"empty", "empty_like", "empty_strided", "new_empty"}  # their bits are whatever was in memory
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _digest(array) -> str:
    import numpy as np

    a = np.ascontiguousarray(array)
    return hashlib.blake2b(a.tobytes() + str((a.dtype, a.shape)).encode(), digest_size=8).hexdigest()


def _tensor_digests(values) -> list[str]:
    import torch

    out = []
    for value in values if isinstance(values, (list, tuple)) else [values]:
        if isinstance(value, torch.Tensor):
            t = value.detach()
            if t.is_complex():
                t = torch.view_as_real(t.resolve_conj())
            out.append(_digest(t.contiguous().cpu().numpy()) + str(tuple(value.shape)))
        elif isinstance(value, (list, tuple)):
            out.extend(_tensor_digests(value))
    return out


def _op_tracer():
    """A TorchDispatchMode recording (op, input digests, output digests) for every ATen call."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Tracer(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.trace: list[tuple[str, str, str, str]] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            result = func(*args, **kwargs)
            inputs = _tensor_digests(list(args) + list(kwargs.values()))
            outputs = _tensor_digests(result)
            shapes = ",".join(d.split("(", 1)[-1].rstrip(")") for d in _tensor_digests(list(args))[:3])
            if outputs and func.__name__.split(".")[0] not in UNINITIALISED:
                self.trace.append((str(func), "|".join(inputs), "|".join(outputs), shapes))
            return result

    return Tracer()


def child(out: str, systems: list[str], trace: bool = True) -> None:
    """Every stage on the fixture clips; arrays to ``out`` (npz), op traces to ``out``.json."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from bench.core.audio import load_audio, normalise_clip
    from bench.core.bands import BLEND_PAIRS, CONDITIONAL_BANDS
    from bench.core.mel import normalised_mel
    from bench.core.registry import get_system_class, make_embedder, make_vocoder, system_status
    from bench.core.system import BlendBatch, ConditionalBatch, RunContext
    from bench.metrics.adherence import adherence
    from bench.metrics.fast_descriptors import FastDescriptorExtractor
    from bench.metrics.resampling import resample

    clips = np.stack(
        [normalise_clip(load_audio(p)[0]) for p in sorted((ROOT / "tests/fixtures/audio").glob("*.flac"))[:3]]
    )
    arrays: dict[str, np.ndarray] = {}
    traces: dict[str, list] = {}
    seconds: dict[str, float] = {}
    vocoder = make_vocoder("griffin-lim:16")
    embedder = make_embedder("melstats")
    describe = FastDescriptorExtractor(workers=1)
    band, (band1, band2) = CONDITIONAL_BANDS[3], BLEND_PAIRS[2]

    def stage(name, make):
        tracer = _op_tracer() if trace else contextlib.nullcontext()
        start = time.perf_counter()
        with tracer:
            value = make()
        seconds[name] = time.perf_counter() - start
        traces[name] = tracer.trace if trace else []
        return value

    def keep(name, value):
        if isinstance(value, dict):
            for key, v in value.items():
                arrays[f"{name}.{key}"] = np.asarray(v)
        else:
            arrays[name] = np.asarray(value)

    def score(prefix, audio, refs_and_bands):
        desc = stage(f"{prefix}.descriptors", lambda: describe([audio])[0])
        keep(f"{prefix}.descriptors", desc.as_dict())
        for i, (ref, b) in enumerate(refs_and_bands):
            keep(f"{prefix}.adherence{i + 1}", stage(f"{prefix}.adherence", lambda: adherence(desc, ref, b)))
        keep(f"{prefix}.embedding", stage(f"{prefix}.embedding", lambda: embedder.embed(audio)))

    mel = stage("mel", lambda: normalised_mel(clips[:1]))
    keep("mel", mel)
    keep("vocoder", stage("vocoder", lambda: vocoder(mel, [7])))
    keep("resample", stage("resample", lambda: resample(clips[0], 22050, 16000)))
    keep("embedding", stage("embedding", lambda: embedder.embed(clips[0])))
    refs = stage("descriptors", lambda: describe(list(clips)))
    for i, d in enumerate(refs):
        keep(f"descriptors{i}", d.as_dict())
    keep("adherence", stage("adherence", lambda: adherence(refs[1], refs[0], band)))

    for name in systems:
        if not system_status(name, {}).availability.ok:
            print(f"skip {name}: not runnable here", file=sys.stderr)
            continue
        system = get_system_class(name)(RunContext(clips, ["a", "b", "c"], vocoder, "cpu", {}, 8))
        if "conditional" in system.capabilities:
            batch = ConditionalBatch(clips[:1], [band], [11], ["a"])
            audio = stage(f"{name}.conditional", lambda: system.conditional(batch))[0]
            keep(f"{name}.conditional", audio)
            score(f"{name}.conditional", audio, [(refs[0], band)])
        if "blend" in system.capabilities:
            batch = BlendBatch(clips[:1], clips[1:2], [band1], [band2], [12], ["a"], ["b"])
            audio = stage(f"{name}.blend", lambda: system.blend(batch))[0]
            keep(f"{name}.blend", audio)
            score(f"{name}.blend", audio, [(refs[0], band1), (refs[1], band2)])

    np.savez(out, **arrays)
    Path(out + ".json").write_text(json.dumps({"traces": traces, "seconds": seconds}))


def run_setting(
    env_over: dict, systems: list[str], folder: str, label: str, pinned: bool, trace: bool = True
) -> str:
    """One child process under ``env_over`` (and the pins, if ``pinned``); the path of its arrays."""
    from bench.core.determinism import PINS, SWITCH, pinned_environment

    out = str(Path(folder) / f"{label}.npz")
    env = {k: v for k, v in os.environ.items() if k not in PINS}
    env.update({**THREADS, **env_over, SWITCH: "on" if pinned else "off"})
    if pinned:  # the pins the harness sets for its own processes, over the emulated CPU
        env = pinned_environment(env)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", out, "--systems", ",".join(systems)]
    subprocess.run(cmd + ([] if trace else ["--no-trace"]), env=env, check=True, cwd=ROOT)
    return out


def _root_ops(base: list, other: list) -> dict[str, int]:
    """Ops with identical inputs but different outputs in two traces (matched by position)."""
    found: dict[str, int] = {}
    for (op_a, in_a, out_a, shapes), (op_b, in_b, out_b, _) in zip(base, other):
        if op_a != op_b:
            found["(traces diverge: control flow)"] = found.get("(traces diverge: control flow)", 0) + 1
            break
        if in_a == in_b and out_a != out_b:
            key = f"{op_a} [{shapes}]"
            found[key] = found.get(key, 0) + 1
    return found


def compare(base_path: str, other_path: str) -> list[dict]:
    import numpy as np

    base, other = np.load(base_path), np.load(other_path)
    base_t = json.loads(Path(base_path + ".json").read_text())["traces"]
    other_t = json.loads(Path(other_path + ".json").read_text())["traces"]
    rows = []
    for key in base.files:
        a, b = base[key], other[key]
        same = a.shape == b.shape and a.tobytes() == b.tobytes()
        diff = 0.0 if same or a.shape != b.shape else float(np.nanmax(np.abs(a.astype(float) - b)))
        stage = (
            key.split(".")[0]
            if key.split(".")[0] not in {"descriptors0", "descriptors1", "descriptors2"}
            else key
        )
        rows.append({"array": key, "identical": same, "max_abs_diff": diff, "stage": stage})
    ops = {name: _root_ops(base_t[name], other_t.get(name, [])) for name in base_t}
    return rows, {k: v for k, v in ops.items() if v}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--systems",
        default="reference,shuffled,spectrogram,cross-synthesis,latentft-mlp,latentft-unet,ilvr,ilvr-paper,guidance",
    )
    parser.add_argument("--settings", default="default,sse,mkl-sse,onednn-sse41,aten-default")
    parser.add_argument("--pinned", action="store_true", help="apply bench/core/determinism.py's pins")
    parser.add_argument("--no-trace", action="store_true", help="compare arrays only (faster)")
    parser.add_argument("--keep", help="folder for the arrays (default: a temporary one)")
    parser.add_argument("--json", help="write the comparison here")
    args = parser.parse_args(argv)
    systems = [s for s in args.systems.split(",") if s]
    if args.child:
        child(args.child, systems, trace=not args.no_trace)
        return 0
    folder = args.keep or tempfile.mkdtemp(prefix="isa_probe_")
    Path(folder).mkdir(parents=True, exist_ok=True)
    labels = [s for s in args.settings.split(",") if s]
    paths = {}
    for label in labels:
        start = time.perf_counter()
        paths[label] = run_setting(SETTINGS[label], systems, folder, label, args.pinned)
        print(f"# {label}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    report = {}
    base = labels[0]
    for label in labels[1:]:
        rows, ops = compare(paths[base], paths[label])
        differing = [r for r in rows if not r["identical"]]
        report[label] = {"env": SETTINGS[label], "differing": differing, "root_ops": ops}
        print(
            f"\n== {label} vs {base} ({'pinned' if args.pinned else 'as shipped'}): "
            f"{len(differing)} of {len(rows)} arrays differ"
        )
        for r in differing:
            print(f"  {r['array']:45s} max |diff| {r['max_abs_diff']:.3g}")
        for stage, found in ops.items():
            for op, count in found.items():
                print(f"  op  {stage:28s} {op}  x{count}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
