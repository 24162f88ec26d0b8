"""Dataset layouts for --data (datasets/layouts.py): small folders laid out like each dataset."""

import warnings

import numpy as np
import pytest
import soundfile

from bench.commands.cli import main
from bench.core.config import RunConfig
from bench.datasets.folder import load_folder
from bench.datasets.layouts import LayoutError, resolve
from bench.reports.tables import render_markdown

MTG_HEADER = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\n"


def _tone(path, pitch, sr=22050, seconds=6.2, fmt=None):
    """A short note train: a decaying tone repeated at 2 Hz plus a little noise."""
    t = np.arange(int(sr * seconds)) / sr
    envelope = np.exp(-6 * (t % 0.5))
    audio = 0.5 * envelope * np.sin(2 * np.pi * 110 * 2 ** (pitch / 12) * t)
    audio += 0.01 * np.random.default_rng(pitch).standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, audio, sr, format=fmt)
    return path


def _maestro(root, n_test=6):
    rows = ["canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration"]
    for k in range(n_test + 3):
        split = "test" if k < n_test else ("train", "validation", "train")[k - n_test]
        name = f"2018/MIDI-Unprocessed_R1_D1-{k}_wav--1"
        _tone(root / f"{name}.wav", k)
        rows.append(f'Composer {k},"Sonata No. {k}, Op. 2",{split},2018,{name}.midi,{name}.wav,6.2')
    (root / "maestro-v3.0.0.csv").write_text("\n".join(rows) + "\n")
    return root


def test_gtzan_layouts_take_every_genre_folder(tmp_path):
    kaggle = tmp_path / "gtzan"
    for k, genre in enumerate(("blues", "jazz")):
        for n in range(2):
            _tone(kaggle / "Data" / "genres_original" / genre / f"{genre}.0000{n}.wav", 2 * k + n)
    (kaggle / "Data" / "features_30_sec.csv").write_text("filename,label\n")
    layout = resolve(kaggle)
    assert (layout.dataset, layout.split, layout.name) == ("gtzan", "all", "gtzan-all")
    assert [p.name for p in layout.files] == [
        "blues.00000.wav",
        "blues.00001.wav",
        "jazz.00000.wav",
        "jazz.00001.wav",
    ]
    original = tmp_path / "original"
    _tone(original / "genres" / "rock" / "rock.00000.au", 3, fmt="AU")
    _tone(original / "genres" / "pop" / "pop.00000.au", 5, fmt="AU")
    clips = load_folder(original, tmp_path / "cache")
    assert clips.name == "gtzan-all" and len(clips) == 2
    assert clips.manifest["layout"]["split_source"] == "genres"
    for genre in ("blues", "jazz", "metal"):
        _tone(original / "genres" / genre / f"{genre}.00000.au", 1, fmt="AU")
    assert resolve(original / "genres").split_source == "."  # DIR is the genre root itself
    split = tmp_path / "test_filtered.txt"
    split.write_text("# fault-filtered\njazz/jazz.00001.wav\nblues/blues.00042.wav\n")
    with pytest.warns(UserWarning, match=r"1 of 2 listed file\(s\) not found.*blues/blues.00042.wav"):
        chosen = resolve(kaggle, split)
    assert [p.name for p in chosen.files] == ["jazz.00001.wav"] and chosen.split == "test_filtered.txt"


def test_maestro_takes_the_test_rows_of_its_csv_and_names_table_12(tmp_path, capsys):
    root = _maestro(tmp_path / "maestro")
    layout = resolve(root)
    assert (layout.dataset, layout.title, layout.split) == ("maestro", "MAESTRO v3.0.0", "test")
    assert [p.relative_to(root).as_posix() for p in layout.files] == [
        f"2018/MIDI-Unprocessed_R1_D1-{k}_wav--1.wav" for k in range(6)
    ]
    assert layout.record() == {
        "dataset": "maestro",
        "title": "MAESTRO v3.0.0",
        "split": "test",
        "split_source": "maestro-v3.0.0.csv",
        "listed": 6,
        "found": 6,
        "missing": 0,
        "paper_table": "Table 12",
    }
    split = tmp_path / "mine.txt"
    split.write_text("2018/MIDI-Unprocessed_R1_D1-7_wav--1.wav\n")
    assert [p.name for p in resolve(root, split).files] == ["MIDI-Unprocessed_R1_D1-7_wav--1.wav"]
    (root / "2018" / "MIDI-Unprocessed_R1_D1-0_wav--1.wav").unlink()
    with pytest.raises(LayoutError, match="1 of 6 listed"):
        resolve(root, strict=True)
    (root / "maestro-v3.0.0.csv").write_text("composer,audio_filename\nA,a.wav\n")
    with pytest.raises(LayoutError, match=r"maestro-v3.0.0.csv: no split column"):
        resolve(root)
    assert main(["data", "--data", str(root)]) == 2
    assert "maestro-v3.0.0.csv: no split column" in capsys.readouterr().err


