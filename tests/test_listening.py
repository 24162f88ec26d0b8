"""The listening study end to end without a browser: build from a real smoke run, the server's
refusals, answers surviving SIGKILL, export, and the CLI's errors (bench/listening/)."""

import json
import re
import sqlite3

import numpy as np
import pyloudnorm
import pytest
import soundfile

from bench.commands.cli import main

pytest.register_assert_rewrite("support.listening_support")
from support.listening_support import SYSTEMS, Server, attention_ids, call, invite, play_all  # noqa: E402  (after the assert rewrite)

pytest_plugins = (
    "support.listening_support",
)  # its fixtures, one session-wide smoke run for all listening tests


@pytest.mark.slow
def test_build_writes_opaque_loudness_normalised_stimuli_and_a_private_manifest(built_study):
    manifest = json.loads((built_study / "manifest.json").read_text())
    public_text = (built_study / "study.json").read_text()
    public = json.loads(public_text)
    assert len(public["questions"]) == 6  # every ordered pair of 3 systems
    pairs = [(q["first_system"], q["second_system"]) for q in manifest["questions"].values()]
    assert sorted(pairs) == sorted((a, b) for a in SYSTEMS for b in SYSTEMS if a != b)
    files = sorted(p.name for p in (built_study / "stimuli").iterdir())
    assert files == sorted(manifest["stimuli"])
    assert all(re.fullmatch(r"[0-9a-f]{32}\.wav", name) for name in files)
    for system in SYSTEMS:
        assert f'"{system}"' not in public_text and f'"{system}"' in json.dumps(manifest)
        for name in files:
            assert system.encode() not in (built_study / "stimuli" / name).read_bytes()
    for question in public["questions"]:
        truth = manifest["questions"][question["id"]]
        blends = [manifest["stimuli"][n] for n in question["blends"]]
        assert [b["system"] for b in blends] == [truth["first_system"], truth["second_system"]]
        assert {b["item"] for b in blends} == {truth["item"]}
        assert [manifest["stimuli"][n]["kind"] for n in question["references"]] == ["reference", "reference"]
    meter = pyloudnorm.Meter(22050)
    checked = 0
    for name, info in manifest["stimuli"].items():
        if info["kind"] in ("reference", "blend"):
            audio, rate = soundfile.read(built_study / "stimuli" / name)
            assert rate == 22050 and np.max(np.abs(audio)) <= 10 ** (-1 / 20) + 1e-4
            level = meter.integrated_loudness(audio)
            assert abs(level - info["output_lufs"]) < 0.05
            if not info["peak_limited"]:
                assert abs(level - (-23.0)) < 0.05
                checked += 1
    assert checked >= 6
    assert manifest["run"]["dataset"]["manifest_hash"] and manifest["loudness"]["target_lufs"] == -23.0


def test_build_refuses_a_system_without_blending_outputs(listening_run, tmp_path, capsys):
    from support.paths import FIXTURES

    code = main(
        [
            "listening",
            "build",
            "--run",
            str(listening_run / "out" / "table1.json"),
            "--systems",
            "reference,spectrogram",
            "--out",
            str(tmp_path / "s"),
            "--cache",
            str(listening_run / "cache"),
            "--data",
            str(FIXTURES),
            "--data-cache",
            str(listening_run / "data"),
        ]
    )
    assert code == 2
    assert "'spectrogram' has no row in this run" in capsys.readouterr().err
    assert (
        main(["listening", "build", "--run", str(tmp_path / "none.json"), "--out", str(tmp_path / "s")]) == 2
    )


def _start(server, token):
    status, state = call(server, "/api/start", {"token": token})
    assert status == 200 and state["stage"] == "question"
    return state


def _answer(server, token, state, quality=2, blending=4):
    return call(
        server,
        "/api/answer",
        {"token": token, "question": state["question"]["id"], "quality": quality, "blending": blending},
    )


def _rows(study):
    with sqlite3.connect(study / "study.db") as db:
        return {
            t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("participants", "answers", "play_events", "question_order")
        }


