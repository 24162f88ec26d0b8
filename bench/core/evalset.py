"""The evaluation set a run scores: the embedded music21 set or the user's folder of audio."""

from __future__ import annotations

from pathlib import Path

from bench.core.config import RunConfig
from bench.datasets.clipset import ClipSet

EMBEDDED_DATASET_VERSION = "music21-r2"


def load_dataset(config: RunConfig, progress: bool = True) -> ClipSet:
    cache_root = Path(config.data_cache_dir)
    if config.data:
        from bench.datasets.folder import load_folder

        return load_folder(
            config.data, cache_root, seed=config.data_seed, split_file=config.split_file, strict=config.strict
        )
    n = config.scale_spec.dataset_clips
    return embedded_dataset(n, config.data_seed, cache_root, "test")


def embedded_dataset(n: int, seed: int, cache_root: Path, split: str) -> ClipSet:
    """The music21 set of ``split`` ("test" evaluates, "train" trains), rendered once and cached."""
    from bench.datasets.music21_render import build, load_speed_independent_dataset

    root = Path(cache_root) / f"{EMBEDDED_DATASET_VERSION}-{split}-s{seed}-n{n}"
    if (root / "manifest.json").exists():
        cached = load_speed_independent_dataset(root)
        if cached is not None:
            return cached
    print(f"rendering {n} music21 clips ({split} split) into {root} ...", flush=True)
    return build(n, seed, root, split=split)
