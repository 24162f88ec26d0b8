"""LatentFT benchmark harness.

Everything imports under the single top-level name ``bench``. The repository's ``systems/``,
``models/``, ``metrics/`` and ``datasets/`` folders are the subpackages ``bench.systems``,
``bench.models``, ``bench.metrics`` and ``bench.datasets``: pyproject.toml's ``package-dir`` maps
them, in a wheel and in an editable install alike (bench/core/paths.py). Nothing generic
(``metrics``, ``datasets``) is installed at the top level of site-packages.
"""

from bench.core.paths import VERSION as __version__  # noqa: F401


def __getattr__(name):  # the notebook API, imported only when used: bench.run_table1, bench.load_results
    if name == "run_table1":
        from bench.reports.results import run_table1

        return run_table1
    if name == "load_results":
        from bench.reports.results import load

        return load
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
