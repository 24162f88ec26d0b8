"""The same item bits whatever instruction sets the CPU has (issue 31, bench/core/determinism.py).

Another CPU is emulated on this one by limiting the instruction sets the math libraries may use
(tools/isa_probe.py ``SETTINGS["sse"]``); the harness's pins must make that invisible: a smoke table
run through the command line gives a byte-identical ``table1_items.csv``, and every runnable default
system gives the same bits item by item, stage by stage."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.core import determinism
from tools.isa_probe import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "audio"
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _table(tmp_path: Path, label: str, extra_env: dict, systems: str) -> bytes:
    env = {**os.environ, **THREADS, **extra_env, "BENCH_RUNS_DIR": str(tmp_path / label / "runs")}
    for key in determinism.PINS:  # whatever the caller's shell has: the harness must set them itself
        env.pop(key, None)
    out = tmp_path / label / "out"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "table1", "--scale", "smoke", "--systems", systems]
        + ["--data", str(FIXTURES), "--data-cache", str(tmp_path / label / "data")]
        + ["--cache", str(tmp_path / label / "cache"), "--out", str(out), "--no-progress"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return (out / "table1_items.csv").read_bytes()


@pytest.mark.slow
def test_a_smoke_table_is_byte_identical_under_a_reduced_instruction_set(tmp_path):
    systems = "latentft-mlp,spectrogram"
    default = _table(tmp_path, "default", {}, systems)
    reduced = _table(tmp_path, "sse", SETTINGS["sse"], systems)
    assert default.count(b"\n") > 20
    record = json.loads((tmp_path / "sse" / "out" / "table1.json").read_text())
    state = record["environment"]["determinism"]
    assert state["pinned"] and state["version"] == determinism.DETERMINISM_VERSION, state
    if default != reduced:
        rows = [(a, b) for a, b in zip(default.splitlines(), reduced.splitlines()) if a != b]
        pytest.fail(f"{len(rows)} item rows differ, e.g.\n{rows[0][0]!r}\n{rows[0][1]!r}")


@pytest.mark.slow
def test_every_runnable_default_system_gives_the_same_item_bits_under_a_reduced_instruction_set(tmp_path):
    """tools/isa_probe.py with the pins: generation, descriptors, adherence and embedding of one
    conditional and one blended item of every default system, and the scoring stages alone."""
    from tools.isa_probe import run_setting

    systems = [s for s in determinism_systems() if s]
    default = np.load(run_setting(SETTINGS["default"], systems, str(tmp_path), "default", True, trace=False))
    reduced = np.load(run_setting(SETTINGS["sse"], systems, str(tmp_path), "sse", True, trace=False))
    assert set(default.files) == set(reduced.files)
    assert {f"{s}.conditional" for s in ("latentft-mlp", "ilvr", "spectrogram")} <= set(default.files)
    differing = {
        key: float(np.abs(default[key].astype(float) - reduced[key]).max())
        for key in default.files
        if default[key].tobytes() != reduced[key].tobytes()
    }
    assert not differing, f"{len(differing)} arrays differ: {differing}"


def determinism_systems() -> list[str]:
    from bench.core.config import DEFAULT_SYSTEMS
    from bench.core.registry import system_status

    return [name for name in DEFAULT_SYSTEMS if system_status(name, {}).availability.ok]


def test_the_command_line_sets_the_pins_before_torch_loads():
    """cli.main applies the pins first thing; importing the command line must not load torch or
    numpy (which read them once), and with the pins torch runs its AVX2 kernels."""
    code = (
        "import sys; import bench.__main__, bench.commands.cli; "
        "from bench.core import determinism; late = determinism.apply(); import torch; "
        "print(late, torch.backends.cpu.get_cpu_capability(), determinism.record()['version'])"
    )
    env = {k: v for k, v in os.environ.items() if k not in determinism.PINS}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1000:]
    late, capability, version = done.stdout.split()[-3:]
    assert late == "[]" and version == determinism.DETERMINISM_VERSION
    if determinism.host_isa()["level"] in ("avx2", "avx512"):
        assert capability == "AVX2"


def test_workers_get_the_pins(monkeypatch):
    monkeypatch.setenv(determinism.SWITCH, "on")
    for key, value in determinism.PINS.items():
        monkeypatch.setenv(key, value)
    exports = determinism.shell_exports()
    assert all(f"export {k}='{v}'" in exports for k, v in determinism.PINS.items())
    assert determinism.forwarded().items() >= determinism.PINS.items()


def test_runs_are_named_by_their_pins_and_host():
    pinned = {"version": determinism.DETERMINISM_VERSION, "host": {"level": "avx2", "cpu": "AMD EPYC"}}
    other = {"version": determinism.DETERMINISM_VERSION, "host": {"level": "avx512", "cpu": "Xeon"}}
    assert determinism.mismatch([pinned, other]) is None
    assert determinism.describe(pinned) == f"{determinism.DETERMINISM_VERSION} on avx2 (AMD EPYC)"
    unpinned = {"version": "unpinned", "host": {"level": "avx512", "cpu": "Xeon"}}
    why = determinism.mismatch([pinned, unpinned])
    assert why and "unpinned" in why and "timbre" in why
    assert "before isa-v1" in determinism.describe(None)


def test_merge_names_each_runs_instruction_sets_and_warns_when_bits_may_differ(tmp_path):
    from bench.reports.merge import merge_records

    def run(name: str, state: dict | None) -> Path:
        record = {
            "schema": "latentft-bench/table1/v1",
            "config": {"systems": [name], "scale": "smoke", "tasks": ["conditional"]},
            "rows": {name: {"tasks": {}}},
            "unavailable": {},
            "environment": {"git": {"revision": "x"}, **({"determinism": state} if state else {})},
        }
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(record))
        return path

    pinned = {"version": determinism.DETERMINISM_VERSION, "host": {"level": "avx2", "cpu": "AMD EPYC"}}
    xeon = {"version": determinism.DETERMINISM_VERSION, "host": {"level": "avx512", "cpu": "Xeon"}}
    lines: list[str] = []
    merged, _ = merge_records([run("a", pinned), run("b", xeon)], log=lines.append)
    assert [entry["run"] for entry in merged["instruction_sets"]] == [
        "isa-v1 on avx2 (AMD EPYC)",
        "isa-v1 on avx512 (Xeon)",
    ]
    assert "instruction_sets_warning" not in merged and not any("warning" in line for line in lines)
    lines.clear()
    merged, _ = merge_records([run("a", pinned), run("c", None)], log=lines.append)
    assert "unrecorded" in merged["instruction_sets_warning"]
    assert any(line.startswith("warning:") and "timbre" in line for line in lines)


@pytest.mark.slow
def test_the_cost_of_the_pins_is_measured_with_and_without_them():
    from tools.isa_cost import isa_pin_benchmark

    rows = isa_pin_benchmark(("reference",), steps=2, vocoder="griffin-lim:2", items=1, rounds=1)
    assert {row["task"] for row in rows} == {"conditional", "blend"}
    for row in rows:
        assert row["unpinned_s"] > 0 and row["pinned_s"] > 0
        assert row["ratio"] == pytest.approx(row["pinned_s"] / row["unpinned_s"])
        if determinism.host_isa()["level"] == "avx512":
            assert row["capability"] == ["AVX512", "AVX2"]
