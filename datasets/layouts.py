"""Known dataset layouts for ``--data DIR``: which files a folder's documented split holds.

- GTZAN: ``genres_original/<genre>/*.wav`` (also under ``Data/``), the original ``genres/<genre>/*.au``,
  or DIR holding at least five of the ten genre folders itself;
  no official split, so every track of the ten genre folders ("all").
- MAESTRO: ``maestro-v*.csv`` (``canonical_composer,canonical_title,split,year,midi_filename,
  audio_filename,duration``); the rows whose ``split`` is ``test``.
- MTG-Jamendo: the autotagging split files of mtg-jamendo-dataset (``data/splits/split-0/
  autotagging-test.tsv``, also ``splits/...`` or ``split-0/...``): TSV, header ``TRACK_ID ARTIST_ID
  ALBUM_ID PATH DURATION TAGS`` (one tab-separated field per tag), ``PATH`` like ``14/1234.mp3``
  under ``audio/`` (or DIR itself); the audio-low download's ``14/1234.low.mp3`` is found too.
- MUSDB18-HQ: ``test/<track>/mixture.wav``.

A ``--split-file`` replaces the documented split: an MTG-Jamendo TSV (any of its split files) or a
list of paths, one per line (``#`` comments), relative to the layout's audio folder or to DIR; a
MUSDB18-HQ line may name a track folder. Any other folder is not a layout (``detect`` gives None)
and is read as before by ``datasets/folder.py``.
"""

from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
GTZAN_SUFFIXES = (".wav", ".au")
MTG_HEADER = ("TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION", "TAGS")
MAESTRO_COLUMNS = ("split", "audio_filename")


class LayoutError(ValueError):
    """A dataset folder whose metadata cannot be used; the message names the file."""


@dataclass(frozen=True)
class Layout:
    dataset: str  # gtzan | maestro | mtg-jamendo | musdb18-hq
    title: str  # as printed above the table, e.g. "MAESTRO v3.0.0"
    split: str  # "test", "split-0 test", "all", or the user's split file name
    split_source: str  # the metadata file the split was read from (relative to DIR)
    audio_root: Path
    files: tuple[Path, ...]
    listed: int  # entries the split names (found or not)
    missing: tuple[str, ...]  # entries named by the split but not on disk
    paper_table: str | None = None

    @property
    def name(self) -> str:
        return re.sub(r"[^a-z0-9.]+", "-", f"{self.dataset}-{self.split}".lower()).strip("-")

    def record(self) -> dict:
        return {
            "dataset": self.dataset,
            "title": self.title,
            "split": self.split,
            "split_source": self.split_source,
            "listed": self.listed,
            "found": len(self.files),
            "missing": len(self.missing),
            "paper_table": self.paper_table,
        }


