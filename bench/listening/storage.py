"""The study's SQLite database (WAL): participants, their question order, play events, answers.

Every write is one transaction on its own connection, so a killed server loses nothing that was
acknowledged. Tables: ``participants`` (token, consent, completion code, attention outcome),
``question_order`` (position -> question, whether the two blends are swapped), ``play_events``,
``answers`` (one row per participant and question, with its timestamp).
"""

from __future__ import annotations

import random
import secrets
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS participants (
    token TEXT PRIMARY KEY, invited_at REAL NOT NULL, started_at REAL, finished_at REAL,
    completion_code TEXT, passed_attention INTEGER);
CREATE TABLE IF NOT EXISTS question_order (
    token TEXT NOT NULL REFERENCES participants(token), position INTEGER NOT NULL,
    question TEXT NOT NULL, swapped INTEGER NOT NULL, PRIMARY KEY (token, position),
    UNIQUE (token, question));
CREATE TABLE IF NOT EXISTS play_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, token TEXT NOT NULL REFERENCES participants(token),
    question TEXT NOT NULL, stimulus TEXT NOT NULL, played_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    token TEXT NOT NULL REFERENCES participants(token), question TEXT NOT NULL,
    position INTEGER NOT NULL, first_system TEXT, second_system TEXT,
    quality INTEGER NOT NULL CHECK (quality BETWEEN 1 AND 5),
    blending INTEGER NOT NULL CHECK (blending BETWEEN 1 AND 5),
    answered_at REAL NOT NULL, PRIMARY KEY (token, question));
"""


class StudyDB:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def connect(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=FULL")
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def transaction(self):
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def invite(self, n: int) -> list[str]:
        tokens = [secrets.token_urlsafe(16) for _ in range(n)]
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO participants (token, invited_at) VALUES (?, ?)",
                [(t, time.time()) for t in tokens],
            )
        return tokens

    def participant(self, token: str) -> dict | None:
        with self.connect() as db:
            row = db.execute("SELECT * FROM participants WHERE token = ?", (token,)).fetchone()
        return dict(row) if row else None

    def start(self, token: str, questions: list[str], attention_id: str) -> None:
        """Consent given: draw this participant's question order (the attention check at a random
        place) and blend order, once; a second call keeps the first draw."""
        draw = random.SystemRandom()
        order = list(questions)
        draw.shuffle(order)
        order.insert(draw.randrange(len(order) + 1), attention_id)
        with self.transaction() as db:
            started = db.execute("SELECT started_at FROM participants WHERE token = ?", (token,)).fetchone()
            if started["started_at"] is not None:
                return
            db.execute("UPDATE participants SET started_at = ? WHERE token = ?", (time.time(), token))
            db.executemany(
                "INSERT INTO question_order VALUES (?, ?, ?, ?)",
                [(token, i, q, draw.randrange(2)) for i, q in enumerate(order)],
            )

    def order(self, token: str) -> list[dict]:
        with self.connect() as db:
            rows = db.execute(
                "SELECT position, question, swapped FROM question_order WHERE token = ? ORDER BY position",
                (token,),
            ).fetchall()
        return [dict(r) for r in rows]

    def answered(self, token: str) -> set[str]:
        with self.connect() as db:
            return {r[0] for r in db.execute("SELECT question FROM answers WHERE token = ?", (token,))}

    def record_play(self, token: str, question: str, stimulus: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO play_events (token, question, stimulus, played_at) VALUES (?, ?, ?, ?)",
                (token, question, stimulus, time.time()),
            )

    def played(self, token: str, question: str) -> set[str]:
        with self.connect() as db:
            return {
                r[0]
                for r in db.execute(
                    "SELECT stimulus FROM play_events WHERE token = ? AND question = ?", (token, question)
                )
            }

    def answer(
        self,
        token: str,
        question: str,
        position: int,
        systems: tuple,
        quality: int,
        blending: int,
        finish: dict | None,
    ) -> None:
        """One answer, and when it is the last one the participant's completion, in one transaction."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (token, question, position, systems[0], systems[1], quality, blending, time.time()),
            )
            if finish is not None:
                db.execute(
                    "UPDATE participants SET finished_at = ?, completion_code = ?, passed_attention = ? "
                    "WHERE token = ?",
                    (time.time(), finish["code"], int(finish["passed"]), token),
                )

    def answers(self, token: str | None = None) -> list[dict]:
        query = "SELECT * FROM answers" + (" WHERE token = ?" if token else "") + " ORDER BY token, position"
        with self.connect() as db:
            return [dict(r) for r in db.execute(query, (token,) if token else ())]

    def participants(self) -> list[dict]:
        with self.connect() as db:
            return [dict(r) for r in db.execute("SELECT * FROM participants ORDER BY invited_at, token")]
