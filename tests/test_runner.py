import json
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import FIXTURES

from bench.core.config import RunConfig
from bench.core.registry import register
from bench.core.runner import run_table1
from bench.core.system import CONDITIONAL, Needs, System
from bench.reports.tables import render_markdown, write_all

pytestmark = pytest.mark.slow  # end to end: deselected by -m 'not slow'

CALLS = {"n": 0, "interrupt_after": None}


class Flaky(System):
    """Test double: NaN for the lowest band, an exception for one clip, the reference otherwise."""

    name = "test-flaky"

    @dataclass(frozen=True)
    class Options:
        bad_clip: str | None = None  # the clip whose generation raises

    def conditional(self, batch):
        CALLS["n"] += len(batch.seeds)
        if CALLS["interrupt_after"] is not None and CALLS["n"] > CALLS["interrupt_after"]:
            raise KeyboardInterrupt
        if any(ref_id == self.options.bad_clip for ref_id in batch.reference_ids):
            raise RuntimeError("model exploded")
        out = np.array(batch.references, copy=True)
        for i, band in enumerate(batch.bands):
            if band.high == 0.0078:
                out[i] = np.nan
        return out

    def blend(self, batch):
        CALLS["n"] += len(batch.seeds)
        return np.array(batch.references1, copy=True)


@pytest.fixture(autouse=True)
def flaky_systems():
    # registered for each test; tests/registry_guard.py removes them after it
    register(Flaky)
    register(Unavailable)


def config(tmp_path, **changes):
    base = RunConfig(
        scale="smoke",
        data=str(FIXTURES),
        systems=("reference", "shuffled", "test-flaky"),
        cache_dir=str(tmp_path / "cache"),
        data_cache_dir=str(tmp_path / "data"),
        out_dir=str(tmp_path / "out"),
        progress=False,
        system_options={"test-flaky": {"bad_clip": None}},
    )
    return base.replace(**changes)


def rows(record):
    return json.loads(json.dumps(record["rows"], default=float))


@pytest.fixture
def bad_clip(tmp_path):
    from bench.core.tasks import select_clips
    from bench.datasets.folder import load_folder

    clips = load_folder(FIXTURES, tmp_path / "data")
    return select_clips(clips.ids, 3, 3, 0).conditional[0]


def test_reference_beats_shuffled_and_failures_are_recorded_not_averaged(tmp_path, bad_clip):
    CALLS.update(n=0, interrupt_after=None)
    record = run_table1(config(tmp_path, system_options={"test-flaky": {"bad_clip": bad_clip}}))
    ref = record["rows"]["reference"]["tasks"][CONDITIONAL]["summary"]
    shuf = record["rows"]["shuffled"]["tasks"][CONDITIONAL]["summary"]
    assert ref["loudness"] > shuf["loudness"] and ref["rhythm"] > shuf["rhythm"]
    assert ref["timbre"] < shuf["timbre"] and ref["harmony"] < shuf["harmony"]

    flaky = record["rows"]["test-flaky"]["tasks"][CONDITIONAL]
    reasons = {f["reason"] for f in flaky["failures"]}
    assert any("NaN" in r for r in reasons)
    assert any("model exploded" in r for r in reasons)
    assert flaky["summary"]["n_failed"] == 3 + 13  # 3 clips in the NaN band + the bad clip elsewhere
    assert flaky["per_group"]["0-0.0078"]["n_ok"] == 0
    # the other items are the reference itself: the average excludes the failed ones entirely
    assert flaky["summary"]["loudness"] == pytest.approx(1.0)
    text = render_markdown(record)
    assert "test-flaky ‡" in text and "failed and are excluded" in text


def test_rerun_recomputes_nothing_and_writes_the_same_table(tmp_path):
    CALLS.update(n=0, interrupt_after=None)
    first = run_table1(config(tmp_path))
    assert CALLS["n"] > 0
    CALLS["n"] = 0
    second = run_table1(config(tmp_path))
    assert CALLS["n"] == 0
    assert rows(first) == rows(second)
    write_all(first, tmp_path / "a")
    write_all(second, tmp_path / "b")
    assert (tmp_path / "a" / "table1.md").read_text() == (tmp_path / "b" / "table1.md").read_text()
    assert (tmp_path / "a" / "table1_bands.csv").read_text() == (
        tmp_path / "b" / "table1_bands.csv"
    ).read_text()


