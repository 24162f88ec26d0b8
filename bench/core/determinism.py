"""The same item bits on every x86-64 CPU: which code paths the math libraries may pick (issue 31).

torch, numpy and the BLAS/FFT libraries under them choose their kernels by the instruction sets of
the CPU they run on (MKL's GEMM and FFT, oneDNN's convolutions, ATen's vectorised loops, numpy's
SIMD loops, OpenBLAS's kernels), and different kernels round differently. ``PINS`` fixes each choice
to one every AVX2 CPU (Intel or AMD) can run; ``tools/isa_probe.py`` finds the operations and
checks the pins, and docs/caching-determinism.md#across-machines has the findings.

The libraries read these variables once, when they load, so they must be in the environment before
torch or numpy is imported: ``apply()`` is called at the command line's entry (bench/__main__.py,
bench/commands/cli.py ``main``) before any heavy import, worker processes started with
multiprocessing's spawn inherit the environment, and the Ray and SLURM executors pass this
process's values on (``forwarded()``, ``shell_exports()``; bench/core/executors.py). ``BENCH_ISA_PINS=off``
leaves the libraries as they come (to measure what the pins cost, or to emulate another CPU).
"""

from __future__ import annotations

import os
import platform
import sys
from functools import lru_cache
from typing import Any

DETERMINISM_VERSION = "isa-v1"
SWITCH = "BENCH_ISA_PINS"

PINS: dict[str, str] = {
    # MKL's conditional numerical reproducibility: the SSE2 branch, the only one that gives the same
    # results on Intel and non-Intel CPUs (MKL_CBWR=AVX2 falls back to the automatic branch on AMD)
    "MKL_CBWR": "COMPATIBLE",
    # ATen's vectorised kernels: the AVX2 build on every host (AVX-512 hosts pick avx512 otherwise)
    "ATEN_CPU_CAPABILITY": "avx2",
    # oneDNN's JIT kernels: AVX2 at most
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    # numpy's dispatched SIMD loops: x86-64-v3 (AVX2, FMA3) at most
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    # OpenBLAS (numpy's and scipy's): the Haswell kernels and blocking on every AVX2 CPU
    "OPENBLAS_CORETYPE": "Haswell",
}
# the largest item difference seen between runs without the pins on two instruction sets: the quick
# Table 1 of latentft-mlp on an AVX-512 host and on an AVX2 host, as issue 31 reports it (timbre in MCD dB)
UNPINNED_BOUND = {"loudness": 2.1e-4, "rhythm": 3.9e-4, "harmony": 1.9e-3, "timbre": 0.115}
UNPINNED_BOUND_TEXT = ", ".join(f"{k} {v:g}" for k, v in UNPINNED_BOUND.items())
HEAVY = ("torch", "numpy", "scipy", "librosa")
# what workers on other hosts must see as the driver does (the pins, the switch, emulation settings)
FORWARD = (*PINS, SWITCH, "MKL_ENABLE_INSTRUCTIONS")
_late: list[str] = []


def host_pins() -> dict[str, str]:
    """The pins this host takes: none off x86-64 (the libraries' choices there are other ones), and
    OpenBLAS's Haswell kernels only on a CPU that runs them (forced on another, they stop the process
    on an illegal instruction)."""
    host = host_isa()
    if not host["x86_64"]:
        return {}
    pins = dict(PINS)
    if host["level"] not in ("avx2", "avx512"):
        pins.pop("OPENBLAS_CORETYPE")
    return pins


def enabled(environ=None) -> bool:
    return (environ if environ is not None else os.environ).get(SWITCH, "on").lower() not in (
        "off",
        "0",
        "no",
    )


def pinned_environment(environ: dict | None = None) -> dict:
    """A copy of ``environ`` (default: this process's) with the pins set, unless switched off."""
    env = dict(os.environ if environ is None else environ)
    if enabled(env):
        env.update(host_pins())
    return env


def forwarded() -> dict[str, str]:
    """This process's values of the variables workers must share (Ray's ``runtime_env``)."""
    return {key: os.environ[key] for key in FORWARD if key in os.environ}


def shell_exports() -> list[str]:
    """``export`` lines that give a job script (SLURM's ``slurm_setup``) this process's values."""
    return [f"export {key}='{value}'" for key, value in forwarded().items()]


def apply() -> list[str]:
    """Set the pins in this process's environment; returns the heavy modules already imported (for
    which it is too late: their libraries have read the environment)."""
    late = [name for name in HEAVY if name in sys.modules]
    if enabled():
        os.environ.update(host_pins())
        _late[:] = late
    return late


@lru_cache(maxsize=1)
def host_isa() -> dict:
    """The CPU and the instruction-set extensions that decide kernel choice (from /proc/cpuinfo)."""
    model, flags = "unknown", set[str]()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model == "unknown":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
                if model != "unknown" and flags:
                    break
    except OSError:
        pass
    wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "amx_tile")
    present = [name for name in wanted if name in flags]
    x86_64 = platform.machine().lower() in ("x86_64", "amd64")
    return {
        "cpu": model,
        "isa": present,
        "level": isa_level(present) if x86_64 else platform.machine(),
        "x86_64": x86_64,
    }


def isa_level(extensions) -> str:
    """A short name for a host's vector level: avx512, avx2, avx or sse."""
    extensions = set(extensions)
    if "avx512f" in extensions:
        return "avx512"
    if {"avx2", "fma"} <= extensions:
        return "avx2"
    return "avx" if "avx" in extensions else "sse"


def record() -> dict:
    """For table1.json: the determinism version, the pins in force and the host they ran on."""
    pins = host_pins()
    pinned = enabled() and not _late and bool(pins) and all(os.environ.get(k) == v for k, v in pins.items())
    state: dict[str, Any] = {
        "version": DETERMINISM_VERSION if pinned else "unpinned",
        "pinned": pinned,
        "pins": {key: os.environ.get(key) for key in PINS},
        "host": {k: v for k, v in host_isa().items() if k != "x86_64"},
    }
    if _late:
        state["imported_before_pins"] = list(_late)
    torch = sys.modules.get("torch")
    if torch is not None:
        state["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    if state["host"]["level"] not in ("avx2", "avx512"):
        state["note"] = "a CPU without AVX2: the pinned kernels are not all available, bits may differ"
    return state


def describe(state: dict | None) -> str:
    """One line naming a run's pins and host, e.g. ``isa-v1 on avx2 (AMD EPYC)``."""
    if not state:
        return "unrecorded instruction set (a run from before isa-v1)"
    host = state.get("host", {})
    return (
        f"{state.get('version', 'unpinned')} on {host.get('level', '?')} ({host.get('cpu', 'unknown CPU')})"
    )


def mismatch(states: list[dict | None]) -> str | None:
    """Why runs made under ``states`` may differ in their last bits, or None when they cannot: all
    pinned under one determinism version on AVX2 hosts, or all unpinned on one instruction-set level."""
    versions = {(s or {}).get("version", "unrecorded") for s in states}
    levels = {(s or {}).get("host", {}).get("level", "?") for s in states}
    if versions == {DETERMINISM_VERSION} and levels <= {"avx2", "avx512"}:
        return None
    if versions == {"unpinned"} and len(levels) == 1 and "?" not in levels:
        return None
    known = sorted(levels - {"?"}) or ["unrecorded"]
    return (
        f"runs made under {', '.join(sorted(versions))} on {', '.join(known)} CPUs: item scores "
        f"may differ in their last digits (up to {UNPINNED_BOUND_TEXT}; docs/caching-determinism.md"
        "#across-machines)"
    )
