"""The README's "Adding a system" example must work exactly as printed."""

import re
import subprocess
import sys

import pytest
from conftest import FIXTURES, ROOT

pytestmark = pytest.mark.slow  # end to end: deselected by -m 'not slow'


def test_readme_plugin_example_runs_as_a_plugin(tmp_path):
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"```python\n(# my_noise.py\n.*?)```", readme, re.S)
    assert match, "README example not found"
    plugins = tmp_path / "my_plugins"
    plugins.mkdir()
    (plugins / "my_noise.py").write_text(match.group(1))
    env = {"BENCH_PLUGIN_PATH": str(plugins), "PATH": "/usr/bin:/bin"}
    listed = subprocess.run(
        [sys.executable, "-m", "bench", "systems"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert re.search(r"^envelope-noise +\[conditional\] +available$", listed.stdout, re.M), (
        listed.stdout + listed.stderr
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "table1",
            "--scale",
            "smoke",
            "--data",
            str(FIXTURES),
            "--systems",
            "shuffled,envelope-noise",
            "--out",
            str(tmp_path / "out"),
            "--cache",
            str(tmp_path / "cache"),
            "--no-progress",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    row = next(
        line
        for line in (tmp_path / "out" / "table1.md").read_text().splitlines()
        if line.startswith("| envelope-noise")
    )
    cells = [c.strip() for c in row.split("|")[2:-1]]
    assert all(c != "–" for c in cells[:5]) and all(c == "–" for c in cells[5:])
