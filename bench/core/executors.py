"""Where work units run: ``inline`` (this process), ``local:N`` (worker processes), ``ray``
(a local Ray cluster, or ``ray:auto`` / ``ray:HOST:PORT`` to join one) and ``slurm`` (a job array
through submitit); ``--shard I/N`` runs one N-th of the plan under any scheduler's own arrays.

Each executor takes the units that are not finished and yields a :class:`bench.core.units.UnitReport`
as each completes. A unit is anything with ``id``, ``len``, ``execute(ctx)``, ``finished(ctx)`` and
``files(ctx)`` (Table 1's :class:`bench.core.units.WorkUnit`, a sweep's
``bench.experiments.isolate_sweep.SweepUnit``),
run under a config that workers rebuild their context from (``RunConfig``, or any config with a
``build_context(cache_root)``); results are written to the content cache by the worker, or returned to the
driver (``results=driver``) which writes them. Every executor gives the same cache contents.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core import determinism
from bench.core.config import RunConfig
from bench.core.paths import CHECKOUT_ROOT, HOME_ENV
from bench.core.storage import atomic_write_bytes, atomic_write_json, content_key, read_json
from bench.core.units import UNIT_ITEMS, UnitContext, UnitReport, WorkUnit

EXECUTORS = ("inline", "local", "local:N", "local:auto", "ray", "ray:auto", "ray:HOST:PORT", "slurm")


class ExecutorError(Exception):
    """The executor cannot run (bad spec, unreachable cluster, no sbatch): nothing was started."""


@dataclass
class Execution:
    """How a run executes its units (none of this changes any figure)."""

    executor: str = "inline"
    options: dict = field(default_factory=dict)
    shard: tuple[int, int] | None = None
    wait: bool = True
    unit_items: int = UNIT_ITEMS


def parse_shard(text: str) -> tuple[int, int]:
    index, sep, count = str(text).partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise ExecutorError(f"--shard {text!r}: expected I/N with whole numbers, e.g. 1/3") from None
    if not sep or n < 1 or not 1 <= i <= n:
        raise ExecutorError(f"--shard {text!r}: I must be between 1 and N (N >= 1), e.g. 1/3")
    return i, n


def parse_options(pairs: list[str] | None, yaml_file: str | None = None) -> dict:
    options: dict = {}
    if yaml_file:
        import yaml

        try:
            loaded = yaml.safe_load(Path(yaml_file).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ExecutorError(f"--executor-config {yaml_file}: {error}") from None
        if not isinstance(loaded, dict):
            raise ExecutorError(f"--executor-config {yaml_file}: expected a mapping of KEY: VALUE")
        options.update(loaded)
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ExecutorError(f"--executor-option {pair!r}: expected KEY=VALUE")
        options[key.strip()] = value
    return options


def shard_units(units: list[WorkUnit], shard: tuple[int, int] | None) -> list[WorkUnit]:
    """Round-robin over the whole plan, so shards stay balanced and stable whatever is cached."""
    if shard is None:
        return units
    index, count = shard
    return [u for position, u in enumerate(units) if position % count == index - 1]


def executor_options(cls, raw: dict):
    """``--executor-option`` / ``--executor-config`` values as ``cls.Options``, typed and validated
    like system options: an unknown key (``partiton=gpu``) or a bad value stops the run, naming the
    valid options with their types."""
    from bench.core.system import OptionError, validate_options

    try:
        return validate_options(cls, raw)
    except OptionError as error:
        raise ExecutorError(f"--executor-option {error}") from None


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, which ``taskset`` and SLURM set)."""
    return len(os.sched_getaffinity(0))


def resolve_executor(spec: str, device: str = "cpu") -> tuple[str, str]:
    """``local:auto`` as what it runs on this machine, with why: one single-threaded worker per core
    (per visible GPU on cuda), or ``inline`` when that is one; any other spec as it is."""
    if spec != "local:auto":
        return spec, ""
    gpus = _visible_gpus() if device.startswith("cuda") else 0
    n = gpus or available_cores()
    unit = "GPU" if gpus else "core"
    return ("inline" if n == 1 else f"local:{n}"), f"{n} {unit}{'s' if n > 1 else ''}"


