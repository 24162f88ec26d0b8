"""Work items of the Table 1 tasks, with the seeded clip selection (protocol.md section 2)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from bench.core.bands import BLEND_PAIRS, CONDITIONAL_BANDS, Band
from bench.core.seeds import stream_rng, stream_seed


@dataclass(frozen=True)
class ConditionalItem:
    clip_id: str
    band: Band

    @property
    def key(self) -> str:
        return f"{self.clip_id}|{self.band.name}"

    @property
    def group(self) -> str:
        return self.band.name


@dataclass(frozen=True)
class BlendItem:
    clip_id1: str
    clip_id2: str
    band1: Band
    band2: Band

    @property
    def key(self) -> str:
        return f"{self.clip_id1}|{self.clip_id2}|{self.band1.name}|{self.band2.name}"

    @property
    def group(self) -> str:
        return f"{self.band1.name}+{self.band2.name}"


@dataclass(frozen=True)
class Selection:
    seed: int
    conditional: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict:
        return {
            "seed": self.seed,
            "conditional": list(self.conditional),
            "pairs": [list(p) for p in self.pairs],
        }


def select_clips(ids: list[str], n_conditional: int, n_pairs: int, seed: int) -> Selection:
    """A seeded permutation of the pool; conditional uses its first n clips, blending pairs
    clip i with clip i + n_pairs (as the paper pairs clip i with clip i + 1024)."""
    if len(ids) < 2:
        raise ValueError(f"the evaluation set has {len(ids)} clip(s); at least 2 are needed")
    order = [ids[i] for i in stream_rng(seed, "clip-selection").permutation(len(ids))]
    n_conditional = min(n_conditional, len(order))
    n_pairs = min(n_pairs, len(order) // 2)
    pairs = tuple((order[i], order[i + n_pairs]) for i in range(n_pairs))
    return Selection(seed, tuple(order[:n_conditional]), pairs)


def scale_shortfall(selection: Selection, n_conditional: int, n_pairs: int, n_clips: int) -> dict:
    """What the scale asked for and the evaluation set could not give, per task (empty when
    nothing was reduced); each is also issued as a warning."""
    shortfall = {}
    if len(selection.conditional) < n_conditional:
        shortfall["conditional"] = {
            "asked": n_conditional,
            "used": len(selection.conditional),
            "reason": f"the evaluation set has {n_clips} usable clips",
        }
    if len(selection.pairs) < n_pairs:
        shortfall["blend"] = {
            "asked": n_pairs,
            "used": len(selection.pairs),
            "reason": f"the evaluation set has {n_clips} usable clips and pairing clip i "
            f"with clip i + n takes 2 n distinct clips",
        }
    for task, entry in shortfall.items():
        warnings.warn(f"scale reduced: {shortfall_text(task, entry)}")
    return shortfall


def shortfall_text(task: str, entry: dict) -> str:
    unit = "clips" if task == "conditional" else "pairs"
    return f"{task}: {entry['used']} of the {entry['asked']} {unit} the scale asks for ({entry['reason']})"


def conditional_items(selection: Selection) -> list[ConditionalItem]:
    return [ConditionalItem(c, b) for b in CONDITIONAL_BANDS for c in selection.conditional]


def blend_items(selection: Selection) -> list[BlendItem]:
    return [BlendItem(a, b, b1, b2) for b1, b2 in BLEND_PAIRS for a, b in selection.pairs]


def item_seed(run_seed: int, task: str, item) -> int:
    """Per-item seed: the same whatever the batch or the order, shared by all systems."""
    return stream_seed(run_seed, "item", task, item.key)
