import subprocess
import sys

from support.paths import ROOT


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


def test_a_bare_folder_name_without_an_installed_package_is_not_found(tmp_path):
    code = "import metrics"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )
    assert out.returncode == 1 and "No module named 'metrics'" in out.stderr, out.stderr
