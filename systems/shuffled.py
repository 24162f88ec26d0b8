"""``shuffled``: the adherence floor. Returns a clip of the evaluation pool, drawn from the
item's seed, that is none of the item's references."""

from __future__ import annotations

import numpy as np

from bench.core.registry import register
from bench.core.system import System


@register
class Shuffled(System):
    name = "shuffled"
    description = "returns an unrelated clip of the evaluation set (floor)"

    def _unrelated(self, seed: int, excluded: set[str]) -> np.ndarray:
        candidates = [i for i, clip_id in enumerate(self.context.pool_ids) if clip_id not in excluded]
        if not candidates:
            raise ValueError("shuffled needs at least one pool clip besides the references")
        index = candidates[np.random.default_rng(seed).integers(len(candidates))]
        return np.array(self.context.pool[index], dtype=np.float64)

    def conditional(self, batch):
        return np.stack([self._unrelated(seed, {ref}) for seed, ref in zip(batch.seeds, batch.reference_ids)])

    def blend(self, batch):
        return np.stack(
            [
                self._unrelated(seed, {a, b})
                for seed, a, b in zip(batch.seeds, batch.reference_ids1, batch.reference_ids2)
            ]
        )