def test_interrupted_run_resumes_without_redoing_finished_items(tmp_path):
    CALLS.update(n=0, interrupt_after=16)
    with pytest.raises(KeyboardInterrupt):
        run_table1(config(tmp_path, systems=("test-flaky",), batch_size=8))
    done = len(list((tmp_path / "cache" / "outputs" / "test-flaky").glob("*.json")))
    assert done == 16
    CALLS.update(n=0, interrupt_after=None)
    run_table1(config(tmp_path, systems=("test-flaky",), batch_size=8))
    assert CALLS["n"] == 42 - 16 + 18  # remaining conditional items + all blend items


def test_results_do_not_depend_on_batch_size(tmp_path):
    a = run_table1(config(tmp_path / "a", systems=("shuffled", "cross-synthesis"), batch_size=1))
    b = run_table1(config(tmp_path / "b", systems=("shuffled", "cross-synthesis"), batch_size=7))
    assert rows(a) == rows(b)
    summary = a["rows"]["shuffled"]["tasks"]["conditional"]["summary"]
    for metric in ("loudness", "rhythm", "timbre", "harmony"):
        low, high = summary[f"{metric}_ci95"]
        assert low <= summary[metric] <= high and low < high
    assert " ±" in render_markdown(a) and a["intervals"]["level"] == 0.95


class Unavailable(System):
    name = "test-unavailable"
    needs = Needs(packages=("surely_not_installed_pkg",))


def test_unavailable_systems_are_marked_and_the_run_goes_on_but_unknown_names_stop_it(tmp_path):
    from bench.core.registry import UnknownSystemError

    record = run_table1(config(tmp_path, systems=("reference", "test-unavailable"), tasks=(CONDITIONAL,)))
    assert "reference" in record["rows"]
    assert "surely_not_installed_pkg" in record["unavailable"]["test-unavailable"]["reason"]
    assert "| test-unavailable † |" in render_markdown(record)
    with pytest.raises(UnknownSystemError, match="did you mean reference"):
        run_table1(config(tmp_path / "x", systems=("reference", "refrence")))
    assert not (tmp_path / "x").exists()


def test_record_carries_provenance(tmp_path):
    import time

    import scipy
    import torch

    started = time.time()
    record = run_table1(config(tmp_path, systems=("reference",), tasks=(CONDITIONAL,)))
    elapsed = time.time() - started
    assert len(record["dataset"]["manifest_hash"]) == 64
    assert record["config"]["seed"] == 0 and record["vocoder"].startswith("griffinlim")
    assert record["embedder"]["id"].startswith("melstats")
    packages = record["environment"]["packages"]
    assert (packages["numpy"], packages["scipy"], packages["torch"]) == (
        np.__version__,
        scipy.__version__,
        torch.__version__,
    )
    assert "revision" in record["environment"]["git"]
    assert len(record["selection"]["conditional"]) == 3 and len(record["selection"]["pairs"]) == 3
    stages = [
        seconds
        for name, seconds in record["timings_s"].items()
        if name != "total" and isinstance(seconds, float)
    ]
    assert len(stages) >= 3  # the stages run one after the other, inside the call timed here
    assert sum(stages) - 1e-3 * len(stages) <= record["timings_s"]["total"] <= elapsed + 1e-3


def test_paired_comparison_reads_the_item_scores_of_a_run(tmp_path):
    from bench.reports.compare import compare, read_items, render

    record = run_table1(config(tmp_path, systems=("reference", "shuffled")))
    paths = write_all(record, tmp_path / "out")
    items = read_items(paths["items"])
    result = compare(items, "reference", "shuffled")
    for task, task_result in result["tasks"].items():
        assert task_result["n_shared_items"] > 0
        summary_a = record["rows"]["reference"]["tasks"][task]["summary"]
        summary_b = record["rows"]["shuffled"]["tasks"][task]["summary"]
        loud = task_result["metrics"]["loudness"]
        assert loud["advantage"] == pytest.approx(summary_a["loudness"] - summary_b["loudness"], abs=1e-6)
        timbre = task_result["metrics"]["timbre"]  # lower is better: the advantage is B - A
        assert timbre["advantage"] == pytest.approx(summary_b["timbre"] - summary_a["timbre"], rel=1e-6)
    assert result["tasks"]["conditional"]["metrics"]["loudness"]["ci95"][0] > 0  # the reference itself wins
    assert "reference better" in render(result)
    assert '"items"' not in paths["json"].read_text()
    with pytest.raises(SystemExit, match="no task scored for both"):
        compare(items, "reference", "no-such-system")