def test_server_refuses_bad_requests_without_writing_a_row(server, study):
    token, other = invite(study, 2)
    assert call(server, "/api/state?token=nope")[0] == 403
    assert call(server, "/api/start", {"token": "nope"})[0] == 403
    state = _start(server, token)
    question = state["question"]
    before = _rows(study)
    # an answer before the clips were played, then after playing only three of them
    status, body = _answer(server, token, state)
    assert status == 409 and "play all four clips" in body["error"]
    for stimulus in (question["references"] + question["blends"])[:3]:
        call(server, "/api/play", {"token": token, "question": question["id"], "stimulus": stimulus})
    assert _answer(server, token, state)[0] == 409
    played = _rows(study)
    assert played["play_events"] == before["play_events"] + 3 and played["answers"] == 0
    play_all(server, token, state)
    before = _rows(study)
    for quality in (0, 6, 2.5, "3", None):
        status, body = _answer(server, token, state, quality=quality)
        assert status == 422 and "quality" in body["error"]
    assert _answer(server, token, state, blending=9)[0] == 422
    status, body = call(
        server, "/api/answer", {"token": token, "question": "q99", "quality": 3, "blending": 3}
    )
    assert status == 400 and "not in this participant's list" in body["error"]
    not_current = next(q for q in ["attention"] + [f"q{i:02d}" for i in range(1, 7)] if q != question["id"])
    assert (
        call(server, "/api/answer", {"token": token, "question": not_current, "quality": 3, "blending": 3})[0]
        == 409
    )
    assert (
        call(server, "/api/play", {"token": token, "question": question["id"], "stimulus": "x" * 36})[0]
        == 400
    )
    assert (
        call(
            server, "/api/answer", {"token": other, "question": question["id"], "quality": 3, "blending": 3}
        )[0]
        == 409
    )  # not started
    status, body = call(server, "/api/answer", raw=b'{"token": "' + b"a" * 10000 + b'"}')
    assert status == 413
    status, body = call(server, "/api/answer", raw=b"{not json")
    assert status == 422
    assert _rows(study) == before
    for path in (
        "/audio/../manifest.json",
        "/audio/%2e%2e/manifest.json",
        "/audio/..%2fmanifest.json",
        "/audio/%2e%2e%2fmanifest.json",
        "/audio/%252e%252e%252fmanifest.json",
        "/manifest.json",
        "/study.json",
        "/study.db",
        "/stimuli/" + question["blends"][0],
        "/static/../manifest.json",
        "/static/..%2f..%2fmanifest.json",
        "/static/index.html",
        "/audio/" + "0" * 32 + ".wav",
        "/audio/" + question["blends"][0] + "/../../manifest.json",
        "/docs",
        "/openapi.json",
    ):
        status, body = call(server, path)
        assert status == 404, path
        assert b"schema" not in json.dumps(body).encode()
    status, audio = call(server, "/audio/" + question["blends"][0])
    assert status == 200 and audio[:4] == b"RIFF"
    assert call(server, "/admin")[0] == 403 and call(server, "/admin?key=wrong")[0] == 403
    status, page = call(server, f"/admin?key={server.admin}")
    assert status == 200 and b"finished" in page
    # finish the study: the finished token is refused afterwards
    while state["stage"] == "question":
        play_all(server, token, state)
        status, state = _answer(server, token, state)
        assert status == 200
    assert state["stage"] == "done" and re.fullmatch(r"[0-9A-F]{8}", state["code"])
    before = _rows(study)
    assert call(server, "/api/start", {"token": token})[0] == 409
    assert (
        call(server, "/api/answer", {"token": token, "question": "q01", "quality": 3, "blending": 3})[0]
        == 409
    )
    assert _rows(study) == before
    assert "Traceback" not in server.stop()


def test_the_same_answer_sent_twice_at_once_is_stored_once(server, study):
    from concurrent.futures import ThreadPoolExecutor

    (token,) = invite(study, 1)
    state = _start(server, token)
    play_all(server, token, state)
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(s for s, _ in pool.map(lambda _: _answer(server, token, state), range(8)))
    assert statuses == [200] + [409] * 7
    assert _rows(study)["answers"] == 1
    assert "Traceback" not in server.stop()


