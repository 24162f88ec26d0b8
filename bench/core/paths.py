"""Where the repository is and which harness version this is (imported by every layer)."""

from pathlib import Path

VERSION = "0.1.0"
REPO_ROOT = Path(__file__).resolve().parents[2]
