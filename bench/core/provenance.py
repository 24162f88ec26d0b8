"""Where a number came from: code revision, packages, machine, data."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version

from bench.core import determinism
from bench.core.paths import PACKAGE_DIR, VERSION

PACKAGES = (
    "numpy",
    "scipy",
    "librosa",
    "soundfile",
    "soxr",
    "numba",
    "torch",
    "mir_eval",
    "transformers",
    "music21",
    "mido",
)


def git_revision() -> dict:
    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=10
        ).stdout.strip()

    try:
        revision = git("rev-parse", "HEAD") or "unknown"
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"revision": "unknown", "dirty": None}
    return {"revision": revision, "dirty": dirty}


def package_versions(extra: tuple[str, ...] = ()) -> dict:
    versions: dict[str, str | None] = {}
    for name in PACKAGES + extra:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def environment() -> dict:
    return {
        "harness_version": VERSION,
        "git": git_revision(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": package_versions(),
        "determinism": determinism.record(),
    }


def resource_use() -> dict:
    """This process's peak resident memory and CPU time so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "cpu_user_s": round(usage.ru_utime, 3),
        "cpu_system_s": round(usage.ru_stime, 3),
    }
