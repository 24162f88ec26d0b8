"""Where the harness's code, its shipped files and its working folders are (imported by every layer).

Two layouts, one set of import names (``bench.systems``, ``bench.models``, ``bench.metrics``,
``bench.datasets``, mapped by pyproject.toml's ``package-dir``):

- a source checkout (installed editable, as the Makefile does): ``systems/``, ``models/``,
  ``metrics/`` and ``datasets/`` beside ``bench/`` at the repository root;
- an installed wheel: the same folders inside the ``bench`` package in site-packages.

:data:`WORK_ROOT` is where runs, caches, checkpoints and figures go (``results/``,
``datasets/cache/``): ``$LATENTFT_BENCH_HOME`` when set, else the checkout's root, else the
current directory.
"""

import os
from pathlib import Path

VERSION = "0.1.0"
PROJECT_FOLDERS = ("systems", "models", "metrics", "datasets")  # bench.<folder>
HOME_ENV = "LATENTFT_BENCH_HOME"

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the ``bench`` package's folder
CHECKOUT_ROOT: Path | None = (
    PACKAGE_DIR.parent
    if ((PACKAGE_DIR.parent / "pyproject.toml").is_file() and (PACKAGE_DIR.parent / "systems").is_dir())
    else None
)
SUBPACKAGE_DIRS = {name: (CHECKOUT_ROOT or PACKAGE_DIR) / name for name in PROJECT_FOLDERS}
WORK_ROOT = (
    Path(os.environ[HOME_ENV]).resolve() if os.environ.get(HOME_ENV) else (CHECKOUT_ROOT or Path.cwd())
)
# the root of runs and caches; in a checkout the repository root (the name kept from the checkout-only days)
REPO_ROOT = WORK_ROOT
SHIPPED_WEIGHTS_DIR = SUBPACKAGE_DIRS["models"] / "weights"


def _folders(checkout: Path | None) -> dict[str, Path]:
    if checkout is not None:
        return {name: checkout / name for name in (*PROJECT_FOLDERS, "bench")}
    return {**SUBPACKAGE_DIRS, "bench": PACKAGE_DIR}


def source_label(path: Path, checkout: Path | None = None) -> str | None:
    """A project file's path as it reads in a checkout (``systems/<name>.py``, ``bench/core/<name>.py``),
    whichever layout it is installed in (``checkout``: another checkout's root, for tests); None
    for a file outside the project."""
    resolved = path.resolve()
    for name, folder in _folders(checkout).items():
        try:
            return (Path(name) / resolved.relative_to(folder.resolve())).as_posix()
        except ValueError:
            continue
    return None


def source_file(label: str, checkout: Path | None = None) -> Path:
    """The file behind a checkout-style label (the inverse of :func:`source_label`)."""
    first, _, rest = label.partition("/")
    return _folders(checkout)[first] / rest


def shown_path(path: str | Path) -> str:
    """A path as records and messages show it: checkout-style for the project's own files (shipped
    weights read ``models/weights/...`` in a wheel too), relative to :data:`WORK_ROOT` for runs and
    checkpoints, else absolute."""
    path = Path(path).resolve()
    label = source_label(path)
    if label is not None:
        return label
    return str(path.relative_to(WORK_ROOT)) if path.is_relative_to(WORK_ROOT) else str(path)


def step_aside(name: str) -> None:
    """Called first by the ``__init__.py`` of ``systems/``, ``models/``, ``metrics/`` and
    ``datasets/``. Imported as ``bench.<folder>`` it does nothing. Imported under its bare name
    (``import datasets`` while the checkout's root is on ``sys.path``, as when Python runs from
    it), it loads the installed package of that name in its place, or fails as if the folder were
    not there: the folders never shadow Hugging Face's ``datasets`` or any other package."""
    if "." in name or CHECKOUT_ROOT is None:
        return
    import importlib.util
    import sys
    from importlib.machinery import PathFinder

    elsewhere = [entry for entry in sys.path if Path(entry or ".").resolve() != CHECKOUT_ROOT]
    spec = PathFinder.find_spec(name, elsewhere)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
