"""Notes, melody and tempo: what a generated clip keeps of its reference's musical content.

Transcription is basic-pitch's ICASSP 2022 model run through onnxruntime (the model ships in the
basic-pitch wheel); melody is essentia's PredominantPitchMelodia; both are scored with mir_eval.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 22050  # the harness's audio rate (bench/core/audio.py)


@lru_cache(maxsize=1)
def _basic_pitch_model():
    logging.getLogger().setLevel(logging.ERROR)  # basic-pitch warns about absent TF back-ends
    from basic_pitch import ICASSP_2022_MODEL_PATH
    from basic_pitch.inference import Model

    if not str(ICASSP_2022_MODEL_PATH).endswith(".onnx"):
        raise RuntimeError("basic-pitch did not select its ONNX model: install onnxruntime")
    return Model(ICASSP_2022_MODEL_PATH)


def basic_pitch_id() -> str:
    from importlib.metadata import version

    return f"basic-pitch{version('basic-pitch')}-icassp2022-onnx"


def transcribe(audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Note events [N, 3]: onset s, offset s, MIDI pitch (basic-pitch defaults: onset 0.5,
    frame 0.3, minimum note 127.7 ms, melodia trick on)."""
    import soundfile
    from basic_pitch.inference import predict

    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1 or not np.all(np.isfinite(audio)):
        raise ValueError("transcribe expects one finite mono clip")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.wav"
        soundfile.write(path, audio.astype(np.float32), sr, subtype="FLOAT")
        with contextlib.redirect_stdout(io.StringIO()):
            _, _, events = predict(path, _basic_pitch_model())
    if not events:
        return np.zeros((0, 3))
    return np.array(sorted((float(on), float(off), float(pitch)) for on, off, pitch, *_ in events))


def note_scores(
    reference: np.ndarray, estimate: np.ndarray, onset_tolerance: float = 0.05, with_offsets: bool = False
) -> dict[str, float]:
    """Note precision, recall and F1 (mir_eval.transcription): a note matches when its pitch is
    within 50 cents and its onset within ``onset_tolerance`` s (and, with offsets, its offset within
    20 % of the reference note's duration or 50 ms)."""
    import mir_eval

    def split(notes):
        notes = np.asarray(notes, dtype=np.float64).reshape(-1, 3)
        intervals = notes[:, :2]
        intervals[:, 1] = np.maximum(intervals[:, 1], intervals[:, 0] + 1e-3)
        return intervals, mir_eval.util.midi_to_hz(notes[:, 2])

    if len(reference) == 0:
        raise ValueError("note_scores: the reference has no notes")
    if len(estimate) == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    ref_i, ref_p = split(reference)
    est_i, est_p = split(estimate)
    precision, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_i,
        ref_p,
        est_i,
        est_p,
        onset_tolerance=onset_tolerance,
        offset_ratio=0.2 if with_offsets else None,
    )
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


MELODIA_SR = 44100


def predominant_melody(
    audio: np.ndarray, sr: int = SAMPLE_RATE, hop: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """(times s, f0 Hz; 0 = unvoiced): essentia's PredominantPitchMelodia at 44.1 kHz (the clip
    resampled with the Kaiser sinc), equal-loudness filtered, frame 2048, hop ``hop``."""
    import essentia
    import essentia.standard as es

    from bench.metrics.resampling import resample

    essentia.log.infoActive = False
    audio = resample(np.asarray(audio, dtype=np.float64), sr, MELODIA_SR).astype(np.float32)
    signal = es.EqualLoudness(sampleRate=MELODIA_SR)(audio)
    f0, _ = es.PredominantPitchMelodia(sampleRate=MELODIA_SR, hopSize=hop, frameSize=2048)(signal)
    f0 = np.asarray(f0, dtype=np.float64)
    return np.arange(f0.shape[0]) * hop / MELODIA_SR, f0


def melody_accuracy(ref_times, ref_f0, est_times, est_f0) -> dict[str, float]:
    """mir_eval.melody overall accuracy, raw pitch and raw chroma accuracy (50-cent tolerance)."""
    import mir_eval

    scores = mir_eval.melody.evaluate(
        np.asarray(ref_times), np.asarray(ref_f0), np.asarray(est_times), np.asarray(est_f0)
    )
    return {
        "overall_accuracy": float(scores["Overall Accuracy"]),
        "raw_pitch_accuracy": float(scores["Raw Pitch Accuracy"]),
        "raw_chroma_accuracy": float(scores["Raw Chroma Accuracy"]),
    }


def frame_pitch_scores(
    reference_roll: np.ndarray, estimate_roll: np.ndarray, frame_seconds: float, lowest_midi: int
) -> dict[str, float]:
    """Frame-level multi-pitch precision, recall and F1 of piano rolls [N, T, K] (or [T, K]),
    column k = MIDI ``lowest_midi + k``, 1 = sounding: mir_eval.multipitch on the rolls laid end to
    end (frame i at i * frame_seconds), a pitch matching within half a semitone.
        P = TP / #estimated, R = TP / #reference, F1 = 2 P R / (P + R) (0 when P + R = 0)."""
    import mir_eval

    reference = np.asarray(reference_roll).reshape(-1, np.shape(reference_roll)[-1]) > 0.5
    estimate = np.asarray(estimate_roll).reshape(-1, np.shape(estimate_roll)[-1]) > 0.5
    if reference.shape != estimate.shape:
        raise ValueError(f"reference roll {reference.shape} and estimate roll {estimate.shape} differ")
    times = np.arange(reference.shape[0]) * frame_seconds
    hz = mir_eval.util.midi_to_hz(lowest_midi + np.arange(reference.shape[1]))

    def frequencies(roll):
        return [hz[row] for row in roll]

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*frequencies are all empty")
        scores = mir_eval.multipitch.evaluate(times, frequencies(reference), times, frequencies(estimate))
    precision, recall = float(scores["Precision"]), float(scores["Recall"])
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": float(scores["Accuracy"])}


def tempo(audio: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """Global tempo in bpm: librosa.feature.tempo on the onset envelope (hop 256)."""
    import librosa

    envelope = librosa.onset.onset_strength(y=np.asarray(audio, dtype=np.float64), sr=sr, hop_length=256)
    return float(librosa.feature.tempo(onset_envelope=envelope, sr=sr, hop_length=256)[0])


def tempo_error(estimate_bpm: float, reference_bpm: float, octave_tolerant: bool = False) -> float:
    """|t - t_ref| / t_ref; octave-tolerant: the smallest over t, 2t and t/2."""
    if reference_bpm <= 0:
        raise ValueError("reference tempo must be positive")
    candidates = (estimate_bpm, 2 * estimate_bpm, estimate_bpm / 2) if octave_tolerant else (estimate_bpm,)
    return float(min(abs(c - reference_bpm) / reference_bpm for c in candidates))
