"""A third-party package that registers a system through the ``latentft_bench.systems`` entry point
(bench/core/registry.py) is found once installed: the test builds a tiny package with pip and
installs it into a folder of its own, then lists and runs the harness in a subprocess that sees it."""

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow  # builds and installs a package, runs the harness twice

PLUGIN = """
import numpy as np

from bench.core.system import System


class ToyEcho(System):
    name = "toy-echo"
    description = "returns its reference (an installed entry-point plugin)"

    def conditional(self, batch):
        return np.asarray(batch.references)
"""


def test_an_installed_packages_entry_point_system_is_listed_and_runs(tmp_path):
    source = tmp_path / "toy-plugin"
    (source / "toy_plugin").mkdir(parents=True)
    (source / "toy_plugin" / "__init__.py").write_text(PLUGIN)
    (source / "pyproject.toml").write_text(
        textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "toy-plugin"
        version = "0.0.1"

        [project.entry-points."latentft_bench.systems"]
        toy-echo = "toy_plugin:ToyEcho"
        """)
    )
    target = tmp_path / "site"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "BENCH_RUNS_DIR": str(tmp_path / "runs")}
    listed = subprocess.run(
        [sys.executable, "-m", "bench", "systems", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    toy = [entry for entry in json.loads(listed.stdout) if entry["name"] == "toy-echo"]
    assert toy and toy[0]["available"], listed.stdout[-2000:]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "table1",
            "--scale",
            "smoke",
            "--systems",
            "toy-echo",
            "--executor",
            "inline",
            "--no-progress",
            "--cache",
            str(tmp_path / "cache"),
            "--out",
            "toy",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| toy-echo |" in run.stdout and "1.000 ±0.000" in run.stdout
