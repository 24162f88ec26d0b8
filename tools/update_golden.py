"""Rewrite results/golden/smoke.json from a fresh smoke run (make regress-update). Only on purpose:
a changed golden value is a changed metric, and the commit that changes it says why.

    python -m tools.update_golden [--progress]
"""

from __future__ import annotations

import argparse

from bench.core import determinism

determinism.apply()  # before numpy and torch load: the golden values are made under the pins

from bench.experiments.drift import write_golden  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--progress", action="store_true")
    raise SystemExit(write_golden(progress=parser.parse_args().progress))
