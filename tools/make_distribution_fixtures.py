"""Regenerate tests/fixtures/distribution_parity/ with the packages that define the metrics:
``prdc`` 0.2 (precision, recall, density, coverage) and ``mauve-text`` 0.4 (MAUVE).

Run with the packages on the path, outside the project's environment:
    /work/main/.venv/bin/pip install --no-deps --target /tmp/mauve-pkgs prdc mauve-text faiss-cpu
    PYTHONPATH=/tmp/mauve-pkgs python tools/make_distribution_fixtures.py
(scikit-learn, which both import, is in the dev environment). The arrays are seeded and stored
beside the values, so tests/test_distribution_parity.py recomputes ours on exactly the same inputs.
"""

from __future__ import annotations

import contextlib
import io
import json
from importlib.metadata import version
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "distribution_parity"


def blobs(rng, centres, weights, n, spread=0.05):
    labels = rng.choice(len(centres), size=n, p=weights)
    return centres[labels] + spread * rng.normal(size=(n, centres.shape[1])), labels


def main() -> None:
    import mauve
    from mauve.compute_mauve import get_divergence_curve_for_multinomials
    from prdc import compute_prdc
    from sklearn.metrics import auc

    rng = np.random.default_rng(30)
    arrays, values = {}, {}
    for name, (n_real, n_fake, dim, shift, k) in {
        "prdc_gauss_k5": (120, 90, 16, 0.4, 5),
        "prdc_gauss_k3": (64, 80, 8, 1.0, 3),
        "prdc_wide_k5": (160, 96, 64, 0.2, 5),
    }.items():
        real = rng.normal(size=(n_real, dim))
        fake = rng.normal(size=(n_fake, dim)) * 1.2 + shift
        with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
            result = compute_prdc(real, fake, nearest_k=k)
        arrays[f"{name}_real"], arrays[f"{name}_fake"] = real, fake
        values[name] = {"nearest_k": k, **{key: float(v) for key, v in result.items()}}
    for name, (n_p, n_q, n_blobs) in {"mauve_blobs_6": (300, 400, 6), "mauve_blobs_4": (150, 200, 4)}.items():
        # orthogonal, well separated clusters: every k-means finds them, so the value is the package's
        # definition and not an accident of its initialisation (checked below)
        centres = 3.0 * np.eye(n_blobs)
        q, _ = blobs(rng, centres, np.full(n_blobs, 1.0 / n_blobs), n_q)
        weights = rng.dirichlet(np.full(n_blobs, 4.0))
        p, labels = blobs(rng, centres, weights, n_p)
        out = mauve.compute_mauve(p_features=p, q_features=q, num_buckets=n_blobs, verbose=False)
        truth = np.bincount(labels, minlength=n_blobs) / n_p
        assert np.allclose(sorted(out.p_hist), sorted(truth)), f"{name}: k-means did not find the clusters"
        arrays[f"{name}_p"], arrays[f"{name}_q"] = p, q
        values[name] = {
            "buckets": n_blobs,
            "mauve": float(out.mauve),
            "p_hist": out.p_hist.tolist(),
            "q_hist": out.q_hist.tolist(),
        }
    for name, size in {"mauve_histograms_8": 8, "mauve_histograms_20": 20}.items():
        p, q = rng.dirichlet(np.ones(size)), rng.dirichlet(np.ones(size) * 0.5)
        p[0] = 0.0  # a bucket P never reaches
        p /= p.sum()
        x, y = get_divergence_curve_for_multinomials(p, q, np.linspace(1e-6, 1 - 1e-6, 25), 5).T
        i, j = np.argsort(x), np.argsort(y)
        arrays[f"{name}_p"], arrays[f"{name}_q"] = p, q
        values[name] = {"mauve": float(0.5 * (auc(x[i], y[i]) + auc(y[j], x[j])))}
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / "arrays.npz", **arrays)
    made_by = {p: version(p) for p in ("prdc", "mauve-text", "faiss-cpu", "scikit-learn", "numpy")}
    (OUT / "values.json").write_text(
        json.dumps(
            {"made_by": made_by, "script": "tools/make_distribution_fixtures.py", "values": values},
            indent=1,
            sort_keys=True,
        )
        + "\n"
    )
    print(f"wrote {OUT} ({made_by})")


if __name__ == "__main__":
    main()
