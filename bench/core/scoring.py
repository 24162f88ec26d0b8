"""Scoring a work unit's outputs: descriptors in blocks (one clip at a time when a block fails),
adherence to the reference in the item's band (for a blend, to each input in its band), and the
FAD/KAD embedding; a failure is the item's, with its reason."""

from __future__ import annotations

import logging

from bench.core.system import CONDITIONAL
from bench.core.unit_context import UnitContext
from bench.core.unit_results import ItemScores
from bench.metrics.adherence import adherence
from bench.metrics.specs import ADHERENCE_SPECS

log = logging.getLogger(__name__)
METRICS = tuple(spec.key for spec in ADHERENCE_SPECS)


def score_block(task, block, records, audios, ctx: UnitContext) -> list[ItemScores]:
    features = ctx.features
    ready = [key for _, key in block if key in audios]
    with ctx.phase("descriptors"):
        described = _describe(ready, audios, records, features)
    return [_score_one(task, item, key, records[key], audios, described, ctx) for item, key in block]


def _describe(ready, audios, records, features) -> dict:
    try:
        described = dict(
            zip(
                ready,
                features.descriptors_many([audios[k] for k in ready], [records[k]["sha256"] for k in ready]),
            )
        )
    except Exception as error:  # one bad clip: fall back to one at a time
        described = {}
        for key in ready:
            try:
                described[key] = features.descriptors(audios[key], records[key]["sha256"])
            except Exception as single_error:
                described[key] = single_error
        log.debug("batched descriptors failed (%s); scored one by one", error)
    return described


def _score_one(task, item, key, record, audios, described, ctx: UnitContext) -> ItemScores:
    if record is None or not record["ok"]:
        return ItemScores(item.key, item.group, False, record["reason"] if record else "not generated")
    sha = record["sha256"]
    pred = described.get(key)
    if isinstance(pred, Exception):
        return ItemScores(item.key, item.group, False, f"scoring failed: {pred}", audio_sha=sha)
    try:
        with ctx.phase("adherence"):
            if task == CONDITIONAL:
                scores = adherence(pred, ctx.clip_descriptors(item.clip_id), item.band)
            else:
                a1 = adherence(pred, ctx.clip_descriptors(item.clip_id1), item.band1)
                a2 = adherence(pred, ctx.clip_descriptors(item.clip_id2), item.band2)
                scores = {}
                for metric in METRICS:
                    scores[f"{metric}_1"] = a1[f"{metric}_in"]
                    scores[f"{metric}_2"] = a2[f"{metric}_in"]
        with ctx.phase("embedding"):
            embedding = ctx.features.embedding(audios[key], record["sha256"])
    except Exception as error:
        return ItemScores(item.key, item.group, False, f"scoring failed: {error}", audio_sha=sha)
    return ItemScores(item.key, item.group, True, "", scores, sha, embedding)