def test_runs_made_apart_merge_into_one_table_only_when_they_scored_the_same_thing(tmp_path, capsys):
    from bench.commands.cli import main
    from bench.reports.compare import compare, read_items

    first = run_table1(config(tmp_path / "a", systems=("reference", "shuffled")))
    second = run_table1(config(tmp_path / "b", systems=("shuffled", "cross-synthesis", "test-unavailable")))
    write_all(first, tmp_path / "a" / "out")
    write_all(second, tmp_path / "b" / "out")
    runs = [str(tmp_path / "a" / "out" / "table1.json"), str(tmp_path / "b" / "out" / "table1.json")]
    assert main(["merge", *runs, "--out", str(tmp_path / "m"), "--stem", "merged"]) == 0
    merged = json.loads((tmp_path / "m" / "merged.json").read_text())
    assert set(merged["rows"]) == {"reference", "shuffled", "cross-synthesis"}
    table = (tmp_path / "m" / "merged.md").read_text()
    assert table.index("| reference |") < table.index("| shuffled |") < table.index("| cross-synthesis |")
    second_saved = json.loads((tmp_path / "b" / "out" / "table1.json").read_text())
    assert merged["rows"]["shuffled"] == second_saved["rows"]["shuffled"]  # the last run named wins
    assert "test-unavailable" in merged["unavailable"] and len(merged["merged_from"]) == 2
    assert "taken from" in capsys.readouterr().out
    items = read_items(tmp_path / "m" / "merged_items.csv")
    assert compare(items, "reference", "cross-synthesis")["tasks"]["blend"]["n_shared_items"] > 0
    other_seed = run_table1(config(tmp_path / "c", systems=("reference",), seed=1))
    write_all(other_seed, tmp_path / "c" / "out")
    with pytest.raises(SystemExit, match="differ in selection"):
        main(["merge", runs[0], str(tmp_path / "c" / "out" / "table1.json"), "--out", str(tmp_path / "x")])


def test_generation_cost_is_kept_with_each_output_and_survives_a_resumed_run(tmp_path):
    CALLS.update(n=0, interrupt_after=None)
    first = run_table1(config(tmp_path, systems=("test-flaky",), batch_size=4))
    cost = first["generation_cost"]["test-flaky"][CONDITIONAL]
    assert cost["items_timed"] == 42 and cost["mean_s"] > 0 and cost["devices"] == ["cpu"]
    assert cost["batch_sizes"] == [2, 4]  # 42 items: ten batches of 4 and one of 2
    assert first["resources"]["peak_rss_mib"] > 0
    second = run_table1(config(tmp_path, systems=("test-flaky",), batch_size=4))
    assert second["generation_cost"] == first["generation_cost"]
    assert rows(second) == rows(first)


def test_a_killed_and_resumed_run_sums_its_cpu_time_over_both_processes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT

    command = [
        sys.executable,
        "-m",
        "bench",
        "table1",
        "--scale",
        "smoke",
        "--data",
        str(FIXTURES),
        "--systems",
        "spectrogram",
        "--cache",
        str(tmp_path / "cache"),
        "--data-cache",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "out"),
        "--no-progress",
    ]
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    outputs = tmp_path / "cache" / "outputs" / "spectrogram"
    deadline = time.time() + 300
    while len(list(outputs.glob("*.json"))) < 8 and time.time() < deadline and first.poll() is None:
        time.sleep(0.2)
    os.kill(first.pid, signal.SIGKILL)  # kill -9 mid-run
    first.wait()
    done = len(list(outputs.glob("*.json")))
    assert 8 <= done < 60
    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    resources = json.loads((tmp_path / "out" / "table1.json").read_text())["resources"]
    processes = resources["processes"]
    assert len(processes) == 2 and processes[0]["pid"] == first.pid
    assert processes[0]["cpu_user_s"] > 1.0  # the killed process's work counts
    assert resources["cpu_user_s"] == pytest.approx(sum(p["cpu_user_s"] for p in processes), abs=2e-3)
    assert resources["cpu_user_s"] > processes[1]["cpu_user_s"]
