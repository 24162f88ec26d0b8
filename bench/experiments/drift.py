"""Drift check: a smoke-scale Table 1 and metric outputs on the committed audio fixtures,
recomputed from scratch (fresh cache) and compared with ``results/golden/smoke.json`` under
per-metric-family tolerances. tools/update_golden.py rewrites the golden file (on purpose only).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from bench.core.paths import CHECKOUT_ROOT, PACKAGE_DIR
from bench.core.storage import atomic_write_json
from bench.metrics.specs import SPECS

FIXTURES = (CHECKOUT_ROOT or PACKAGE_DIR) / "tests" / "fixtures" / "audio"  # a checkout's
# systems that need no trained weights, so the golden values are the same on every machine
REGRESS_SYSTEMS = ("reference", "shuffled", "spectrogram", "cross-synthesis")
GOLDEN = (CHECKOUT_ROOT or PACKAGE_DIR) / "results" / "golden" / "smoke.json"

# |now - golden| <= abs + rel * |golden|, by family (the key's last component decides)
TOLERANCES = {
    "loudness": {"abs": 2e-3, "rel": 0.0},
    "rhythm": {"abs": 2e-3, "rel": 0.0},
    "timbre": {"abs": 0.05, "rel": 1e-3},
    "harmony": {"abs": 1e-3, "rel": 0.0},
    "fad": {"abs": 1e-3, "rel": 0.01},
    "kad": {"abs": 1e-3, "rel": 0.01},
    "descriptor": {"abs": 1e-4, "rel": 1e-3},
    "count": {"abs": 0.0, "rel": 0.0},
}


def family(key: str) -> str:
    leaf = key.rsplit(".", 1)[-1]
    for name in (*SPECS, "kad"):
        if leaf.startswith(name):
            return name
    if leaf.startswith("n_"):
        return "count"
    return "descriptor"


def flatten_record(record: dict) -> dict[str, float]:
    values = {}
    for system, row in sorted(record["rows"].items()):
        for task, result in sorted(row["tasks"].items()):
            for key, value in result["summary"].items():
                if key in ("groups_complete", "groups_total"):
                    continue
                if isinstance(value, (int, float)) and value is not None:
                    values[f"table.{system}.{task}.{key}"] = float(value)
            for group, entry in sorted(result["per_group"].items()):
                for key, value in entry.items():
                    if isinstance(value, float):
                        values[f"band.{system}.{task}.{group}.{key}"] = value
    return values


def fixture_metrics(embedder_name: str = "melstats") -> dict[str, float]:
    """Descriptor statistics, adherence and distribution distances computed on the fixtures."""
    from bench.core.audio import load_audio, normalise_clip
    from bench.core.bands import CONDITIONAL_BANDS
    from bench.core.registry import make_embedder
    from bench.metrics.adherence import adherence
    from bench.metrics.descriptors import compute_descriptors
    from bench.metrics.distribution import fad, kad

    files = sorted(FIXTURES.glob("*.flac"))
    clips = [normalise_clip(load_audio(f)[0]) for f in files]
    values = {}
    from bench.metrics.fast_descriptors import FastDescriptorExtractor

    descriptors = [compute_descriptors(c) for c in clips]
    fast = FastDescriptorExtractor()(np.stack(clips))
    for implementation, described in (("reference", descriptors), ("fast", fast)):
        for f, d in zip(files, described):
            for name, curve in d.as_dict().items():
                values[f"fixture.{implementation}.{f.stem}.{name}_mean"] = float(np.mean(curve))
                values[f"fixture.{implementation}.{f.stem}.{name}_std"] = float(np.std(curve))
    for band in (CONDITIONAL_BANDS[0], CONDITIONAL_BANDS[1], CONDITIONAL_BANDS[-1]):
        for metric, value in adherence(descriptors[1], descriptors[0], band).items():
            values[f"fixture.pair01.{band.name}.{metric}"] = value
    embedder = make_embedder(embedder_name)
    embeddings = [embedder.embed(c) for c in clips]
    first, second = np.concatenate(embeddings[:4]), np.concatenate(embeddings[4:])
    values["fixture.halves.fad"] = fad(first, second)
    values["fixture.halves.kad"] = kad(first, second)
    return values


def compute_current(progress: bool = False, embedder: str = "melstats") -> tuple[dict[str, float], dict]:
    from bench.core.config import RunConfig
    from bench.core.runner import run_table1

    with tempfile.TemporaryDirectory(prefix="bench-regress-") as tmp:
        config = RunConfig(
            scale="smoke",
            seed=0,
            data=str(FIXTURES),
            systems=REGRESS_SYSTEMS,
            cache_dir=f"{tmp}/cache",
            data_cache_dir=f"{tmp}/data",
            out_dir=f"{tmp}/out",
            progress=progress,
            embedder=embedder,
        )
        record = run_table1(config)
    values = flatten_record(record)
    values.update(fixture_metrics(embedder))
    context = {
        "dataset_manifest_hash": record["dataset"]["manifest_hash"],
        "vocoder": record["vocoder"],
        "embedder": record["embedder"]["id"],
        "descriptors": record["descriptors"],
        "config": record["config"],
        "determinism": record["environment"].get("determinism"),
    }
    return values, context


def compare(golden: dict[str, float], current: dict[str, float], tolerances: dict = TOLERANCES) -> list[str]:
    """Readable lines for every value that moved beyond its tolerance, appeared or vanished."""
    problems = []
    for key in sorted(set(golden) | set(current)):
        if key not in current:
            problems.append(f"  missing now   {key} (golden {golden[key]:.6g})")
            continue
        if key not in golden:
            problems.append(f"  new value     {key} = {current[key]:.6g} (not in golden)")
            continue
        tol = tolerances[family(key)]
        g, c = golden[key], current[key]
        allowed = tol["abs"] + tol["rel"] * abs(g)
        if not abs(c - g) <= allowed:
            problems.append(
                f"  drift {family(key):<10} {key}: golden {g:.6g} now {c:.6g} "
                f"(delta {c - g:+.3g}, allowed {allowed:.3g})"
            )
    return problems


def write_golden(golden_path: Path = GOLDEN, progress: bool = False) -> int:
    """Recompute every value and rewrite the golden file (tools/update_golden.py, make regress-update)."""
    current, context = compute_current(progress)
    atomic_write_json(golden_path, {"context": context, "tolerances": TOLERANCES, "values": current})
    print(f"wrote {len(current)} golden values to {golden_path}")
    return 0


def run_regress(progress: bool = False, golden_path: Path = GOLDEN, embedder: str = "melstats") -> int:
    """The drift check; ``embedder`` another implementation of melstats' numbers (melstats-fast)
    checked against the same golden values."""
    if not FIXTURES.is_dir() or not golden_path.exists():
        print(
            f"the drift check needs a source checkout: {FIXTURES} and {golden_path} "
            "(run `make regress-update` there to create the golden file)"
        )
        return 1
    current, context = compute_current(progress, embedder)
    golden = json.loads(golden_path.read_text())
    problems = compare(golden["values"], current, golden.get("tolerances", TOLERANCES))
    from bench.core.determinism import describe, mismatch

    then, now = golden.get("context", {}).get("determinism"), context["determinism"]
    print(f"golden values made under {describe(then)}; now {describe(now)}")
    why = mismatch([then, now])
    if why:
        print(f"note: {why}")
    if golden.get("context", {}).get("dataset_manifest_hash") != context["dataset_manifest_hash"]:
        problems.insert(0, "  fixture manifest hash changed: the fixture audio or its loader changed")
    if problems:
        print(f"metric drift: {len(problems)} of {len(current)} values differ from {golden_path}:")
        print("\n".join(problems))
        return 1
    print(f"no drift: {len(current)} values within tolerance of {golden_path.name}")
    return 0
