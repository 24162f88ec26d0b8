"""A built study folder as the server and the exporter see it: questions, stimuli, participants' state.

``study.json`` (what may be shown) and ``manifest.json`` (private: which system made which
blend) are read once; the database holds everything participants did (bench/reports/listening/storage.py).
"""

from __future__ import annotations

import csv
import io
import secrets
from pathlib import Path

from bench.core.storage import read_json
from bench.reports.listening.build import STUDY_SCHEMA
from bench.reports.listening.errors import StudyError
from bench.reports.listening.storage import StudyDB

EXPORT_COLUMNS = (
    "participant",
    "question",
    "first_system",
    "second_system",
    "quality",
    "blending",
    "passed_attention",
)


class Study:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        for name in ("study.json", "manifest.json"):
            path = self.folder / name
            if not path.is_file():
                raise StudyError(
                    f"{self.folder}: not a study folder ({name} is missing; make one with "
                    "`python -m bench listening build`)"
                )
            try:
                data = read_json(path)
            except ValueError as error:
                raise StudyError(f"{path}: not JSON ({error})") from None
            if not isinstance(data, dict) or data.get("schema") != STUDY_SCHEMA:
                raise StudyError(f"{path}: not a listening study file (schema {STUDY_SCHEMA} expected)")
            setattr(self, name.split(".")[0] if name != "study.json" else "public", data)
        self.stimuli_dir = self.folder / "stimuli"
        self.questions = {q["id"]: q for q in self.public["questions"]}
        self.attention_id = self.public["attention"]["id"]
        self.questions[self.attention_id] = self.public["attention"]
        self.question_ids = [q["id"] for q in self.public["questions"]]
        self.stimuli = {n for q in self.questions.values() for n in q["references"] + q["blends"]}
        self.stimuli.add(self.public["volume_check"])
        self.db = StudyDB(self.folder / "study.db")

    def _display(self, position: int, row: dict) -> dict:
        question = self.questions[row["question"]]
        blends = question["blends"][::-1] if row["swapped"] else question["blends"]
        return {
            "id": row["question"],
            "position": position,
            "references": question["references"],
            "blends": blends,
            "stimuli": question["references"] + blends,
        }

    def current(self, participant: dict) -> dict | None:
        answered = self.db.answered(participant["token"])
        for position, row in enumerate(self.db.order(participant["token"])):
            if row["question"] not in answered:
                return self._display(position, row)
        return None

    def state(self, participant: dict) -> dict:
        n = len(self.question_ids) + 1
        base = {
            "n": n,
            "volume_check": f"/audio/{self.public['volume_check']}",
            "attention_answer": self.public["attention_answer"],
        }
        if participant["finished_at"] is not None:
            return {**base, "stage": "done", "code": participant["completion_code"]}
        if participant["started_at"] is None:
            return {**base, "stage": "consent"}
        question = self.current(participant)
        played = sorted(self.db.played(participant["token"], question["id"]))
        return {
            **base,
            "stage": "question",
            "k": question["position"] + 1,
            "question": {
                "id": question["id"],
                "references": question["references"],
                "blends": question["blends"],
                "played": played,
            },
        }

    def record_answer(self, participant: dict, question: dict, quality: int, blending: int) -> None:
        if question["id"] == self.attention_id:
            systems = (None, None)
        else:
            truth = self.manifest["questions"][question["id"]]
            pair = (truth["first_system"], truth["second_system"])
            swapped = question["blends"] != self.questions[question["id"]]["blends"]
            systems = pair[::-1] if swapped else pair
        answered = self.db.answered(participant["token"])
        finish = None
        if len(answered) + 1 == len(self.question_ids) + 1:
            attention = (quality, blending) if question["id"] == self.attention_id else None
            if attention is None:
                attention = next(
                    (a["quality"], a["blending"])
                    for a in self.db.answers(participant["token"])
                    if a["question"] == self.attention_id
                )
            wanted = self.public["attention_answer"]
            finish = {
                "code": secrets.token_hex(4).upper(),
                "passed": attention == (wanted["quality"], wanted["blending"]),
            }
        self.db.answer(
            participant["token"], question["id"], question["position"], systems, quality, blending, finish
        )

    def summary(self) -> dict:
        participants = self.db.participants()
        per_question = {q: 0 for q in self.question_ids + [self.attention_id]}
        for answer in self.db.answers():
            per_question[answer["question"]] += 1
        return {
            "study_id": self.public["study_id"],
            "invited": len(participants),
            "started": sum(p["started_at"] is not None for p in participants),
            "finished": sum(p["finished_at"] is not None for p in participants),
            "failed_attention": sum(p["passed_attention"] == 0 for p in participants),
            "answers_per_question": per_question,
        }

    def export_csv(self) -> tuple[str, dict]:
        """The finished participants' answers in the analysis format (the attention question itself
        is not a row; its outcome is ``passed_attention``); participants not finished are counted."""
        participants = self.db.participants()
        anonymous = {p["token"]: f"p{i + 1:03d}" for i, p in enumerate(participants)}
        finished = {p["token"]: p for p in participants if p["finished_at"] is not None}
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for answer in self.db.answers():
            who = finished.get(answer["token"])
            if who is None or answer["question"] == self.attention_id:
                continue
            writer.writerow(
                [
                    anonymous[answer["token"]],
                    answer["question"],
                    answer["first_system"],
                    answer["second_system"],
                    answer["quality"],
                    answer["blending"],
                    who["passed_attention"],
                ]
            )
        counts = {"finished": len(finished), "not_finished": len(participants) - len(finished)}
        return buffer.getvalue(), counts
