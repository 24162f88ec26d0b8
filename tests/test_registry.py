import subprocess
import sys

import pytest
from conftest import ROOT

PLUGIN = """
import numpy as np
from bench.core.registry import register
from bench.core.system import CONDITIONAL, Needs, System

@register
class NeedsMissing(System):
    name = "needs-missing"
    needs = Needs(packages=("surely_not_installed_pkg",), install_hint="pip install surely-not")

    def conditional(self, batch):
        return batch.references
"""


def test_builtin_systems_are_registered():
    from bench.core.registry import system_names, system_status

    names = system_names()
    for name in ("reference", "shuffled", "spectrogram", "cross-synthesis"):
        assert name in names
        assert system_status(name).availability.ok
    assert system_status("cross-synthesis").capabilities == ("blend",)


def test_unknown_system_suggests_close_names():
    from bench.core.registry import UnknownNameError, get_system_class

    with pytest.raises(UnknownNameError, match="did you mean spectrogram"):
        get_system_class("spectrogam")


@pytest.mark.slow
def test_plugin_folder_and_unavailable_reason(tmp_path):
    (tmp_path / "needs_missing.py").write_text(PLUGIN)
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    out = subprocess.run(
        [sys.executable, "-m", "bench", "systems", "--verbose"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"BENCH_PLUGIN_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert "needs-missing" in out.stdout
    assert "unavailable: missing Python package(s): surely_not_installed_pkg" in out.stdout
    assert "fix: pip install surely-not" in out.stdout
    assert "broken plugin" in out.stdout and "boom" in out.stdout
    line = next(l for l in out.stdout.splitlines() if l.startswith("spectrogram "))
    assert "[blend, conditional]" in line and line.endswith("  available")


BROKEN = "import numpy as np\n\nVALUE = 1\nfrom bench.sytem import System  # boom in the plugin\n"


@pytest.mark.slow
def test_a_plugin_that_fails_to_import_is_named_with_its_file_line_and_error(tmp_path):
    (tmp_path / "my_noise.py").write_text(BROKEN)
    (tmp_path / "typo.py").write_text("x = 1\ndef f(:\n    pass\n")
    env = {"BENCH_PLUGIN_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "bench", "systems"], cwd=ROOT, capture_output=True, text=True, env=env
    )
    line = next(l for l in out.stdout.splitlines() if l.startswith("broken plugin"))
    assert str(tmp_path / "my_noise.py") in line and "my_noise.py:4" in line
    assert "No module named 'bench.sytem'" in line and "importlib" not in line
    line = next(l for l in out.stdout.splitlines() if l.startswith(f"broken plugin {tmp_path / 'typo.py'}"))
    assert "SyntaxError" in line and "typo.py:2" in line
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "table1",
            "--scale",
            "smoke",
            "--systems",
            "reference,envelope-noise",
            "--cache",
            str(tmp_path / "cache"),
            "--data-cache",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "unknown system 'envelope-noise'" in run.stderr
    assert "my_noise.py:4" in run.stderr and "No module named 'bench.sytem'" in run.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "out").exists()  # stopped before any work


@pytest.mark.slow
def test_an_unknown_system_stops_the_run_before_any_work(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "table1",
            "--scale",
            "smoke",
            "--systems",
            "reference,shufled",
            "--cache",
            str(tmp_path / "cache"),
            "--data-cache",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "unknown system 'shufled'" in out.stderr and "did you mean shuffled" in out.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "cache").exists()


LEAK_PROBE = """
from bench.core import registry
from bench.core.system import CONDITIONAL, System


def test_a_registers_a_system():
    @registry.register
    class Probe(System):
        name = "leak-probe"
        capabilities = frozenset({CONDITIONAL})

    assert "leak-probe" in registry.system_names()


def test_b_finds_it_gone_and_the_builtin_systems_kept():
    assert "leak-probe" not in registry._REGISTRY
    assert {"reference", "shuffled", "spectrogram"} <= set(registry.system_names())
"""


@pytest.mark.slow
def test_a_registration_made_in_a_test_does_not_outlive_it(tmp_path):
    paths = [str(ROOT), str(ROOT / "tests")]
    guard = "from registry_guard import restore_system_registry  # noqa: F401\n"
    (tmp_path / "conftest.py").write_text(f"import sys\nsys.path[:0] = {paths!r}\n{guard}")
    (tmp_path / "test_probe.py").write_text(LEAK_PROBE)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_probe.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "2 passed" in out.stdout, out.stdout[-3000:]
