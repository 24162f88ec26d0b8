"""bench.systems.families (pyproject.toml package-dir maps this folder; bench/core/paths.py)."""