def make_executor(execution: Execution, config: RunConfig):
    spec, _ = resolve_executor(execution.executor, config.device)
    name, _, rest = spec.partition(":")
    if name == "inline" and not rest:
        executor_options(InlineExecutor, execution.options)
        return InlineExecutor()
    if name == "local":
        executor_options(LocalExecutor, execution.options)
        return LocalExecutor(_workers(rest, config), execution.options)
    if name == "ray":
        return RayExecutor(rest or None, executor_options(RayExecutor, execution.options), config)
    if name == "slurm" and not rest:
        return SlurmExecutor(executor_options(SlurmExecutor, execution.options), config, execution.wait)
    raise ExecutorError(f"--executor {spec!r}: choose one of {', '.join(EXECUTORS)}")


@dataclass(frozen=True)
class NoExecutorOptions:
    """An executor without options."""


@dataclass(frozen=True)
class RayOptions:
    results: str = "cache"  # cache (a filesystem every node sees) or driver (the object store)
    max_retries: int = 3
    gpus_per_unit: float | None = None  # default 1 when --device is cuda, else 0
    num_cpus: int | None = None  # the local cluster's CPUs (default: this machine's cores)

    def __post_init__(self):
        if self.results not in ("cache", "driver"):
            raise ValueError(f"results={self.results}: choose cache or driver")


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    gpus_per_task: int = 0
    cpus_per_task: int = 1
    time: int = 240  # minutes
    parallelism: int | None = None  # array tasks at once (default min(tasks, 64))
    tasks: int | None = None  # array size (default one per unit, at most 256)
    folder: str | None = None  # submitit's job folder (default CACHE/slurm)
    cluster: str = "slurm"  # slurm, or local: submitit's local executor (tests)
    name: str = "latentft-bench"
    poll_s: float = 5.0


def _workers(text: str, config: RunConfig) -> int:
    if not text:
        gpus = _visible_gpus() if config.device.startswith("cuda") else 0
        return gpus or len(os.sched_getaffinity(0))
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ExecutorError(f"--executor local:{text}: N must be a whole number >= 1")
    return n


def _visible_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0


class InlineExecutor:
    Options = NoExecutorOptions
    name = "inline"

    def run(self, units, config, ctx):
        for unit in units:
            yield unit.execute(ctx)

    def close(self):
        pass


# --- worker processes ----------------------------------------------------------------------------

_WORKER: dict = {}  # this worker process's setting (local:N): the run's config
_CONTEXTS: dict = {}  # this worker process's UnitContext, for the config it was built for


def _worker_context(config: RunConfig, private_cache: bool = False) -> UnitContext:
    """One context per worker process and config: the dataset, vocoder and models load once."""
    key = content_key(repr(config), private_cache)
    if key not in _CONTEXTS:
        root = None
        if private_cache:  # results=driver: this worker's scratch cache, removed when it exits
            root = Path(tempfile.mkdtemp(prefix="bench-worker-"))
            atexit.register(shutil.rmtree, root, True)
        _CONTEXTS.clear()
        build = getattr(
            config, "build_context", None
        )  # a sweep's config (bench/experiments/isolate_sweep.py)
        _CONTEXTS[key] = build(root) if build else UnitContext.build(config, root)
    return _CONTEXTS[key]


def run_unit_in_worker(config: RunConfig, unit: WorkUnit, results: str = "cache") -> UnitReport:
    """Execute one unit in a worker; with ``results="driver"`` the worker writes to a private
    cache and returns the unit's files for the driver to write."""
    ctx = _worker_context(config, results == "driver")
    report = unit.execute(ctx)
    if results == "driver":
        report.files = unit.files(ctx)
    return report


def write_unit_files(cache_dir: str | Path, files: list[tuple[str, bytes]]) -> None:
    """Written in order; only the last (the unit's score file, which covers the rest) is fsynced,
    as the worker writes them (bench/core/item_cache.py)."""
    for index, (relative, payload) in enumerate(files):
        atomic_write_bytes(Path(cache_dir) / relative, payload, durable=index == len(files) - 1)


