"""A system's cached outputs are keyed by its code: editing it, or bumping ``version``, regenerates."""

import os
import shutil

import numpy as np
import pytest
from support.paths import FIXTURES, ROOT

from bench.core.config import RunConfig
from bench.core.system import CONDITIONAL

pytestmark = pytest.mark.slow  # end to end: every test of this module

PLUGIN = """
import numpy as np

from bench.core.registry import register
from bench.core.system import CONDITIONAL, System


@register
class Smoothed(System):
    name = "test-smoothed"
    version = VERSION

    def conditional(self, batch):
        kernel = np.ones(WIDTH) / WIDTH
        return np.stack([np.convolve(r, kernel, mode="same") for r in batch.references])
"""


def _plugin(folder, width, version=1):
    (folder / "smoothed.py").write_text(PLUGIN.replace("WIDTH", str(width)).replace("VERSION", str(version)))


def _run(tmp_path, monkeypatch, folder):
    record, outputs = _run_record(tmp_path, monkeypatch, folder)
    return record["rows"]["test-smoothed"], outputs


def _run_record(tmp_path, monkeypatch, folder):
    from bench.core.registry import discover
    from bench.core.runner import run_table1

    monkeypatch.setenv("BENCH_PLUGIN_PATH", str(folder))
    discover(force=True)
    config = RunConfig(
        scale="smoke",
        data=str(FIXTURES),
        systems=("test-smoothed",),
        tasks=(CONDITIONAL,),
        cache_dir=str(tmp_path / "cache"),
        data_cache_dir=str(tmp_path / "data"),
        out_dir=str(tmp_path / "out"),
        progress=False,
    )
    record = run_table1(config)
    outputs = len(list((tmp_path / "cache" / "outputs" / "test-smoothed").glob("*.json")))
    return record, outputs


def test_editing_a_plugin_or_bumping_its_version_regenerates_its_outputs(tmp_path, monkeypatch):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    _plugin(plugins, 1)
    first, made = _run(tmp_path, monkeypatch, plugins)
    assert made == 42
    again, made = _run(tmp_path, monkeypatch, plugins)
    assert made == 42 and again["tasks"] == first["tasks"]  # unchanged code: the cache is reused
    _plugin(plugins, 400)  # the user edits the filter
    edited, made = _run(tmp_path, monkeypatch, plugins)
    assert made == 84, "the edited plugin's outputs must be generated anew"
    assert edited["fingerprint"]["code_sha256"] != first["fingerprint"]["code_sha256"]
    before = first["tasks"][CONDITIONAL]["summary"]["timbre"]
    assert not np.isclose(edited["tasks"][CONDITIONAL]["summary"]["timbre"], before)
    _plugin(plugins, 400, version=2)  # same filter, version bumped
    bumped, made = _run(tmp_path, monkeypatch, plugins)
    assert made == 126 and bumped["fingerprint"]["version"] == 2


def _checkout(target):
    for folder in ("bench", "systems", "models", "metrics", "datasets"):
        shutil.copytree(ROOT / folder, target / folder, ignore=shutil.ignore_patterns("cache", "__pycache__"))
    return target


def test_code_identity_follows_project_imports_and_is_the_same_in_every_checkout(tmp_path):
    from bench.core.code_identity import code_files, code_identity

    a, b = _checkout(tmp_path / "a"), _checkout(tmp_path / "elsewhere" / "b")
    identity = code_identity(a / "systems" / "latentft.py", checkout=a)
    assert identity == code_identity(b / "systems" / "latentft.py", checkout=b)
    files = code_files(a / "systems" / "latentft.py", checkout=a)
    # its own file, the model code it imports inside a method, and what that imports in turn
    assert {"systems/latentft.py", "models/latentft.py", "models/unet1d.py", "bench/core/system.py"} <= set(
        files
    )
    assert "bench/core/runner.py" not in files and "bench/reports/tables.py" not in files
    os.utime(a / "models" / "unet1d.py", (0, 0))  # touched, not changed
    assert code_identity(a / "systems" / "latentft.py", checkout=a) == identity
    (a / "bench" / "tables.py").write_text("# unrelated edit\n")
    assert code_identity(a / "systems" / "latentft.py", checkout=a) == identity
    with open(a / "models" / "unet1d.py", "a") as handle:  # an edit two imports away
        handle.write("\nCHANGED = True\n")
    assert code_identity(a / "systems" / "latentft.py", checkout=a) != identity
    assert code_identity(b / "systems" / "latentft.py", checkout=b) == identity


def test_scoring_code_keys_the_descriptor_embedding_and_score_caches(tmp_path, monkeypatch):
    """Scores and descriptors made by older scoring code are not reused under an unchanged id."""
    from bench.core import item_cache
    from bench.core.code_identity import code_identity

    backend = item_cache.DescriptorBackend("fast")
    tag = code_identity(ROOT / "metrics" / "fast_descriptors.py")["sha256"][:12]
    assert backend.cache_id == f"{backend.id}-code{tag}" and backend.id == "torch-fast-3-f32"
    a, b = _checkout(tmp_path / "a"), _checkout(tmp_path / "b")
    with open(b / "metrics" / "descriptors.py", "a") as handle:  # imported by fast_descriptors
        handle.write("\nEDITED = True\n")
    assert code_identity(a / "metrics" / "fast_descriptors.py", checkout=a) != code_identity(
        b / "metrics" / "fast_descriptors.py", checkout=b
    )

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    _plugin(plugins, 3)
    first, _ = _run_record(tmp_path, monkeypatch, plugins)
    cache = tmp_path / "cache"
    scores = sorted(p.name for p in (cache / "scores" / "test-smoothed").glob("*.npz"))
    assert [p.name for p in (cache / "descriptors").iterdir()] == [backend.cache_id]
    real_tag = item_cache.code_tag
    monkeypatch.setattr(item_cache, "code_tag", lambda path: "edited" + real_tag(path)[6:])
    edited, made = _run_record(tmp_path, monkeypatch, plugins)
    assert made == 42, "the outputs do not depend on the scoring code and are reused"
    assert len(list((cache / "descriptors").iterdir())) == 2  # described again under the new code
    assert len(list((cache / "embeddings").iterdir())) == 2
    rescored = sorted(p.name for p in (cache / "scores" / "test-smoothed").glob("*.npz"))
    assert set(rescored) > set(scores) and len(rescored) == 2 * len(scores)
    assert edited["descriptors"] == first["descriptors"] == backend.id
    assert edited["descriptors_cache_id"] != first["descriptors_cache_id"]
