"""bench.models (pyproject.toml package-dir maps this folder; bench/core/paths.py)."""

from bench.core.paths import step_aside

step_aside(__name__)
