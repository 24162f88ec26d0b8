import subprocess
import sys

import pytest

from conftest import ROOT

PLUGIN = '''
import numpy as np
from bench.registry import register
from bench.system import CONDITIONAL, Needs, System

@register
class NeedsMissing(System):
    name = "needs-missing"
    capabilities = frozenset({CONDITIONAL})
    needs = Needs(packages=("surely_not_installed_pkg",), install_hint="pip install surely-not")

    def _conditional(self, batch):
        return batch.references
'''


def test_builtin_systems_are_registered():
    from bench.registry import system_names, system_status

    names = system_names()
    for name in ("reference", "shuffled", "spectrogram", "cross-synthesis"):
        assert name in names
        assert system_status(name).availability.ok
    assert system_status("cross-synthesis").capabilities == ("blend",)


def test_unknown_system_suggests_close_names():
    from bench.registry import get_system_class

    with pytest.raises(KeyError, match="did you mean spectrogram"):
        get_system_class("spectrogam")


def test_plugin_folder_and_unavailable_reason(tmp_path):
    (tmp_path / "needs_missing.py").write_text(PLUGIN)
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    out = subprocess.run([sys.executable, "-m", "bench", "systems", "--verbose"], cwd=ROOT,
                         capture_output=True, text=True, env={"BENCH_PLUGIN_PATH": str(tmp_path),
                                                              "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "needs-missing" in out.stdout
    assert "unavailable: missing Python package(s): surely_not_installed_pkg" in out.stdout
    assert "fix: pip install surely-not" in out.stdout
    assert "broken plugin" in out.stdout and "boom" in out.stdout
    line = next(l for l in out.stdout.splitlines() if l.startswith("spectrogram "))
    assert "[blend, conditional]" in line and line.endswith("  available")
