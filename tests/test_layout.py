import subprocess
import sys

from conftest import ROOT


def test_top_level_folders_do_not_shadow_installed_packages(tmp_path):
    fake = tmp_path / "site" / "datasets"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("WHO = 'installed datasets'\n")
    code = "import datasets, bench.datasets.clipset as c; print(datasets.WHO); print(c.__name__)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["installed", "datasets", "bench.datasets.clipset"]


def test_plugin_folders_have_no_init_file():
    for folder in ("systems", "metrics", "datasets"):
        assert not (ROOT / folder / "__init__.py").exists(), folder
