import sys
from pathlib import Path

from bench.core import determinism

determinism.apply()  # the tests run under the harness's instruction-set pins, set before numpy loads

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # tools/ (developer benchmarks) imports as a package from the checkout
    sys.path.insert(0, str(ROOT))

from support.registry_guard import restore_system_registry  # noqa: E402,F401  (autouse fixture)


@pytest.fixture(scope="session")
def fixture_clips():
    from support.paths import FIXTURES

    from bench.core.audio import load_audio, normalise_clip

    return [normalise_clip(load_audio(p)[0]) for p in sorted(FIXTURES.glob("*.flac"))]


@pytest.fixture
def sine():
    def make(freq, seconds=1.0, sr=22050):
        t = np.arange(int(seconds * sr)) / sr
        return np.sin(2 * np.pi * freq * t)

    return make
