"""Any local folder of audio as an evaluation set (MTG-Jamendo, GTZAN, your own...).

Files (wav/flac/mp3/ogg/aiff, any sample rate, stereo folded to mono) are found recursively
and sorted; an optional split file lists the relative paths to keep, one per line (``#``
comments allowed). Each file is resampled to 22050 Hz with the Kaiser sinc resampler, cut into
131072-sample chunks, normalised, quiet chunks dropped, and one chunk per file ("one per song")
is drawn from the seed. A file that cannot be used (unreadable, empty, silent, too short, too
quiet, a dangling symbolic link) is recorded with its reason in the manifest's ``skipped`` list;
every load, cached or not, names each one in a warning, and ``strict=True`` raises one
:class:`DatasetError` naming them all. Prepared clips are cached by the folder's file list (path,
size, mtime).
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path

import numpy as np

from bench.core.audio import (
    AUDIO_SUFFIXES,
    CLIP_SAMPLES,
    RESAMPLER_ID,
    SAMPLE_RATE,
    AudioError,
    chunk_track,
    load_audio,
    no_clip_reason,
    resample,
)
from bench.core.seeds import stream_rng
from bench.datasets.clipset import ClipSet, clip_hash
from bench.datasets.layouts import resolve as resolve_layout

LOADER_VERSION = 1
log = logging.getLogger(__name__)


class DatasetError(ValueError):
    pass


def list_audio_files(folder: Path, split_file: Path | None = None) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"data folder not found: {folder}")
    # a dangling symbolic link is kept, to be named as such
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in AUDIO_SUFFIXES and (p.is_file() or p.is_symlink() and not p.exists())
    )
    if split_file is not None:
        wanted = []
        for line in Path(split_file).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                wanted.append(line)
        by_rel = {p.relative_to(folder).as_posix(): p for p in files}
        missing = [w for w in wanted if w not in by_rel]
        if missing:
            warnings.warn(
                f"split file {split_file}: {len(missing)} listed file(s) not found in "
                f"{folder}, e.g. {missing[0]}"
            )
        files = [by_rel[w] for w in wanted if w in by_rel]
    if not files:
        raise DatasetError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {folder}")
    return files


def _folder_key(folder: Path, files: list[Path], seed: int) -> str:
    digest = hashlib.sha256(f"{LOADER_VERSION}|{seed}|{folder.resolve()}".encode())
    for path in files:
        stat = path.stat() if path.exists() else path.lstat()
        digest.update(f"|{path.relative_to(folder).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def load_folder(
    folder: str | Path,
    cache_root: Path,
    seed: int = 0,
    split_file: str | None = None,
    strict: bool = False,
    max_files: int | None = None,
    progress=None,
) -> ClipSet:
    folder = Path(folder)
    layout = resolve_layout(folder, split_file, strict)  # a known dataset's documented split, or None
    files = (
        list(layout.files) if layout else list_audio_files(folder, Path(split_file) if split_file else None)
    )
    if max_files is not None:
        files = files[:max_files]
    name = layout.name if layout else f"folder-{folder.name}"
    cache = cache_root / f"{name}-{_folder_key(folder, files, seed)}"
    if (cache / "manifest.json").exists():
        clipset = ClipSet.load(cache)
        report_skipped(clipset.manifest, folder, strict)
        return clipset
    clips, entries, skipped = [], [], []
    for number, path in enumerate(files):
        rel = path.relative_to(folder).as_posix()
        try:
            audio, sr = load_audio(path)
            track = resample(audio, sr, SAMPLE_RATE)
            chunks = chunk_track(track)
            if not chunks:
                reason = no_clip_reason(track)
                raise AudioError(f"{path}: {reason}", reason)
        except AudioError as error:
            skipped.append({"file": rel, "reason": error.reason})
            continue
        rng = stream_rng(seed, "folder-chunk", rel)
        chunk_index = int(rng.integers(len(chunks)))
        clip = chunks[chunk_index].astype(np.float32)
        clips.append(clip)
        entries.append(
            {
                "id": f"{len(entries):05d}-{Path(rel).stem}"[:80],
                "file": rel,
                "source_sample_rate": sr,
                "chunk": chunk_index,
                "sha256": clip_hash(clip),
            }
        )
        if progress:
            progress(number + 1)
    if not clips:
        raise DatasetError(
            f"no usable audio in {folder} ({len(skipped)} file(s) skipped):\n" + _skip_lines(skipped)
        )
    manifest = {
        "name": name,
        "kind": "folder",
        **({"layout": layout.record()} if layout else {}),
        "loader_version": LOADER_VERSION,
        "folder": folder.name,
        "split_file": Path(split_file).name if split_file else None,
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "clip_samples": CLIP_SAMPLES,
        "resampler": RESAMPLER_ID,
        "clips": entries,
        "skipped": skipped,
    }
    clipset = ClipSet(manifest["name"], np.stack(clips), [e["id"] for e in entries], manifest)
    clipset.save(cache)
    report_skipped(manifest, folder, strict)
    return clipset


def _skip_lines(skipped: list[dict]) -> str:
    return "\n".join(f"  {s['file']}: {s['reason']}" for s in skipped)


def report_skipped(manifest: dict, folder: Path, strict: bool) -> None:
    """Name every file the set left out, from its manifest (so a cached set reports them too):
    one warning each, or with ``strict`` one DatasetError naming them all."""
    skipped = manifest.get("skipped", [])
    if strict and skipped:
        raise DatasetError(
            f"--strict: {len(skipped)} file(s) in {folder} cannot be used:\n" + _skip_lines(skipped)
        )
    for entry in skipped:
        warnings.warn(f"skipping {Path(folder) / entry['file']}: {entry['reason']}")
