"""Shared by the listening-study and report tests: one smoke Table 1 run (both tasks, cheap systems;
the study uses its blends) built into a study once per session, a real server process per test,
and API helpers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from support.paths import FIXTURES, ROOT

SYSTEMS = ("reference", "shuffled", "cross-synthesis")


@pytest.fixture(scope="session")
def listening_run(tmp_path_factory):
    from bench.core.config import RunConfig
    from bench.core.runner import run_table1
    from bench.reports.tables import write_all

    root = tmp_path_factory.mktemp("listening-run")
    config = RunConfig(
        scale="smoke",
        data=str(FIXTURES),
        systems=SYSTEMS,
        tasks=("conditional", "blend"),
        cache_dir=str(root / "cache"),
        data_cache_dir=str(root / "data"),
        out_dir=str(root / "out"),
        progress=False,
    )
    write_all(run_table1(config), config.out_dir, "table1")
    return root


@pytest.fixture(scope="session")
def built_study(listening_run):
    from bench.listening.build import build_study

    out = listening_run / "study"
    build_study(
        listening_run / "out" / "table1.json",
        out,
        SYSTEMS,
        seed=0,
        cache_dir=listening_run / "cache",
        data=str(FIXTURES),
        data_cache=str(listening_run / "data"),
    )
    return out


@pytest.fixture
def study(built_study, tmp_path):
    """A fresh copy of the built study (its own database) for one test."""
    copy = tmp_path / "study"
    shutil.copytree(built_study, copy)
    return copy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m bench.commands.listening serve`` (what ``python -m bench listening serve`` runs) as a real
    child process."""

    def __init__(self, study: Path):
        self.study, self.port = study, free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.commands.listening", "serve", str(study), "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        line = self.process.stdout.readline()
        assert "admin page" in line, line + self.process.stderr.read()
        self.admin = line.rsplit("key=", 1)[1].strip()
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(self.url + "/static/style.css", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def stop(self, kill: bool = False) -> str:
        if self.process.returncode is not None:
            return ""
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(10)
        errors = self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        return errors


@pytest.fixture
def server(study):
    running = Server(study)
    yield running
    running.stop()


def call(
    server: Server, path: str, body=None, raw: bytes | None = None, headers=None
) -> tuple[int, dict | bytes]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    connection.request(
        "POST" if data is not None else "GET",
        path,
        body=data,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    if response.getheader("content-type", "").startswith("application/json"):
        return response.status, json.loads(payload)
    return response.status, payload


def invite(study: Path, n: int) -> list[str]:
    from bench.listening.study import Study

    return Study(study).db.invite(n)


def play_all(server: Server, token: str, state: dict) -> None:
    question = state["question"]
    for stimulus in question["references"] + question["blends"]:
        status, _ = call(
            server, "/api/play", {"token": token, "question": question["id"], "stimulus": stimulus}
        )
        assert status == 200


def attention_ids(study: Path) -> set[str]:
    public = json.loads((study / "study.json").read_text())
    return set(public["attention"]["references"] + public["attention"]["blends"])