def _local_init(config: RunConfig, counter, cores: list[int], gpus: int) -> None:
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index % gpus)
    else:
        os.sched_setaffinity(0, {cores[index % len(cores)]})
    import torch

    torch.set_num_threads(1)
    _WORKER["config"] = config


def _local_unit(unit: WorkUnit) -> UnitReport:
    return run_unit_in_worker(_WORKER["config"], unit)


class LocalExecutor:
    """N worker processes on this machine: one per visible GPU (each sees one device), or on a
    CPU one core each."""

    name = "local"
    Options = NoExecutorOptions

    def __init__(self, workers: int, options: dict):
        self.workers = workers

    def run(self, units, config, ctx):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        spawn = multiprocessing.get_context("spawn")
        counter = spawn.Value("i", 0)
        gpus = _visible_gpus() if config.device.startswith("cuda") else 0
        cores = sorted(os.sched_getaffinity(0))
        with ProcessPoolExecutor(
            self.workers, mp_context=spawn, initializer=_local_init, initargs=(config, counter, cores, gpus)
        ) as pool:
            futures = {pool.submit(_local_unit, unit): unit for unit in units}
            for future in as_completed(futures):
                try:
                    yield future.result()
                except Exception as error:
                    yield _failed_report(futures[future], error)

    def close(self):
        pass


def _failed_report(unit: WorkUnit, error: BaseException) -> UnitReport:
    warnings.warn(f"work unit {unit.id} did not finish: {type(error).__name__}: {error}")
    return UnitReport(unit.id, len(unit), error=f"{type(error).__name__}: {error}")


# --- Ray -----------------------------------------------------------------------------------------


def _check_reachable(address: str) -> None:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            return
    except (OSError, ValueError) as error:
        raise ExecutorError(
            f"--executor ray:{address}: no Ray cluster reachable at {host}:{port} "
            f"({error}); start one with `ray start --head --port {port or 6379}` "
            f"or use --executor ray for a local cluster"
        ) from None


class RayExecutor:
    """Ray tasks, one per unit, retried when their worker dies (``max_retries``, default 3).
    Options: results=cache (the cache is on a filesystem every node sees; the default) or
    results=driver (units' files come back through the object store), num_cpus (for the local
    cluster), gpus_per_unit (default 1 when --device is cuda)."""

    name = "ray"
    Options = RayOptions

    def __init__(self, address: str | None, options: RayOptions, config: RunConfig):
        try:
            import ray
        except ImportError:
            raise ExecutorError("--executor ray needs the ray package: pip install ray==2.60.0") from None
        self.ray = ray
        self.results = options.results
        self.max_retries = options.max_retries
        default_gpus = 1 if config.device.startswith("cuda") else 0
        self.gpus = float(default_gpus if options.gpus_per_unit is None else options.gpus_per_unit)
        self.started = not ray.is_initialized()
        env = {
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(CHECKOUT_ROOT or ""), os.environ.get("PYTHONPATH")])
            )
        }
        env.update(
            {k: v for k, v in os.environ.items() if k.startswith("BENCH_") or k == HOME_ENV}
        )  # plugins
        env.update(determinism.forwarded())  # the instruction-set pins, as this process has them
        if address and address != "auto":
            _check_reachable(address)
        if not self.started:
            return
        kwargs: dict[str, Any] = dict(
            include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env}, logging_level="ERROR"
        )
        try:
            if address is None:
                ray.init(
                    num_cpus=options.num_cpus or len(os.sched_getaffinity(0)),
                    _node_ip_address="127.0.0.1",
                    **kwargs,
                )
            else:
                ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ExecutorError(
                f"--executor ray:{address or 'local'}: could not start or join Ray "
                f"(tried address {address or 'a new local cluster on 127.0.0.1'}): {error}"
            ) from None

    def run(self, units, config, ctx):
        ray = self.ray
        remote = ray.remote(run_unit_in_worker).options(
            num_cpus=1, num_gpus=self.gpus, max_retries=self.max_retries, retry_exceptions=False
        )
        config_ref = ray.put(config)
        pending = {remote.remote(config_ref, unit, self.results): unit for unit in units}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            unit = pending.pop(done[0])
            try:
                report = ray.get(done[0])
            except Exception as error:
                yield _failed_report(unit, error)
                continue
            if report.files:
                write_unit_files(config.cache_dir, report.files)
                report.files = None
            yield report

    def close(self):
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()