def test_mtg_jamendo_reads_the_autotagging_split_files(tmp_path):
    root = tmp_path / "mtg"
    splits = root / "data" / "splits" / "split-0"
    splits.mkdir(parents=True)
    (splits / "autotagging-test.tsv").write_text(
        MTG_HEADER
        + "track_0000214\tartist_000014\talbum_000031\t14/214.mp3\t124.6\tgenre---punkrock\n"
        + "track_1048592\tartist_424343\talbum_123552\t92/1048592.mp3\t238.2\tgenre---electronic"
        "\tinstrument---synthesizer\tinstrument---voice\n"
        + "track_0786434\tartist_368880\talbum_092222\t34/786434.mp3\t460.8\tgenre---house\n"
    )
    (splits / "autotagging-train.tsv").write_text(
        MTG_HEADER + "track_0000215\tartist_000014\talbum_000031\t15/215.mp3\t151.4\tgenre---metal\n"
    )
    _tone(root / "audio" / "14" / "214.mp3", 0, fmt="MP3")
    _tone(root / "audio" / "92" / "1048592.low.mp3", 4, fmt="MP3")  # the audio-low download's name
    _tone(root / "audio" / "15" / "215.mp3", 7, fmt="MP3")
    with pytest.warns(UserWarning, match=r"1 of 3 listed file\(s\) not found.*34/786434.mp3"):
        layout = resolve(root)
    assert (layout.dataset, layout.split) == ("mtg-jamendo", "split-0 test")
    assert layout.name == "mtg-jamendo-split-0-test"
    assert layout.split_source == "data/splits/split-0/autotagging-test.tsv"
    assert [p.relative_to(root).as_posix() for p in layout.files] == [
        "audio/14/214.mp3",
        "audio/92/1048592.low.mp3",
    ]
    train = resolve(root, splits / "autotagging-train.tsv")
    assert train.split == "split-0 train" and [p.name for p in train.files] == ["215.mp3"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("TRACK_ID\tPATH\nt\t14/214.mp3\n")
    with pytest.raises(LayoutError, match="bad.tsv: not an MTG-Jamendo split file"):
        resolve(root, bad)


def test_musdb18_hq_takes_the_test_mixtures_only(tmp_path):
    root = tmp_path / "musdb18hq"
    for k, track in enumerate(("Al James - Schoolboy Facination", "Zeno - Signs")):
        for stem in ("mixture", "vocals", "drums"):
            _tone(root / "test" / track / f"{stem}.wav", k + len(stem))
    _tone(root / "train" / "A Classic Education - NightOwl" / "mixture.wav", 9)
    layout = resolve(root)
    assert (layout.dataset, layout.split) == ("musdb18-hq", "test")
    assert [p.relative_to(root).as_posix() for p in layout.files] == [
        "test/Al James - Schoolboy Facination/mixture.wav",
        "test/Zeno - Signs/mixture.wav",
    ]
    split = tmp_path / "one.txt"
    split.write_text("Zeno - Signs\n")
    assert [p.parent.name for p in resolve(root, split).files] == ["Zeno - Signs"]
    stems = tmp_path / "musdb18"
    (stems / "test").mkdir(parents=True)
    (stems / "test" / "Zeno - Signs.stem.mp4").write_bytes(b"\x00")
    with pytest.raises(LayoutError, match="stem.mp4"):
        resolve(stems)


def test_any_other_folder_is_no_layout(tmp_path):
    _tone(tmp_path / "songs" / "a.wav", 0)
    (tmp_path / "songs" / "test").mkdir()
    assert resolve(tmp_path / "songs") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clips = load_folder(tmp_path / "songs", tmp_path / "cache")
    assert clips.name == "folder-songs" and "layout" not in clips.manifest


@pytest.mark.slow
def test_a_maestro_run_names_dataset_and_split_in_record_and_title(tmp_path):
    from bench.core.runner import run_table1

    root = _maestro(tmp_path / "maestro")
    config = RunConfig(
        scale="smoke",
        data=str(root),
        systems=("reference",),
        tasks=("conditional",),
        cache_dir=str(tmp_path / "cache"),
        data_cache_dir=str(tmp_path / "data"),
        out_dir=str(tmp_path / "out"),
        progress=False,
    )
    record = run_table1(config)
    assert record["dataset"]["name"] == "maestro-test" and record["dataset"]["n_clips"] == 6
    assert record["dataset"]["layout"]["split"] == "test"
    markdown = render_markdown(record)
    assert markdown.startswith(
        "### MAESTRO v3.0.0, test split (6 of 6 listed files from "
        "`maestro-v3.0.0.csv`, 6 clips; the paper's Table 12 setting)\n\n| system |"
    )
    assert "Dataset `maestro-test`" in markdown