def resolve(folder: str | Path, split_file: str | Path | None = None, strict: bool = False) -> Layout | None:
    """The layout of ``folder`` with its split resolved, or None when the folder is no known dataset."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    for detect in (_musdb, _maestro, _mtg_jamendo, _gtzan):
        layout = detect(folder, Path(split_file) if split_file else None)
        if layout is not None:
            break
    else:
        return None
    if layout.missing:
        message = (
            f"{layout.title} {layout.split} ({layout.split_source}): {len(layout.missing)} of "
            f"{layout.listed} listed file(s) not found under {layout.audio_root}, "
            f"e.g. {layout.missing[0]}"
        )
        if strict or not layout.files:
            raise LayoutError(message)
        warnings.warn(message)
    return layout


def _relative(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _user_split(folder: Path, audio_root: Path, split_file: Path, track_file: str | None = None):
    """Files a plain split list names (relative to ``audio_root`` or ``folder``), and the missing."""
    if not split_file.is_file():
        raise LayoutError(f"split file not found: {split_file}")
    files, missing, listed = [], [], 0
    for line in split_file.read_text().splitlines():
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        listed += 1
        for base in (audio_root, folder):
            candidate = base / entry
            if track_file and candidate.is_dir():
                candidate = candidate / track_file
            if candidate.is_file():
                files.append(candidate)
                break
        else:
            missing.append(entry)
    return files, missing, listed


def _gtzan(folder: Path, split_file: Path | None) -> Layout | None:
    for candidate, least in (
        (folder / "genres_original", 1),
        (folder / "Data" / "genres_original", 1),
        (folder / "genres", 1),
        (folder, 5),
    ):  # DIR itself: most of the ten genres
        genres = [g for g in GTZAN_GENRES if (candidate / g).is_dir()]
        if len(genres) >= least:
            root = candidate
            break
    else:
        return None
    if split_file is not None:
        files, missing, listed = _user_split(folder, root, split_file)
        split = split_file.name
    else:
        files = sorted(
            p
            for g in genres
            for p in (root / g).iterdir()
            if p.is_file() and p.suffix.lower() in GTZAN_SUFFIXES
        )
        missing, listed, split = [], len(files), "all"
    source = split_file.name if split_file else (_relative(root, folder) if root != folder else ".")
    return Layout("gtzan", "GTZAN", split, source, root, tuple(files), listed, tuple(missing))


def _maestro(folder: Path, split_file: Path | None) -> Layout | None:
    tables = sorted(folder.glob("maestro-v*.csv"), key=lambda p: [int(n) for n in re.findall(r"\d+", p.stem)])
    if not tables:
        return None
    table = tables[-1]
    version = table.stem[len("maestro-") :]
    title = f"MAESTRO {version}"
    if split_file is not None:
        files, missing, listed = _user_split(folder, folder, split_file)
        return Layout(
            "maestro",
            title,
            split_file.name,
            split_file.name,
            folder,
            tuple(files),
            listed,
            tuple(missing),
            "Table 12",
        )
    with table.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        absent = [c for c in MAESTRO_COLUMNS if c not in (reader.fieldnames or [])]
        if absent:
            raise LayoutError(f"{table}: no {' / '.join(absent)} column (header: {reader.fieldnames})")
        wanted = [row["audio_filename"] for row in reader if row["split"] == "test"]
    if not wanted:
        raise LayoutError(f"{table}: no row has split 'test'")
    files = [folder / w for w in wanted if (folder / w).is_file()]
    missing = [w for w in wanted if not (folder / w).is_file()]
    return Layout(
        "maestro", title, "test", table.name, folder, tuple(files), len(wanted), tuple(missing), "Table 12"
    )


def _mtg_split_file(folder: Path) -> Path | None:
    for base in (folder / "data" / "splits", folder / "splits", folder):
        candidate = base / "split-0" / "autotagging-test.tsv"
        if candidate.is_file():
            return candidate
    return None


def _mtg_paths(tsv: Path) -> list[str]:
    with tsv.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.reader(stream, delimiter="\t"))
    if not rows or tuple(rows[0][:5]) != MTG_HEADER[:5]:
        raise LayoutError(
            f"{tsv}: not an MTG-Jamendo split file (expected the header "
            f"{' '.join(MTG_HEADER)}, found {' '.join(rows[0]) if rows else 'an empty file'})"
        )
    bad = next((n for n, row in enumerate(rows[1:], start=2) if len(row) < 5), None)
    if bad is not None:
        raise LayoutError(f"{tsv}: line {bad} has fewer than 5 tab-separated fields")
    return [row[3] for row in rows[1:]]


def _is_mtg_tsv(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as stream:
        return stream.readline().startswith("TRACK_ID\t")


def _mtg_jamendo(folder: Path, split_file: Path | None) -> Layout | None:
    default = _mtg_split_file(folder)
    if default is None:
        return None
    audio_root = folder / "audio" if (folder / "audio").is_dir() else folder
    if split_file is not None and not (split_file.is_file() and _is_mtg_tsv(split_file)):
        files, missing, listed = _user_split(folder, audio_root, split_file)
        return Layout(
            "mtg-jamendo",
            "MTG-Jamendo",
            split_file.name,
            split_file.name,
            audio_root,
            tuple(files),
            listed,
            tuple(missing),
        )
    tsv = split_file or default
    paths = _mtg_paths(tsv)
    files, missing = [], []
    for rel in paths:
        found = next(
            (p for p in (audio_root / rel, audio_root / re.sub(r"\.mp3$", ".low.mp3", rel)) if p.is_file()),
            None,
        )
        if found:
            files.append(found)
        else:
            missing.append(rel)
    match = re.fullmatch(r"(.+)-(train|validation|test)", tsv.stem)
    split = (
        f"{tsv.parent.name} {match.group(2)}"
        if match and match.group(1) == "autotagging"
        else f"{tsv.parent.name} {tsv.stem}"
    )
    source = _relative(tsv, folder) if tsv.is_relative_to(folder) else tsv.name
    return Layout(
        "mtg-jamendo", "MTG-Jamendo", split, source, audio_root, tuple(files), len(paths), tuple(missing)
    )


def _musdb(folder: Path, split_file: Path | None) -> Layout | None:
    test = folder / "test"
    if not test.is_dir():
        return None
    tracks = sorted(p for p in test.iterdir() if (p / "mixture.wav").is_file())
    if not tracks:
        if any(test.glob("*.stem.mp4")):
            raise LayoutError(
                f"{test}: MUSDB18 .stem.mp4 files are not read; use MUSDB18-HQ "
                "(test/<track>/mixture.wav), e.g. decoded with musdb's musdbconvert"
            )
        return None
    if split_file is not None:
        files, missing, listed = _user_split(folder, test, split_file, track_file="mixture.wav")
        return Layout(
            "musdb18-hq",
            "MUSDB18-HQ",
            split_file.name,
            split_file.name,
            test,
            tuple(files),
            listed,
            tuple(missing),
        )
    files = [t / "mixture.wav" for t in tracks]
    return Layout(
        "musdb18-hq", "MUSDB18-HQ", "test", "test/*/mixture.wav", test, tuple(files), len(files), ()
    )
