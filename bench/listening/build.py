"""Build a listening study from the blending outputs of a Table 1 run.

A question is the two reference clips of one blending item and the blends of that item by two
different systems; every ordered pair of the chosen systems is one question. Stimuli are loudness
normalised (ITU-R BS.1770 via pyloudnorm) and written under random opaque names to
``STUDY/stimuli/``; ``STUDY/manifest.json`` (private, never served) maps them to systems and items
and carries the run's provenance; ``STUDY/study.json`` is what the server shows (no system names).
"""

from __future__ import annotations

import itertools
import secrets
import shutil
from pathlib import Path

import numpy as np

from bench.core.seeds import stream_rng
from bench.core.storage import atomic_write_json, content_key, file_sha256, read_json
from bench.listening.errors import StudyError

DEFAULT_SYSTEMS = ("latentft-unet", "ilvr", "cross-synthesis", "spectrogram")
DEFAULT_LUFS = -23.0
PEAK_CEILING_DBFS = -1.0
ATTENTION_SECONDS = 3.0
# the ratings the instructions ask for on the attention-check question (silent clips)
ATTENTION_ANSWER = {"quality": 1, "blending": 5}
STUDY_SCHEMA = "latentft-bench/listening-study/v1"


def _load_run(run_path: Path) -> dict:
    try:
        record = read_json(run_path)
    except FileNotFoundError:
        raise StudyError(f"{run_path}: no such run record (make one with `python -m bench table1`)") from None
    except ValueError as error:
        raise StudyError(f"{run_path}: not JSON ({error})") from None
    if not isinstance(record, dict) or not str(record.get("schema", "")).startswith("latentft-bench/table1"):
        raise StudyError(f"{run_path}: not a Table 1 run record (no latentft-bench/table1 schema)")
    return record


def _run_blend_items(record: dict):
    from bench.core.tasks import Selection, blend_items

    chosen = record["selection"]
    return blend_items(
        Selection(chosen["seed"], tuple(chosen["conditional"]), tuple(tuple(p) for p in chosen["pairs"]))
    )


def _clipset(record: dict, run_path: Path, data: str | None, data_cache: str | None):
    from bench.reports.results import ResultsError, run_clipset

    try:
        return run_clipset(record, run_path, data, data_cache)
    except ResultsError as error:
        raise StudyError(str(error)) from None


