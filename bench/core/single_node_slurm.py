"""A real single-node SLURM on this machine: munged, slurmctld and slurmd from Debian's slurm-wlm and
munge, configured for localhost in a temporary folder, started and stopped by the caller (the
scale-out tests, tests/test_scaleout.py, and `make bench`, bench/reports/scaleout_bench.py)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch")


def missing() -> list[str]:
    return [name for name in DAEMONS if shutil.which(name) is None and not Path("/usr/sbin", name).exists()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _conf(folder: Path) -> str:
    cpus = len(os.sched_getaffinity(0))
    return "\n".join(
        [
            "ClusterName=benchtest",
            "SlurmctldHost=localhost",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            f"AuthInfo=socket={folder}/munge.sock",
            "CredType=cred/munge",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={folder}/state",
            f"SlurmdSpoolDir={folder}/spool",
            f"SlurmctldPidFile={folder}/slurmctld.pid",
            f"SlurmdPidFile={folder}/slurmd.pid",
            f"SlurmctldLogFile={folder}/slurmctld.log",
            f"SlurmdLogFile={folder}/slurmd.log",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SchedulerType=sched/builtin",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "MpiDefault=none",
            "ReturnToService=2",
            f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN",
            "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES",
            "",
        ]
    )


@contextmanager
def single_node_slurm(folder: Path):
    """Yield the environment (SLURM_CONF, PATH) under which sbatch reaches the cluster."""
    folder = Path(folder)
    (folder / "state").mkdir(parents=True)
    (folder / "spool").mkdir()
    conf = folder / "slurm.conf"
    conf.write_text(_conf(folder))
    env = dict(os.environ, SLURM_CONF=str(conf), PATH=f"{os.environ.get('PATH', '')}:/usr/sbin")
    started = []
    try:
        started.append(
            subprocess.Popen(
                [
                    "munged",
                    "-F",
                    f"--socket={folder}/munge.sock",
                    f"--pid-file={folder}/munged.pid",
                    f"--log-file={folder}/munged.log",
                    f"--seed-file={folder}/munge.seed",
                    "-f",
                ],
                env=env,
            )
        )
        _wait_for(lambda: (folder / "munge.sock").exists(), "munged", folder)
        started.append(
            subprocess.Popen(
                ["slurmctld", "-D", "-c", "-f", str(conf)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        )
        time.sleep(1)
        started.append(
            subprocess.Popen(
                ["slurmd", "-D", "-N", "localhost", "-f", str(conf)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        )
        _wait_for(
            lambda: (
                "idle"
                in subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout
            ),
            "slurmd",
            folder,
        )
        yield env
    finally:
        if started:
            _cancel_jobs(env)
        for process in reversed(started):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        for pid in processes_of(conf):  # job steps outlive slurmd: slurmstepd detaches from it
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _cancel_jobs(env: dict, timeout: float = 20) -> None:
    """Cancel every job of the cluster and wait (at most ``timeout`` s) until none is left."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            jobs = subprocess.run(
                ["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True, timeout=10
            ).stdout.split()
            if not jobs:
                return
            subprocess.run(["scancel", *jobs], env=env, capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return
        time.sleep(0.5)


def processes_of(conf: Path) -> list[int]:
    """Processes started under this cluster (slurmstepd and the jobs' own processes inherit its
    SLURM_CONF), this process and its ancestors excepted."""
    marker = b"SLURM_CONF=" + str(conf).encode()
    own, pid = set(), os.getpid()
    while pid > 1:
        own.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in own:
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _wait_for(ready, what: str, folder: Path, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ready():
            return
        time.sleep(0.2)
    logs = {p.name: p.read_text()[-1500:] for p in folder.glob("*.log")}
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s; logs: {logs}")
