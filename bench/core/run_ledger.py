"""CPU time and memory of one run summed over every process that worked on it.

A run killed and started again is one run: each process keeps a ledger entry in
``<cache>/runs/<run key>/open/<pid>-<start>.json`` (the run key hashes the settings that define
the results, ``RunConfig.public()``), rewritten atomically every :data:`INTERVAL_S` seconds by a
daemon thread, so a process killed with SIGKILL leaves its CPU time up to then. When a run
completes, its entries are summed into the record's ``resources`` (``cpu_user_s`` and
``cpu_system_s`` summed, ``peak_rss_mib`` the largest, each process listed under ``processes``)
and the ledger is closed (``open/`` renamed ``done-<time>/``): the next run with the same
settings starts a new one. A process counts its CPU time from its start, or for a second run in
the same process, from the end of the previous one.
"""

from __future__ import annotations

import json
import os
import resource
import threading
import time
from pathlib import Path

from bench.core.storage import atomic_write_json, content_key

INTERVAL_S = 2.0
_baseline = {"cpu_user_s": 0.0, "cpu_system_s": 0.0}  # this process's CPU time before the current run
_current: list[RunLedger] = []  # this process's unfinished ledger entry


def _usage() -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_user_s": usage.ru_utime,
        "cpu_system_s": usage.ru_stime,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


class RunLedger:
    def __init__(self, cache_root: Path, settings: dict):
        self.dir = Path(cache_root) / "runs" / content_key(settings) / "open"
        self.started = time.time()
        self.baseline = dict(_baseline)
        self.path = self.dir / f"{os.getpid()}-{time.time_ns()}.json"
        self._stop = threading.Event()
        self.write()
        self._thread = threading.Thread(target=self._keep_writing, name="run-ledger", daemon=True)
        self._thread.start()

    def entry(self) -> dict:
        now = _usage()
        return {
            "pid": os.getpid(),
            "started": round(self.started, 3),
            "cpu_user_s": round(now["cpu_user_s"] - self.baseline["cpu_user_s"], 3),
            "cpu_system_s": round(now["cpu_system_s"] - self.baseline["cpu_system_s"], 3),
            "peak_rss_mib": now["peak_rss_mib"],
        }

    def write(self) -> None:
        atomic_write_json(self.path, self.entry())

    def _keep_writing(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            try:
                self.write()
            except OSError:  # a full or vanished cache folder must not kill the run
                return

    def stop(self) -> None:
        """Write this process's entry a last time and count what follows towards the next run."""
        self._stop.set()
        self._thread.join()
        self.write()
        now = _usage()
        _baseline.update(cpu_user_s=now["cpu_user_s"], cpu_system_s=now["cpu_system_s"])
        if self in _current:
            _current.remove(self)

    def finish(self) -> dict:
        """Stop this process's entry, sum all entries of the run and close its ledger."""
        self.stop()
        entries = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                entries.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        entries.sort(key=lambda e: e["started"])
        try:
            self.dir.rename(self.dir.with_name(f"done-{time.time_ns()}"))
        except OSError:  # another worker of the same run closed it first
            pass
        return {
            "peak_rss_mib": max(e["peak_rss_mib"] for e in entries),
            "cpu_user_s": round(sum(e["cpu_user_s"] for e in entries), 3),
            "cpu_system_s": round(sum(e["cpu_system_s"] for e in entries), 3),
            "processes": entries,
        }


def start_ledger(cache_root: Path, settings: dict) -> RunLedger:
    """A new entry of this process in the run's open ledger (one is opened when none is); an
    entry this process left unfinished (a run interrupted by an exception) is stopped first."""
    for unfinished in _current[:]:
        unfinished.stop()
    ledger = RunLedger(cache_root, settings)
    _current.append(ledger)
    return ledger
