"""The study's web app (FastAPI): participant pages, play events, answers, the admin page.

Served: the pages and assets of ``bench/listening/static/`` (a fixed list), the study's stimuli by
exact opaque name, and the JSON API. Nothing else of the study folder (manifest.json, study.db) is
reachable: no route maps a URL path onto the file system. Every request body is size-limited and
validated; a refusal is a JSON ``{"error": ...}`` with a 4xx status, never a traceback.
"""

from __future__ import annotations

import html
import re
import secrets
import sqlite3
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from bench.listening.study import Study

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
MAX_BODY = 4096
STIMULUS_NAME = re.compile(r"[0-9a-f]{32}\.wav")


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: StrictStr = Field(max_length=64)


class PlayBody(_Body):
    question: StrictStr = Field(max_length=32)
    stimulus: StrictStr = Field(max_length=64)


class AnswerBody(_Body):
    question: StrictStr = Field(max_length=32)
    quality: StrictInt = Field(ge=1, le=5)
    blending: StrictInt = Field(ge=1, le=5)


class BodyLimit:
    """ASGI middleware: refuse a request body over ``limit`` bytes (declared or streamed) with 413."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _too_large(send)
        received = 0

        async def limited():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send):
    body = b'{"error":"request body too large"}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(study_dir: str | Path, admin_token: str | None = None) -> FastAPI:
    study = Study(study_dir)
    admin_token = admin_token or secrets.token_urlsafe(24)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.admin_token = admin_token
    app.state.study = study

    @app.exception_handler(Refused)
    async def refused(request, error: Refused):
        return JSONResponse({"error": error.message}, status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, error: RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in error.errors()
        )
        return JSONResponse({"error": f"invalid request: {problems}"}, status_code=422)

    @app.exception_handler(404)
    async def not_found(request, error):
        return JSONResponse({"error": "not found"}, status_code=404)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/", response_class=HTMLResponse)
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}")
    def asset(name: str):
        if name not in ASSETS:
            raise Refused(404, "not found")
        return FileResponse(STATIC / name, media_type=ASSETS[name])

    @app.get("/audio/{name}")
    def audio(name: str):
        if not STIMULUS_NAME.fullmatch(name) or name not in study.stimuli:
            raise Refused(404, "not found")
        return FileResponse(study.stimuli_dir / name, media_type="audio/wav")

    def participant(token: str, active: bool = True) -> dict:
        found = study.db.participant(token) if isinstance(token, str) and len(token) <= 64 else None
        if found is None:
            raise Refused(403, "unknown token: use the link you were sent")
        if active and found["finished_at"] is not None:
            raise Refused(409, "this participant has already finished the study")
        return found

    @app.get("/api/state")
    def state(token: str = ""):
        return study.state(participant(token, active=False))

    @app.post("/api/start")
    def start(body: _Body):
        study.db.start(participant(body.token)["token"], study.question_ids, study.attention_id)
        return study.state(study.db.participant(body.token))

    @app.post("/api/play")
    def play(body: PlayBody):
        who = participant(body.token)
        question = study.current(who)
        if question is None:
            raise Refused(409, "the study has not been started (give consent first)")
        if body.question != question["id"]:
            raise Refused(409, f"question {body.question!r} is not the current one")
        if body.stimulus not in question["stimuli"]:
            raise Refused(400, f"stimulus {body.stimulus!r} is not part of question {body.question!r}")
        study.db.record_play(who["token"], body.question, body.stimulus)
        return {"played": sorted(study.db.played(who["token"], body.question))}

    @app.post("/api/answer")
    def answer(body: AnswerBody):
        who = participant(body.token)
        order = [row["question"] for row in study.db.order(who["token"])]
        if not order:
            raise Refused(409, "the study has not been started (give consent first)")
        if body.question not in order:
            raise Refused(400, f"question {body.question!r} is not in this participant's list")
        question = study.current(who)
        if body.question != question["id"]:
            raise Refused(409, f"question {body.question!r} was already answered or is not the current one")
        missing = set(question["stimuli"]) - study.db.played(who["token"], body.question)
        if missing:
            raise Refused(409, f"play all four clips before answering ({len(missing)} not played yet)")
        try:
            study.record_answer(who, question, body.quality, body.blending)
        except sqlite3.IntegrityError:  # the same answer sent twice at once: the first one counts
            raise Refused(409, f"question {body.question!r} was already answered") from None
        return study.state(study.db.participant(body.token))

    @app.get("/admin", response_class=HTMLResponse)
    def admin(key: str = ""):
        if not secrets.compare_digest(key.encode(), admin_token.encode()):
            raise Refused(403, "the admin page needs the admin token printed when the server started")
        return HTMLResponse(_admin_page(study.summary()))

    app.add_middleware(BodyLimit)
    return app


def _admin_page(summary: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(q)}</td><td>{n}</td></tr>" for q, n in summary["answers_per_question"].items()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Study admin</title>"
        f"<link rel='stylesheet' href='/static/style.css'></head><body><main><h1>Study "
        f"{html.escape(summary['study_id'])}</h1><p>participants invited: {summary['invited']}, started: "
        f"{summary['started']}, finished: <span id='finished'>{summary['finished']}</span>, failed the "
        f"attention check: {summary['failed_attention']}</p><table><tr><th>question</th><th>answers</th></tr>"
        f"{rows}</table></main></body></html>"
    )
