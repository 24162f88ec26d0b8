"""A user's runs go to results/runs/NAME/ (gitignored), results/runs/latest points at the last one,
the commands that read a run find it, and committed results name no path of the machine that made them."""

import json
import re
import shutil
import subprocess

import pytest
from conftest import FIXTURES
from test_results_api import assert_format_gives_the_record

from bench.core.paths import REPO_ROOT

SYSTEMS = "spectrogram,reference"
NAME = f"smoke-seed0-{FIXTURES.name}-spectrogram+reference"  # scale, seed, data folder, systems


def _table1(tmp, *extra):
    from bench.commands.cli import main

    return main(
        [
            "table1",
            "--scale",
            "smoke",
            "--data",
            str(FIXTURES),
            "--systems",
            SYSTEMS,
            "--cache",
            str(tmp / "cache"),
            "--data-cache",
            str(tmp / "data"),
            "--no-progress",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One smoke table1 without --out, the runs folder pointed at a temporary one."""
    tmp = tmp_path_factory.mktemp("runs")
    committed = {p: p.read_bytes() for p in (REPO_ROOT / "results").glob("table1*")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_RUNS_DIR", str(tmp / "runs"))
        assert _table1(tmp) == 0
        yield tmp
    assert {p: p.read_bytes() for p in (REPO_ROOT / "results").glob("table1*")} == committed


@pytest.fixture
def runs_env(run, monkeypatch):
    monkeypatch.setenv("BENCH_RUNS_DIR", str(run / "runs"))
    return run


def test_a_run_without_out_goes_to_a_folder_named_by_its_config_and_becomes_the_latest(runs_env):
    folder = runs_env / "runs" / NAME
    assert sorted(p.name for p in folder.iterdir()) == [
        "table1.csv",
        "table1.json",
        "table1.md",
        "table1_bands.csv",
        "table1_items.csv",
    ]
    assert (runs_env / "runs" / "latest").read_text() == f"{NAME}/table1.json\n"
    assert not list(runs_env.glob("runs/.*.tmp"))  # the pointer was written atomically (no temporary left)


def test_out_names_a_folder_under_runs_and_a_path_is_taken_as_it_is(tmp_path, monkeypatch):
    from bench.core.config import RunConfig
    from bench.reports.results import run_folder, run_name

    monkeypatch.setenv("BENCH_RUNS_DIR", str(tmp_path))
    config = RunConfig()
    assert run_name(config) == "quick-seed0-music21"
    assert run_folder(None, config) == tmp_path / "quick-seed0-music21"
    assert run_folder("mine", config) == tmp_path / "mine"
    assert str(run_folder("./mine", config)) == "mine" and run_folder("/x/y", config).as_posix() == "/x/y"
    other = config.replace(
        seed=3, data="/data/maestro/", split_file="test.txt", systems=("a", "b"), embedder="vggish:/w/v.pth"
    )
    assert run_name(other) == "quick-seed3-maestro-test-a+b-embedder=vggish_w_v.pth"
    assert len(run_name(config.replace(systems=tuple(f"system-{i}" for i in range(30))))) == 96


@pytest.mark.parametrize("fmt", ["md", "csv", "latex", "json"])
def test_table1_prints_each_format_with_the_numbers_of_its_record(runs_env, fmt, capsys):
    capsys.readouterr()
    assert _table1(runs_env, "--format", fmt) == 0  # every item from the cache
    printed = capsys.readouterr().out
    folder = runs_env / "runs" / NAME
    record = json.loads((folder / "table1.json").read_text())
    assert_format_gives_the_record(fmt, printed, record)
    if fmt == "md":
        assert printed.startswith((folder / "table1.md").read_text())
    if fmt == "latex":
        assert (folder / "table1.tex").read_text() == printed
        (folder / "table1.tex").unlink()
    if fmt in ("csv", "json", "latex"):  # nothing but the table on stdout
        assert "wrote" not in printed


def test_commands_read_the_latest_run_and_say_so(runs_env, capsys):
    from bench.commands.cli import main

    record = runs_env / "runs" / NAME / "table1.json"
    capsys.readouterr()
    assert main(["results", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert f"reading {record}" in err and "your latest run" in err
    assert_format_gives_the_record("json", out, json.loads(record.read_text()))
    assert main(["compare", "spectrogram", "reference", "--json"]) == 0
    out, err = capsys.readouterr()
    assert f"reading {record}" in err and json.loads(out)["tasks"]["conditional"]["n_shared_items"] > 0


def test_figures_read_the_latest_run(tmp_path, monkeypatch, capsys):
    """(A smoke run pools its FAD, so it has no per-band FAD to draw: a copy of the committed quick run
    stands for the user's.)"""
    from bench.commands.cli import main

    monkeypatch.setenv("BENCH_RUNS_DIR", str(tmp_path / "runs"))
    (tmp_path / "runs" / "mine").mkdir(parents=True)
    for name in ("table1.json", "table1_bands.csv"):
        shutil.copy(REPO_ROOT / "results" / name, tmp_path / "runs" / "mine" / name)
    (tmp_path / "runs" / "latest").write_text("mine/table1.json\n")
    assert main(["figures", "--out", str(tmp_path / "figures")]) == 0
    assert f"reading {tmp_path / 'runs' / 'mine' / 'table1.json'}" in capsys.readouterr().err
    assert (tmp_path / "figures" / "bands-table1.csv").is_file()


def test_without_a_run_of_yours_the_committed_one_is_read(tmp_path, monkeypatch, capsys):
    from bench.reports.results import COMMITTED_RUN, default_run

    monkeypatch.setenv("BENCH_RUNS_DIR", str(tmp_path))
    assert default_run() == COMMITTED_RUN
    assert "the committed run" in capsys.readouterr().err
    (tmp_path / "latest").write_text("gone/table1.json\n")
    assert default_run() == COMMITTED_RUN
    assert "does not exist" in capsys.readouterr().err


def test_the_default_output_leaves_git_status_clean(tmp_path, run, monkeypatch):
    """The worktree's .gitignore in a scratch repository: the default run's files and the pointer,
    at the paths `make table1` writes them, are ignored; the committed table's path is not."""
    from bench.core.config import RunConfig
    from bench.reports.results import run_folder

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True
        ).stdout

    monkeypatch.delenv("BENCH_RUNS_DIR")  # the default runs folder
    git("init", "-q")
    shutil.copy(REPO_ROOT / ".gitignore", tmp_path / ".gitignore")
    git("add", ".gitignore")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "ignore rules")
    default = run_folder(None, RunConfig(scale="smoke")).relative_to(REPO_ROOT)
    assert default.parts[:2] == ("results", "runs")
    shutil.copytree(run / "runs" / NAME, tmp_path / default)
    (tmp_path / "results" / "runs" / "latest").write_text(f"{default.name}/table1.json\n")
    assert git("status", "--porcelain", "--untracked-files=all") == ""
    shutil.copy(run / "runs" / NAME / "table1.md", tmp_path / "results" / "table1.md")  # the check can fail
    assert git("status", "--porcelain", "--untracked-files=all") == "?? results/table1.md\n"


def test_publish_is_refused_for_any_run_but_the_default_one(tmp_path, capsys):
    assert _table1(tmp_path, "--publish") == 2
    err = capsys.readouterr().err
    assert "scale='smoke'" in err and "systems=spectrogram,reference" in err
    assert not (tmp_path / "cache").exists()  # refused before any work


def test_publishing_replaces_only_the_readme_table():
    from bench.reports.tables import replace_readme_table

    readme = (REPO_ROOT / "README.md").read_text()
    table = (REPO_ROOT / "results" / "table1.md").read_text()
    assert replace_readme_table(readme, table) == readme  # the README shows the committed table
    changed = table.replace("| reference |", "| reference-x |")
    new = replace_readme_table(readme, changed)
    assert new.replace("| reference-x |", "| reference |") == readme and new != readme
    with pytest.raises(ValueError, match="Latest table"):
        replace_readme_table("# no table\n", table)


def test_written_results_name_paths_relative_to_the_repository(tmp_path, run):
    from pathlib import Path

    from bench.reports.tables import write_all

    record = json.loads((run / "runs" / NAME / "table1.json").read_text())
    record["unavailable"]["dac"] = {
        "reason": f"missing {REPO_ROOT}/results/checkpoints/x.pt",
        "fix": f"put the weights in {Path.home()}/.cache/descript/dac/",
    }
    paths = write_all(record, tmp_path, "t")
    for key in ("md", "csv", "json"):
        text = paths[key].read_text()
        assert "missing results/checkpoints/x.pt" in text
        assert key == "csv" or "~/.cache/descript/dac/" in text  # the CSV has the reason, not the fix
        assert str(REPO_ROOT) not in text and str(Path.home()) + "/" not in text


MACHINE_PATH = re.compile(r"(?<![\w.~$-])/(?:work|tmp|home|root|Users|private|mnt|var|opt|srv|scratch)/")


def test_no_committed_result_holds_an_absolute_path():
    files = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "results", "models/weights"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert any(f.endswith("table1.json") for f in files)
    offending = []
    for name in files:
        try:
            text = (REPO_ROOT / name).read_text()
        except UnicodeDecodeError:
            continue  # weights, figures
        offending += [f"{name}: {m.group(0)}..." for m in MACHINE_PATH.finditer(text)]
        if str(REPO_ROOT) in text:
            offending.append(f"{name}: {REPO_ROOT}")
    assert not offending, offending
