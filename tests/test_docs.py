"""The documentation builds without a warning (mkdocs --strict: every page in the nav, every
internal link and anchor valid)."""

import shutil
import subprocess
import sys

import pytest
from support.paths import ROOT


def test_the_docs_build_strictly(tmp_path):
    if (
        shutil.which("mkdocs") is None
        and subprocess.run([sys.executable, "-m", "mkdocs", "--version"], capture_output=True).returncode != 0
    ):
        pytest.skip("mkdocs is not installed (make venv-dev installs it)")
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "site" / "protocol" / "index.html").exists()