def test_sigkill_between_answers_loses_no_committed_answer(study):
    (token,) = invite(study, 1)
    first = Server(study)
    state = _start(first, token)
    answered = []
    for _ in range(3):
        play_all(first, token, state)
        answered.append(state["question"]["id"])
        status, state = _answer(first, token, state)
        assert status == 200
    current = state["question"]["id"]
    first.stop(kill=True)
    second = Server(study)
    try:
        status, resumed = call(second, f"/api/state?token={token}")
        assert status == 200 and resumed["k"] == 4 and resumed["question"]["id"] == current
        with sqlite3.connect(study / "study.db") as db:
            rows = db.execute(
                "SELECT question FROM answers WHERE token = ? ORDER BY position", (token,)
            ).fetchall()
        assert [r[0] for r in rows] == answered
    finally:
        second.stop()


@pytest.mark.slow
def test_export_and_analyze_a_study_folder(server, study, tmp_path, capsys):
    from bench.listening.analysis import read_answers

    tokens = invite(study, 3)
    silent = attention_ids(study)
    for token, attentive in zip(tokens[:2], (True, False)):
        state = _start(server, token)
        while state["stage"] == "question":
            play_all(server, token, state)
            is_check = set(state["question"]["blends"]) <= silent
            ratings = (1, 5) if is_check and attentive else (2, 3)
            status, state = _answer(server, token, state, *ratings)
            assert status == 200
    assert main(["listening", "export", str(study), "--out", str(tmp_path / "a.csv")]) == 0
    answers = read_answers(tmp_path / "a.csv")
    assert len(answers) == 12 and answers.groupby("participant").passed_attention.first().tolist() == [1, 0]
    assert set(answers.first_system) == set(SYSTEMS) and (answers.first_system != answers.second_system).all()
    assert not answers.participant.isin(tokens).any()  # tokens are not exported
    capsys.readouterr()
    assert main(["listening", "analyze", str(study), "--bootstrap", "10", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["participants"] == {"total": 2, "excluded": 1, "kept": 1}
    assert summary["scales"]["quality"]["fleiss_kappa"] is None  # one rater
    assert set(summary["scales"]["quality"]["bradley_terry"]) == set(SYSTEMS)
    assert (study / "analysis" / "report.md").read_text().count(study.name) >= 1


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "participant,question,first_system,quality,blending,passed_attention\np,q,a,3,3,1\n",
            "missing column(s) second_system",
        ),
        (
            "participant,question,first_system,second_system,quality,blending,passed_attention\np,q,a,b,3,3,1\np,r,a,b,7,3,1\n",
            "row 3: quality '7' is not an integer rating from 1 to 5",
        ),
        (
            "participant,question,first_system,second_system,quality,blending,passed_attention\np,q,a,b,3,3,1\np,r,a,b,2,3,0\n",
            "row 3: participant 'p' has conflicting passed_attention",
        ),
    ],
)
def test_analyze_refuses_bad_answers_naming_file_and_row(tmp_path, capsys, content, message):
    path = tmp_path / "answers.csv"
    path.write_text(content)
    assert main(["listening", "analyze", "--answers", str(path)]) == 2
    error = capsys.readouterr().err
    assert str(path) in error and message in error


def test_commands_refuse_a_folder_that_is_not_a_study(tmp_path, capsys):
    for command in ("export", "invite", "analyze", "serve"):
        assert main(["listening", command, str(tmp_path)]) == 2
        assert "not a study folder" in capsys.readouterr().err


def test_pages_load_nothing_from_outside():
    from bench.listening.server import ASSETS, STATIC

    for name in ["index.html", *ASSETS]:
        text = (STATIC / name).read_text()
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.IGNORECASE), name
    assert sorted(p.name for p in STATIC.iterdir()) == sorted(["index.html", *ASSETS])
