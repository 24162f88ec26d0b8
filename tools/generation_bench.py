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
        for _ in range(rounds):
            runs["before"].append(_profile_tree(Path(tmp), systems, items, steps))
            runs["after"].append(_profile_tree(REPO_ROOT, systems, items, steps))
    out = {"before_revision": before, "items": items, "steps": steps, "rounds": rounds, "systems": {}}
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
