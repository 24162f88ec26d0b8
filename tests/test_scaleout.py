"""Scale-out: every executor and every way of cutting the plan gives byte-identical tables, with
real engines (worker processes, a local Ray cluster, submitit job arrays, SLURM when installed)."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.paths import FIXTURES, ROOT

from bench.core.config import RunConfig
from bench.core.executors import Execution, ExecutorError, parse_shard
from bench.core.runner import run_table1
from bench.reports.tables import write_all

pytestmark = pytest.mark.slow  # end to end: every test of this module

PLUGINS = ROOT / "tests" / "fixtures" / "plugins"
SYSTEMS = ("reference", "shuffled", "cross-synthesis")
FILES = ("table1.csv", "table1_bands.csv", "table1_items.csv")


def config(root: Path, systems=SYSTEMS, **changes) -> RunConfig:
    return RunConfig(
        scale="smoke",
        data=str(FIXTURES),
        systems=systems,
        cache_dir=str(root / "cache"),
        data_cache_dir=str(root / "data"),
        out_dir=str(root / "out"),
        progress=False,
        **changes,
    )


def tables(record, out: Path) -> dict[str, bytes]:
    write_all(record, out)
    return {name: (out / name).read_bytes() for name in FILES}


@pytest.fixture(scope="module")
def inline_tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("inline")
    return tables(run_table1(config(root), Execution(unit_items=8)), root / "out")


@pytest.fixture
def plugins(monkeypatch, tmp_path):
    from bench.core.registry import discover

    monkeypatch.setenv("BENCH_PLUGIN_PATH", str(PLUGINS))
    (tmp_path / "pids").mkdir()
    discover(force=True)
    return tmp_path / "pids"


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "1", "1/0", "-1/3"])
def test_bad_shards_are_refused(text):
    with pytest.raises(ExecutorError, match="--shard"):
        parse_shard(text)


def test_shards_then_assemble_give_the_inline_tables(tmp_path, inline_tables):
    for i in (1, 2, 3):
        assert run_table1(config(tmp_path), Execution(shard=(i, 3), unit_items=8)) is None
    done = list((tmp_path / "cache" / "scores").rglob("*.npz"))
    assert len(done) == 2 * (6 + 3) + 3  # units of 8: reference, shuffled both tasks; cross-synthesis blend
    record = run_table1(config(tmp_path), Execution(unit_items=8))
    assert tables(record, tmp_path / "out") == inline_tables


def test_assemble_of_a_complete_cache_recomputes_nothing(tmp_path, inline_tables):
    run_table1(config(tmp_path), Execution(unit_items=8))

    def results(cache):  # every cached output, score and feature; not the runs/ ledger of CPU time
        return {
            p: p.stat().st_mtime_ns
            for p in cache.rglob("*")
            if p.is_file() and p.relative_to(cache).parts[0] != "runs"
        }

    before = results(tmp_path / "cache")
    record = run_table1(config(tmp_path), Execution(executor="local:2", unit_items=8))
    after = results(tmp_path / "cache")
    assert before and len(before) == len(after)
    assert before == after
    assert tables(record, tmp_path / "out") == inline_tables


def test_local_workers_give_the_inline_tables(tmp_path, inline_tables, monkeypatch):
    from bench.core import executors

    monkeypatch.setattr(executors, "available_cores", lambda: 2)  # table1's default on a 2-core machine
    record = run_table1(config(tmp_path), Execution(executor="local:auto", unit_items=8))
    assert record["execution"]["executor"] == "local:auto"
    assert tables(record, tmp_path / "out") == inline_tables


@pytest.mark.parametrize("cores, expected", [(1, "inline"), (2, "local:2"), (16, "local:16")])
def test_table1_defaults_to_one_worker_per_core_inline_on_one(monkeypatch, capsys, cores, expected):
    from bench.commands.cli import build_parser
    from bench.commands.execution import execution_from_args
    from bench.core import executors

    monkeypatch.setattr(executors, "available_cores", lambda: cores)
    args = build_parser().parse_args(["table1"])
    assert args.executor == "local:auto"
    execution = execution_from_args(args)
    assert execution.executor == expected
    assert f"executor: {expected} ({cores} core" in capsys.readouterr().err
    made = executors.make_executor(Execution("local:auto"), config(Path("/nonexistent")))
    if cores == 1:
        assert isinstance(made, executors.InlineExecutor)
    else:
        assert isinstance(made, executors.LocalExecutor) and made.workers == cores
    inline = execution_from_args(build_parser().parse_args(["table1", "--executor", "inline"]))
    assert inline.executor == "inline" and "executor:" not in capsys.readouterr().err


def test_two_processes_on_the_same_units_leave_one_complete_entry(tmp_path, inline_tables):
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
        ",".join(SYSTEMS),
        "--cache",
        str(tmp_path / "cache"),
        "--no-progress",
        "--unit-items",
        "8",
        "--shard",
        "1/1",
    ]
    workers = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    for worker in workers:
        output = worker.communicate(timeout=300)[0].decode()
        assert worker.returncode == 0, output
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    record = run_table1(config(tmp_path), Execution(unit_items=8))
    assert tables(record, tmp_path / "out") == inline_tables


def test_a_killed_worker_leaves_nothing_taken_for_finished(tmp_path, plugins):
    systems = ("test-slow-reference",)
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
        systems[0],
        "--cache",
        str(tmp_path / "cache"),
        "--no-progress",
        "--unit-items",
        "8",
        "--batch-size",
        "4",
        "--shard",
        "1/1",
        "--system-option",
        "test-slow-reference.sleep_s=0.3",
    ]
    worker = subprocess.Popen(command, cwd=ROOT)
    outputs = tmp_path / "cache" / "outputs" / systems[0]
    deadline = time.time() + 120
    while time.time() < deadline and len(list(outputs.glob("*.json"))) < 6:
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    from bench.core.item_cache import OutputStore, ScoreStore
    from bench.core.units import ItemScores

    store = OutputStore(tmp_path / "cache", systems[0])
    records = list(outputs.glob("*.json"))
    assert 6 <= len(records) < 42 + 18  # killed inside the run
    for record_path in records:
        key = record_path.stem
        record = store.record(key)
        assert store.verified_audio(key, record["sha256"]) is not None  # a record names whole audio
    units = _plan_units(config(tmp_path, systems=systems))
    finished_units = 0
    scores = ScoreStore(tmp_path / "cache", systems[0], *_scoring_ids())
    for unit in units:  # a unit's score file is whole, and covers whole outputs, or is absent
        stored = scores.read(unit.keys)
        if stored is None:
            assert not scores.path(unit.keys).exists()
            continue
        finished_units += 1
        for key in unit.keys:
            result, embedding = ItemScores.from_json(stored[key][0]), stored[key][1]
            assert result.ok and embedding is not None and result.audio_sha == store.record(key)["sha256"]
    assert finished_units < len(units)
    slow = {"test-slow-reference": {"sleep_s": "0.3"}}
    finished = run_table1(config(tmp_path, systems=systems, system_options=slow), Execution(unit_items=8))
    fresh = run_table1(
        config(tmp_path / "fresh", systems=systems, system_options=slow), Execution(unit_items=8)
    )
    assert tables(finished, tmp_path / "a") == tables(fresh, tmp_path / "b")


def _scoring_ids() -> tuple[str, str]:
    from bench.core.item_cache import DescriptorBackend, embedder_cache_id
    from bench.core.registry import make_embedder

    return DescriptorBackend("fast").cache_id, embedder_cache_id(make_embedder("melstats"))


def _plan_units(run_config: RunConfig):
    from bench.core.runner import _driver_context, load_dataset, plan
    from bench.core.system import BLEND, CONDITIONAL
    from bench.core.tasks import blend_items, conditional_items, select_clips

    clipset = load_dataset(run_config, False)
    spec = run_config.scale_spec
    selection = select_clips(clipset.ids, spec.n_conditional, spec.n_pairs, run_config.seed)
    tasks = {CONDITIONAL: conditional_items(selection), BLEND: blend_items(selection)}
    return plan(run_config, _driver_context(run_config, clipset), tasks, 8).units


# --- Ray: a real local cluster ------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level="ERROR",
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "BENCH_PLUGIN_PATH": str(PLUGINS)}},
    )
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("results", ["cache", "driver"])
def test_ray_gives_the_inline_tables(tmp_path, inline_tables, ray_cluster, results):
    record = run_table1(
        config(tmp_path), Execution(executor="ray", options={"results": results}, unit_items=8)
    )
    assert tables(record, tmp_path / "out") == inline_tables


def test_ray_retries_a_unit_whose_worker_is_killed(tmp_path, ray_cluster, plugins):
    systems = ("test-slow-reference",)
    options = {"test-slow-reference": {"sleep_s": "0.5", "pid_dir": str(plugins)}}
    killed = []

    def kill_first_worker():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            found = sorted(plugins.iterdir())
            if found:
                pid = int(found[0].name)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    try:
        record = run_table1(
            config(tmp_path, systems=systems, system_options=options),
            Execution(executor="ray", options={"max_retries": "3"}, unit_items=8),
        )
    finally:
        killer.join()
    assert killed and killed[0] != os.getpid()
    fresh = run_table1(
        config(tmp_path / "fresh", systems=systems, system_options=options), Execution(unit_items=8)
    )
    assert tables(record, tmp_path / "a") == tables(fresh, tmp_path / "b")


def test_unreachable_ray_address_stops_before_any_work(tmp_path):
    pytest.importorskip("ray")
    with pytest.raises(ExecutorError, match="127.0.0.1:1"):
        run_table1(config(tmp_path), Execution(executor="ray:127.0.0.1:1"))
    assert not (tmp_path / "cache").exists()


# --- SLURM through submitit ---------------------------------------------------------------------


def test_missing_sbatch_stops_before_any_work(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ExecutorError, match="sbatch"):
        run_table1(config(tmp_path), Execution(executor="slurm"))
    assert not (tmp_path / "cache").exists()


def test_submitit_array_gives_the_inline_tables(tmp_path, inline_tables):
    pytest.importorskip("submitit")
    execution = Execution(executor="slurm", options={"cluster": "local", "tasks": "3"}, unit_items=8)
    record = run_table1(config(tmp_path), execution)
    assert tables(record, tmp_path / "out") == inline_tables


def test_slurm_array_on_a_real_single_node_cluster_gives_the_inline_tables(
    tmp_path, inline_tables, monkeypatch
):
    pytest.importorskip("submitit")
    from support import single_node_slurm as slurm_cluster

    if os.geteuid() != 0 or slurm_cluster.missing():
        pytest.skip(f"needs root and {', '.join(slurm_cluster.missing())} (scripts/ensure_slurm.sh)")
    with slurm_cluster.single_node_slurm(tmp_path / "slurm") as env:
        for name in ("SLURM_CONF", "PATH"):
            monkeypatch.setenv(name, env[name])
        execution = Execution(executor="slurm", options={"tasks": "3", "time": "10"}, unit_items=8)
        assert run_table1(config(tmp_path), Execution(**{**execution.__dict__, "wait": False})) is None
        record = run_table1(config(tmp_path), execution)  # the same command later: waits, assembles
    assert tables(record, tmp_path / "out") == inline_tables
    assert slurm_cluster.processes_of(tmp_path / "slurm" / "slurm.conf") == [], "job steps left running"


# --- sweep: the same work units, executors and shards --------------------------------------------


def _sweep(root: Path, execution: Execution):
    from bench.experiments.isolate_sweep import sweep

    return sweep(
        "spectrogram",
        n_clips=1,
        window=512,
        steps=2,
        execution=execution,
        data=str(FIXTURES),
        cache_dir=str(root / "cache"),
        data_cache_dir=str(root / "data"),
        out_dir=root / "out",
    )


def test_sweep_gives_the_same_csv_inline_on_local_workers_and_in_shards(tmp_path):
    inline = _sweep(tmp_path / "inline", Execution(unit_items=1))  # one clip: one window per unit
    expected = (tmp_path / "inline" / "out" / "sweep-spectrogram.csv").read_bytes()
    assert inline.is_file() and len(expected.decode().splitlines()) == 1 + 2  # windows at bins 0 and 512
    _sweep(tmp_path / "local", Execution(executor="local:2", unit_items=1))
    assert (tmp_path / "local" / "out" / "sweep-spectrogram.csv").read_bytes() == expected
    for i in (1, 2):
        assert _sweep(tmp_path / "shards", Execution(shard=(i, 2), unit_items=1)) is None
    units = sorted((tmp_path / "shards" / "cache" / "sweeps" / "spectrogram").glob("*.npz"))
    assert len(units) == 2 and not (tmp_path / "shards" / "out").exists()
    written = {p: p.stat().st_mtime_ns for p in units}
    _sweep(tmp_path / "shards", Execution(unit_items=1))  # assembles, recomputes nothing
    assert {p: p.stat().st_mtime_ns for p in units} == written
    assert (tmp_path / "shards" / "out" / "sweep-spectrogram.csv").read_bytes() == expected
