"""``reference``: the adherence ceiling. Conditional generation returns the conditioning clip;
blending returns the equal-gain mixture of both references (re-normalised), the naive blend."""

from __future__ import annotations

import numpy as np

from bench.core.audio import normalise_clip
from bench.core.registry import register
from bench.core.system import System


@register
class Reference(System):
    name = "reference"
    description = "returns the conditioning audio (ceiling); blend = mixture of both references"

    def conditional(self, batch):
        return np.array(batch.references, dtype=np.float64, copy=True)

    def blend(self, batch):
        return np.stack([normalise_clip(a + b) for a, b in zip(batch.references1, batch.references2)])
