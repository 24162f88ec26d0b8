"""``make bench``, generation part: the profile of one LatentFT, one ILVR and the spectrogram item
(bench/experiments/generation_profile.py) on this code and on an earlier revision's, alternating
so that both see the same load; the ratios are what to read (the machine may be shared).

Each side runs in its own subprocess with the same profiler (this checkout's module, copied into the
earlier revision's tree), one thread, the same items, steps and vocoder.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench.core.paths import REPO_ROOT

BEFORE = "87cd983"  # the revision before issue 29's generation changes
SYSTEMS = ("latentft-mlp", "ilvr", "spectrogram")

# bench.systems, .models, .metrics and .datasets from ROOT's folders (the package-dir mapping of
# pyproject.toml), in front of any installed copy
_BOOT = """
import importlib.util, json, os, sys
root, names, items, steps = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4])
folders = {f"bench.{n}": os.path.join(root, n) for n in ("systems", "models", "metrics", "datasets")}
class Finder:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        folder = folders.get(name)
        if folder is None:
            return None
        init = os.path.join(folder, "__init__.py")
        return importlib.util.spec_from_file_location(name, init, submodule_search_locations=[folder])
sys.meta_path.insert(0, Finder)
sys.path.insert(0, root)
from bench.experiments.generation_profile import profile_system
print(json.dumps([profile_system(n, items, steps) for n in names]))
"""


def _profile_tree(root: Path, systems, items: int, steps: int) -> list[dict]:
    env = {**os.environ, **{k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, "-c", _BOOT, str(root), ",".join(systems), str(items), str(steps)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"profile in {root}: {done.stderr.strip().splitlines()[-3:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def griffin_lim_before(normalised_mels, seeds, length, n_iter, momentum=0.99):
    """bench/adapters/vocoders.py's GriffinLim as it was at 87cd983 (torch.istft at every iteration,
    the mel basis' pseudo-inverse at every call): the reference of the vocoder's A/B below and of
    tests/test_vocoders.py (the same bits)."""
    import numpy as np
    import torch

    from bench.core.mel import HOP, N_FFT, PAD, denormalise_log_mel, mel_basis

    mels = np.exp(denormalise_log_mel(np.asarray(normalised_mels, dtype=np.float64)))
    magnitude = np.maximum(np.linalg.pinv(mel_basis()) @ mels, 0.0)
    magnitude = np.concatenate([magnitude, magnitude[..., -1:]], axis=-1)
    target = torch.from_numpy(magnitude).to(torch.float32)
    window = torch.hann_window(N_FFT, dtype=torch.float32)
    phases = [
        torch.rand(target.shape[1:], generator=torch.Generator().manual_seed(int(s)), dtype=torch.float32)
        for s in seeds
    ]
    angles = torch.polar(torch.ones_like(target), 2 * np.pi * torch.stack(phases))
    n_samples = (target.shape[-1] - 1) * HOP

    def istft(spec):
        return torch.istft(spec, N_FFT, HOP, N_FFT, window, center=True, length=n_samples)

    previous = torch.zeros_like(angles)
    for _ in range(n_iter):
        rebuilt = torch.stft(
            istft(target * angles), N_FFT, HOP, N_FFT, window, center=True, return_complex=True
        )
        accelerated = rebuilt - (momentum / (1 + momentum)) * previous
        angles = accelerated / accelerated.abs().clamp_min(1e-16)
        previous = rebuilt
    shifted = istft(target * angles).double().numpy()
    offset = HOP // 2 if PAD == 384 else 0
    out = np.zeros((shifted.shape[0], length))
    usable = min(length - offset, shifted.shape[-1])
    out[:, offset : offset + usable] = shifted[:, :usable]
    return out


def vocoder_ab(n_items: int = 4, rounds: int = 3, n_iter: int = 32) -> dict:
    """Griffin-Lim now against :func:`griffin_lim_before`, interleaved in this process on one thread
    (the best of ``rounds`` passes over ``n_items`` mels of the fixture clips each); same bits checked."""
    import numpy as np

    from bench.adapters.vocoders import GriffinLim
    from bench.core.mel import normalised_mel
    from bench.experiments.generation_profile import _fixture_clips, _threads

    clips, _ = _fixture_clips(n_items)
    mels = normalised_mel(clips[:n_items])
    now = GriffinLim(n_iter=n_iter)
    best = {"before": float("inf"), "after": float("inf")}
    with _threads(1):
        same = np.array_equal(
            now(mels[:1], [0], clips.shape[-1]), griffin_lim_before(mels[:1], [0], clips.shape[-1], n_iter)
        )
        for _ in range(rounds):
            for side in ("before", "after"):
                start = time.perf_counter()
                for i in range(n_items):
                    if side == "after":
                        now(mels[i : i + 1], [i], clips.shape[-1])
                    else:
                        griffin_lim_before(mels[i : i + 1], [i], clips.shape[-1], n_iter)
                best[side] = min(best[side], (time.perf_counter() - start) / n_items)
    return {
        "iterations": n_iter,
        "items": n_items,
        "ms_per_item_before": round(1000 * best["before"], 2),
        "ms_per_item_after": round(1000 * best["after"], 2),
        "before_over_after": round(best["before"] / best["after"], 3),
        "same_bits": bool(same),
    }


def generation_profiles(
    systems=SYSTEMS, items: int = 1, steps: int = 10, rounds: int = 2, before: str = BEFORE
) -> dict:
    """Each system profiled on this checkout and on ``before``, alternating ``rounds`` times; the
    best round of each (least disturbed by other load) and after/before ratios of its times."""
    profiler = REPO_ROOT / "bench" / "experiments" / "generation_profile.py"
    runs: dict[str, list] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="bench-before-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", before], capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        shutil.copy(profiler, Path(tmp) / "bench" / "experiments" / "generation_profile.py")
        trees = {"before": Path(tmp), "after": REPO_ROOT}
        for round_ in range(rounds):  # before, after, after, before, ...: neither side always goes first
            for side in ("before", "after") if round_ % 2 == 0 else ("after", "before"):
                runs[side].append(_profile_tree(trees[side], systems, items, steps))
    out = {"before_revision": before, "items": items, "steps": steps, "rounds": rounds, "systems": {}}
    out["vocoder_ab"] = vocoder_ab()
    for i, name in enumerate(systems):
        best = {side: min((r[i] for r in runs[side]), key=lambda r: r["ms_per_item"]) for side in runs}
        ratios = {
            key: round(best["before"][key] / best["after"][key], 3)
            for key in ("ms_per_item", "vocoder_ms_per_item", "denoiser_ms_per_call", "sampler_ms_per_step")
            if best["after"].get(key)
        }
        out["systems"][name] = {**best, "before_over_after": ratios}
    return out


def print_generation_profiles(record: dict, print_line=print) -> None:
    from bench.experiments.generation_profile import describe

    v = record["vocoder_ab"]
    print_line(
        f"Griffin-Lim ({v['iterations']} iterations), interleaved in one process, one thread: before "
        f"{v['ms_per_item_before']:.1f} ms, now {v['ms_per_item_after']:.1f} ms per item: "
        f"{v['before_over_after']:.2f}x (same bits: {v['same_bits']})"
    )
    for name, r in record["systems"].items():
        print_line(f"generation profile, this code ({record['steps']} steps, best of {record['rounds']}):")
        print_line(describe(r["after"]))
        b = r["before"]
        extra = (
            f", denoiser {b['denoiser_ms_per_call']:.2f} ms per call, "
            f"{100 * b['fraction_of_matmul_peak']:.1f}% of the matmul bound"
            if "denoiser_ms_per_call" in b
            else ""
        )
        print_line(
            f"  before ({record['before_revision']}), alternating: {b['ms_per_item']:.1f} ms per item, "
            f"vocoder {b['vocoder_ms_per_item']:.1f} ms{extra}; before / after: "
            + ", ".join(f"{k} {v:.2f}x" for k, v in r["before_over_after"].items())
        )
