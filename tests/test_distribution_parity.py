"""Precision / recall / density / coverage and MAUVE against the packages that define them.

tests/fixtures/distribution_parity/values.json holds what ``prdc`` 0.2 and ``mauve-text`` 0.4 gave
on the arrays beside it (tools/make_distribution_fixtures.py), so these run without the packages;
where the packages are installed, the ``live`` tests compare with them directly on new arrays.
"""

import contextlib
import io
import json

import numpy as np
import pytest
from support.paths import ROOT

from bench.metrics.manifold import ManifoldError, prdc
from bench.metrics.mauve_score import MauveError, mauve, mauve_from_histograms

FIXTURES = ROOT / "tests" / "fixtures" / "distribution_parity"
VALUES = json.loads((FIXTURES / "values.json").read_text())["values"]
ARRAYS = np.load(FIXTURES / "arrays.npz")


@pytest.mark.parametrize("case", [k for k in VALUES if k.startswith("prdc_")])
def test_prdc_equals_the_prdc_packages_values(case):
    expected = VALUES[case]
    ours = prdc(ARRAYS[f"{case}_real"], ARRAYS[f"{case}_fake"], expected["nearest_k"])
    for key in ("precision", "recall", "density", "coverage"):
        assert ours[key] == pytest.approx(expected[key], abs=1e-12), key


@pytest.mark.parametrize("case", [k for k in VALUES if k.startswith("mauve_histograms")])
def test_mauve_frontier_equals_mauve_texts_on_any_histograms(case):
    ours = mauve_from_histograms(ARRAYS[f"{case}_p"], ARRAYS[f"{case}_q"])
    assert ours == pytest.approx(VALUES[case]["mauve"], rel=1e-12)


@pytest.mark.parametrize("case", [k for k in VALUES if k.startswith("mauve_blobs")])
def test_mauve_equals_mauve_texts_where_the_clustering_is_unambiguous(case):
    expected = VALUES[case]
    ours = mauve(ARRAYS[f"{case}_p"], ARRAYS[f"{case}_q"], np.random.default_rng(0), expected["buckets"])
    assert sorted(ours["p_hist"]) == pytest.approx(sorted(expected["p_hist"]))  # bucket order is arbitrary
    assert ours["mauve"] == pytest.approx(expected["mauve"], rel=1e-9)


def test_properties_and_bad_input():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 4))
    same = prdc(x, x, 3)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    far = prdc(x, x + 100.0, 3)
    assert far["precision"] == far["recall"] == far["density"] == far["coverage"] == 0.0
    assert mauve_from_histograms([0.9, 0.1], [0.1, 0.9]) < mauve_from_histograms([0.6, 0.4], [0.4, 0.6])
    with pytest.raises(ManifoldError, match="at least 6"):
        prdc(x[:5], x, 5)
    with pytest.raises(MauveError, match="NaN"):
        mauve(np.full((4, 2), np.nan), x[:, :2], rng)


def _packages():
    prdc_package = pytest.importorskip("prdc", reason="prdc not installed (pip install prdc): fixtures only")
    mauve_package = pytest.importorskip(
        "mauve", reason="mauve-text not installed (pip install mauve-text faiss-cpu): fixtures only"
    )
    return prdc_package, mauve_package


def test_live_parity_with_the_installed_packages():
    prdc_package, mauve_package = _packages()
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(70, 10)), rng.normal(size=(60, 10)) + 0.5
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = prdc_package.compute_prdc(real, fake, nearest_k=4)
    ours = prdc(real, fake, 4)
    assert all(ours[k] == pytest.approx(float(theirs[k]), abs=1e-12) for k in ours)
    centres = rng.normal(size=(5, 8)) * 3
    q = centres[rng.integers(0, 5, 250)] + 0.05 * rng.normal(size=(250, 8))
    p = centres[rng.choice(5, 200, p=[0.4, 0.3, 0.1, 0.1, 0.1])] + 0.05 * rng.normal(size=(200, 8))
    theirs = mauve_package.compute_mauve(p_features=p, q_features=q, num_buckets=5).mauve
    assert mauve(p, q, rng, 5)["mauve"] == pytest.approx(theirs, rel=1e-9)