def _local_paths(value):
    """``value`` with the paths a written record made portable (bench/reports/tables.py:
    ``portable_paths``: ``~/...``, repository-relative) made this machine's again: ``~`` -> the home
    folder, a relative path that exists in this checkout -> its absolute path."""
    from bench.core.paths import REPO_ROOT

    if isinstance(value, str):
        if value == "~" or value.startswith("~/"):
            return str(Path(value).expanduser())
        if value == ".":
            return str(REPO_ROOT)
        if value and not Path(value).is_absolute() and "/" in value and (REPO_ROOT / value).exists():
            return str(REPO_ROOT / value)
        return value
    if isinstance(value, dict):
        return {key: _local_paths(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_local_paths(item) for item in value)
    return value


def _fingerprints(row: dict) -> list[dict]:
    """The fingerprints a row's outputs may be cached under: as written, and with its paths made local
    again (a system with weight files in its options, e.g. vampnet's codec/coarse/c2f, was run with
    the paths as the user gave them; the record names them portably)."""
    written = row["fingerprint"]
    local = _local_paths(written)
    return [written] if local == written else [written, local]


def _blend_outputs(record: dict, run_path: Path, systems, clipset, cache_dir: Path) -> dict:
    """{system: {item key: audio path}} for the items each system blended successfully."""
    from bench.core.runner import OutputStore, output_key
    from bench.core.system import BLEND
    from bench.core.tasks import item_seed

    items = _run_blend_items(record)
    outputs = {}
    for name in systems:
        row = record["rows"].get(name)
        if row is None:
            why = record.get("unavailable", {}).get(name, {}).get("reason")
            raise StudyError(
                f"{run_path}: system {name!r} has no row in this run"
                + (f" (not run: {why})" if why else f"; rows: {', '.join(record['rows'])}")
            )
        if BLEND not in row.get("tasks", {}):
            raise StudyError(
                f"{run_path}: system {name!r} has no blending outputs in this run "
                "(it does not blend, or the run's --tasks left blending out)"
            )
        store = OutputStore(cache_dir, name)
        found = {}
        for item in items:
            seed = item_seed(record["config"]["seed"], BLEND, item)
            for fingerprint in _fingerprints(row):
                key = output_key(fingerprint, BLEND, item, clipset, seed)
                meta = store.record(key)
                # the bytes must match the record's hash: per-item files are renamed into place, not fsynced
                if meta and meta.get("ok") and store.verified_audio(key, meta["sha256"]) is not None:
                    found[item.key] = store.dir / f"{key}.npy"
                    break
        if not found:
            raise StudyError(
                f"{run_path}: no blending output of {name!r} in the cache {cache_dir} "
                "(run the table again with this cache, or pass --cache)"
            )
        outputs[name] = found
    return outputs


def build_study(
    run_path: str | Path,
    out: str | Path,
    systems=DEFAULT_SYSTEMS,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    data: str | None = None,
    data_cache: str | None = None,
    lufs: float = DEFAULT_LUFS,
) -> dict:
    """Write the study folder ``out``; return its private manifest."""
    from bench.core.audio import SAMPLE_RATE
    from bench.core.paths import REPO_ROOT
    from bench.listening.stimuli import loudness_normalise, write_wav

    run_path, out = Path(run_path), Path(out)
    systems = list(dict.fromkeys(systems))
    if len(systems) < 2:
        raise StudyError(f"--systems: a pairwise study needs at least two systems, got {systems}")
    if (out / "study.db").exists():
        raise StudyError(f"{out}: already holds a study with answers (study.db); choose another --out")
    if (out / "stimuli").exists() and any((out / "stimuli").iterdir()):
        if not (out / "manifest.json").exists():
            raise StudyError(f"{out}/stimuli: exists and is not from a study build; choose another --out")
        shutil.rmtree(out / "stimuli")  # a study rebuilt before anyone answered: its old stimuli go
    record = _load_run(run_path)
    cache_dir = Path(cache_dir) if cache_dir else REPO_ROOT / "results" / "cache"
    clipset = _clipset(record, run_path, data, data_cache)
    outputs = _blend_outputs(record, run_path, systems, clipset, cache_dir)
    items = {item.key: item for item in _run_blend_items(record)}
    rng = stream_rng(seed, "listening-order")
    names: set[str] = set()

    def opaque() -> str:
        name = secrets.token_hex(16) + ".wav"
        names.add(name)
        return name

    stimuli_dir = out / "stimuli"
    stimuli_dir.mkdir(parents=True, exist_ok=True)
    private, public = {}, []

    def write(audio: np.ndarray, what: dict) -> str:
        name = opaque()
        normalised, level = loudness_normalise(audio, SAMPLE_RATE, lufs, PEAK_CEILING_DBFS)
        write_wav(stimuli_dir / name, normalised, SAMPLE_RATE)
        private[name] = {**what, **level, "sha256": file_sha256(str(stimuli_dir / name))}
        return name

    reference_files: dict[str, str] = {}
    for index, (first, second) in enumerate(itertools.permutations(systems, 2)):
        common = sorted(set(outputs[first]) & set(outputs[second]))
        if not common:
            raise StudyError(f"{run_path}: {first} and {second} have no blending item in common")
        item = items[common[int(rng.integers(len(common)))]]
        refs = []
        for clip_id in (item.clip_id1, item.clip_id2):
            if clip_id not in reference_files:
                audio = np.asarray(clipset.clips[clipset.index(clip_id)], dtype=np.float64)
                reference_files[clip_id] = write(audio, {"kind": "reference", "clip": clip_id})
            refs.append(reference_files[clip_id])
        blends = [
            write(
                np.load(outputs[s][item.key]).astype(np.float64),
                {
                    "kind": "blend",
                    "system": s,
                    "item": item.key,
                    "band1": item.band1.name,
                    "band2": item.band2.name,
                },
            )
            for s in (first, second)
        ]
        public.append({"id": f"q{index + 1:02d}", "references": refs, "blends": blends})
        private.setdefault("_questions", {})[f"q{index + 1:02d}"] = {
            "first_system": first,
            "second_system": second,
            "item": item.key,
            "band1": item.band1.name,
            "band2": item.band2.name,
        }
    silence = np.zeros(int(ATTENTION_SECONDS * SAMPLE_RATE))
    attention = []
    for _ in range(4):
        name = opaque()
        write_wav(stimuli_dir / name, silence, SAMPLE_RATE)
        private[name] = {"kind": "attention", "sha256": file_sha256(str(stimuli_dir / name))}
        attention.append(name)
    tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE)
    volume = write(tone, {"kind": "volume-check", "description": "440 Hz tone"})
    questions = private.pop("_questions")
    normalised = [v for v in private.values() if "output_lufs" in v]
    limited = [v for v in normalised if v["peak_limited"]]
    common_level = min(v["loudest_unlimited_lufs"] for v in normalised)
    manifest = {
        "schema": STUDY_SCHEMA,
        "systems": systems,
        "seed": seed,
        "loudness": {
            "target_lufs": lufs,
            "standard": "ITU-R BS.1770-4 (pyloudnorm)",
            "peak_ceiling_dbfs": PEAK_CEILING_DBFS,
            "peak_limited": len(limited),
            "output_lufs_range": [
                min(v["output_lufs"] for v in normalised),
                max(v["output_lufs"] for v in normalised),
            ],
            "loudest_common_lufs": round(common_level, 2),
        },
        "questions": questions,
        "stimuli": private,
        "attention_answer": ATTENTION_ANSWER,
        "run": {
            "path": str(run_path),
            "sha256": file_sha256(str(run_path)),
            "dataset": record["dataset"],
            "config": record["config"],
            "vocoder": record.get("vocoder"),
            "embedder": record.get("embedder"),
            "git": record.get("environment", {}).get("git"),
            "fingerprints": {s: record["rows"][s]["fingerprint"] for s in systems},
        },
        "study_id": content_key(file_sha256(str(run_path)), systems, seed, lufs)[:12],
    }
    study = {
        "schema": STUDY_SCHEMA,
        "study_id": manifest["study_id"],
        "questions": public,
        "attention": {"id": "attention", "references": attention[:2], "blends": attention[2:]},
        "volume_check": volume,
        "attention_answer": ATTENTION_ANSWER,
        "target_lufs": lufs,
    }
    atomic_write_json(out / "manifest.json", manifest)
    atomic_write_json(out / "study.json", study)
    return manifest
