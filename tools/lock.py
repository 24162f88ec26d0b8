"""Write the Makefile's pinned environment from the current virtual environment (make lock):

- ``requirements.lock``: the package's core dependencies (pyproject.toml ``dependencies``) and
  everything they need, at the versions installed: what ``make table1`` installs;
- ``requirements-dev.lock``: every other installed distribution (extras, test and lint tools, the
  packages installed without their declared dependencies): what ``make test`` adds.

Both are installed with ``pip install --no-deps``, so the environment is exactly the listed set.

    .venv/bin/python -m tools.lock
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
OWN = "latentft-bench"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    return canonical(re.split(r"[ ;<>=!~\[(]", spec.strip(), maxsplit=1)[0])


def installed() -> dict[str, metadata.Distribution]:
    return {canonical(d.metadata["Name"]): d for d in metadata.distributions()}


def closure(roots: list[str], dists: dict[str, metadata.Distribution]) -> set[str]:
    seen: set[str] = set()
    queue = [requirement_name(r) for r in roots]
    while queue:
        name = queue.pop()
        if name in seen or name not in dists:
            continue
        seen.add(name)
        for spec in dists[name].requires or []:
            if "extra ==" in spec:
                continue
            marker = spec.split(";", 1)[1] if ";" in spec else ""
            if marker and not _marker_holds(marker):
                continue
            queue.append(requirement_name(spec))
    return seen


def _marker_holds(marker: str) -> bool:
    from packaging.markers import Marker

    return Marker(marker).evaluate()


def lines(names: set[str], dists: dict[str, metadata.Distribution]) -> str:
    return "".join(f"{dists[n].metadata['Name']}=={dists[n].version}\n" for n in sorted(names))


def main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dists = installed()
    skip = {canonical(OWN), "pip", "setuptools", "wheel"}
    core = closure(project["dependencies"], dists) - skip
    rest = set(dists) - core - skip
    header = "# written by tools/lock.py from the Makefile's .venv; installed with pip --no-deps\n"
    (ROOT / "requirements.lock").write_text(header + lines(core, dists))
    (ROOT / "requirements-dev.lock").write_text(header + lines(rest, dists))
    print(f"requirements.lock: {len(core)} packages; requirements-dev.lock: {len(rest)}")


if __name__ == "__main__":
    main()
