"""LatentFT benchmark harness.

Everything imports under the single top-level name ``bench``. The folders ``systems/``,
``metrics/`` and ``datasets/`` at the repository root carry no ``__init__.py``: they are
subpackages of ``bench`` (``bench.systems``, ``bench.metrics``, ``bench.datasets``) because this
package's search path includes the repository root. A folder without ``__init__.py`` never
shadows an installed regular package, so ``import datasets`` still means Hugging Face's.
"""

from bench.core.paths import REPO_ROOT  # noqa: F401
from bench.core.paths import VERSION as __version__

__path__.append(str(REPO_ROOT))  # noqa: F821  (module attribute of a package)


def __getattr__(name):  # the notebook API, imported only when used: bench.run_table1, bench.load_results
    if name == "run_table1":
        from bench.reports.results import run_table1

        return run_table1
    if name == "load_results":
        from bench.reports.results import load

        return load
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