# --- SLURM through submitit -----------------------------------------------------------------------


def run_units_in_task(config: RunConfig, units: list[WorkUnit]) -> list[UnitReport]:
    """One array task: its units one after the other in one process (models load once)."""
    return [run_unit_in_worker(config, unit) for unit in units]


class SlurmExecutor:
    """A SLURM job array through submitit. Options: partition, gpus_per_task, cpus_per_task,
    time (minutes), parallelism (array tasks at once), tasks (array size; default one per unit,
    at most 256), folder (submitit's job folder, default CACHE/slurm), cluster=local (submitit's
    local executor: the same code path without a cluster, for tests)."""

    name = "slurm"
    Options = SlurmOptions

    def __init__(self, options: SlurmOptions, config: RunConfig, wait: bool = True):
        try:
            import submitit
        except ImportError:
            raise ExecutorError("--executor slurm needs submitit: pip install submitit==1.5.4") from None
        self.submitit, self.options, self.wait = submitit, options, wait
        self.cluster = options.cluster
        if self.cluster == "slurm" and shutil.which("sbatch") is None:
            raise ExecutorError(
                "--executor slurm: `sbatch` is not on PATH (tried PATH="
                f"{os.environ.get('PATH', '')}); run on a SLURM login node, or use "
                "--executor-option cluster=local to try the array on this machine"
            )
        default = Path(config.cache_dir) / getattr(config, "slurm_folder_name", "slurm")
        self.folder = Path(options.folder or default)

    def _executor(self, n_tasks: int):
        o = self.options
        executor = self.submitit.AutoExecutor(folder=str(self.folder / "%j"), cluster=self.cluster)
        params: dict[str, Any] = {
            "timeout_min": o.time,
            "cpus_per_task": o.cpus_per_task,
            "slurm_array_parallelism": o.parallelism or min(n_tasks, 64),
        }
        if self.cluster == "slurm":
            if o.partition is not None:
                params["slurm_partition"] = o.partition
            if o.gpus_per_task:
                params["slurm_gpus_per_task"] = o.gpus_per_task
            params["name"] = o.name
            setup = determinism.shell_exports()  # the instruction-set pins, as this process has them
            if CHECKOUT_ROOT is not None:
                setup.append(f"export PYTHONPATH={CHECKOUT_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}")
            params["slurm_setup"] = setup
        executor.update_parameters(**params)
        return executor

    def run(self, units, config, ctx):
        running = self.running()
        if running:  # a --no-wait submission of this cache is still queued or running
            if not self.wait:
                print(f"job(s) {', '.join(running)} still queued or running; nothing submitted")
                return
            while self.running():
                time.sleep(self.options.poll_s)
            units = [u for u in units if not u.finished(ctx)]
        if not units:
            return
        n_tasks = min(len(units), self.options.tasks or min(len(units), 256))
        groups = [units[i::n_tasks] for i in range(n_tasks)]
        executor = self._executor(n_tasks)
        jobs = executor.map_array(run_units_in_task, [config] * n_tasks, groups)
        atomic_write_json(
            self.folder / "submitted.json",
            {"jobs": [job.job_id for job in jobs], "units": [u.id for u in units]},
        )
        if not self.wait:
            print(
                f"submitted {len(units)} work units as {n_tasks} array task(s): job "
                f"{jobs[0].job_id.split('_')[0]}; run the same command without --no-wait to assemble"
            )
            return
        for job, group in zip(jobs, groups):
            try:
                yield from job.result()
            except Exception as error:
                for unit in group:
                    yield _failed_report(unit, error)

    def running(self) -> list[str]:
        """Job ids of a previous --no-wait submission still queued or running (squeue)."""
        record = self.folder / "submitted.json"
        if self.cluster != "slurm" or not record.exists() or shutil.which("squeue") is None:
            return []
        ids = sorted({j.split("_")[0] for j in read_json(record)["jobs"]})
        out = subprocess.run(
            ["squeue", "-h", "-o", "%i", "-j", ",".join(ids)], capture_output=True, text=True, timeout=30
        ).stdout.split()
        return out

    def close(self):
        pass
