"""``python -m bench metrics ...``: score your own audio files with the harness's metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.core.audio import (
    AUDIO_SUFFIXES,
    CLIP_SAMPLES,
    SAMPLE_RATE,
    AudioError,
    load_audio,
    normalise_clip,
    resample,
    silence_reason,
)


def load_clip(path: str, prepare: bool = True) -> np.ndarray:
    """A file as a 22050 Hz mono clip; with ``prepare``, its first 131072 samples, normalised.
    A silent file, or with ``prepare`` one shorter than a clip, is refused (never zero-padded)."""
    audio, sr = load_audio(path)
    audio = resample(audio, sr, SAMPLE_RATE)
    silent = silence_reason(audio)
    if silent:
        raise AudioError(f"{path}: {silent}")
    if not prepare:
        return audio
    if audio.shape[0] < CLIP_SAMPLES:
        raise AudioError(
            f"{path}: {audio.shape[0] / SAMPLE_RATE:.2f} s ({audio.shape[0]} samples at "
            f"{SAMPLE_RATE} Hz), shorter than the {CLIP_SAMPLES}-sample clip "
            f"({CLIP_SAMPLES / SAMPLE_RATE:.2f} s) the scores are computed on"
        )
    return normalise_clip(audio[:CLIP_SAMPLES])


def adherence_command(pred: str, ref: str, band_text: str) -> dict:
    from bench.core.bands import Band
    from bench.metrics.adherence import adherence
    from bench.metrics.descriptors import DESCRIPTOR_VERSION, compute_descriptors

    band = Band.parse(band_text)  # refuses a band that selects no bin
    scores = adherence(compute_descriptors(load_clip(pred)), compute_descriptors(load_clip(ref)), band)
    return {
        "pred": pred,
        "ref": ref,
        "band": [band.low, band.high],
        "band_hz": list(band.hz),
        "scores": scores,
        "timbre_is": "raw MCD (Table 1 shows MCD/100)",
        "descriptors": DESCRIPTOR_VERSION,
        "clip": "first 131072 samples at 22050 Hz, normalised",
    }


def load_embeddings(source: str, embedder) -> np.ndarray:
    path = Path(source)
    if path.suffix == ".npy":
        array = np.load(path)
        if array.ndim != 2:
            raise ValueError(f"{path}: expected an [N, D] array, got shape {array.shape}")
        return array.astype(np.float64)
    if not path.is_dir():
        raise ValueError(f"{path}: neither a folder of audio nor a .npy array of embeddings")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise ValueError(f"{path}: no audio files")
    return np.concatenate([embedder.embed(load_clip(str(f), prepare=False)) for f in files]).astype(
        np.float64
    )


def distance_command(
    kind: str,
    eval_source: str,
    ref_source: str,
    embedder_name: str,
    inf: bool = False,
    seed: int = 0,
    bandwidth_from: str = "reference",
) -> dict:
    from bench.core.registry import make_embedder
    from bench.metrics.distribution import fad, fad_inf, kad

    embedder = make_embedder(embedder_name)
    x, y = load_embeddings(eval_source, embedder), load_embeddings(ref_source, embedder)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"{eval_source} holds {x.shape[1]}-dimensional embeddings but {ref_source} holds "
            f"{y.shape[1]}-dimensional ones: were they made by the same embedder?"
        )
    extra = {}
    if kind == "fad" and inf:
        result = fad_inf(x, y, seed=seed)
        value, kind = result["value"], "fad-inf"
        extra = {"slope": result["slope"], "r2": result["r2"], "seed": seed, "points": result["points"]}
    elif kind == "fad":
        value = fad(x, y)
    else:
        value = kad(x, y, bandwidth_from=bandwidth_from)
        extra = {"bandwidth_from": bandwidth_from}
    out = {
        "metric": kind,
        "value": value,
        **extra,
        "eval": eval_source,
        "ref": ref_source,
        "n_eval": int(x.shape[0]),
        "n_ref": int(y.shape[0]),
        "dim": int(x.shape[1]),
    }
    if not (eval_source.endswith(".npy") and ref_source.endswith(".npy")):
        out.update(embedder=embedder.id, weights=embedder.weights)
    if kind == "kad":
        out.update(
            kernel="gaussian",
            bandwidth="median pairwise distance of the reference set",
            scale=100,
            estimator="unbiased MMD^2",
        )
    else:
        out.update(covariance="sample (N-1)", sqrtm="scipy, 1e-6 diagonal offset if not finite")
    return out


def _clip_embeddings(source: str, embedder) -> np.ndarray:
    """One embedding per audio file (the mean of its rows); a .npy array's rows as they are."""
    path = Path(source)
    if path.suffix == ".npy":
        return load_embeddings(source, embedder)
    if not path.is_dir():
        raise ValueError(f"{path}: neither a folder of audio nor a .npy array of embeddings")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise ValueError(f"{path}: no audio files")
    return np.stack([embedder.embed(load_clip(str(f), prepare=False)).mean(axis=0) for f in files])


def set_metric_command(kind: str, eval_source: str, ref_source: str, embedder_name: str, **options) -> dict:
    """Precision / recall / density / coverage (metrics/manifold.py) or MAUVE (metrics/mauve_score.py)
    of the eval set against the reference set, one embedding per file."""
    from bench.core.registry import make_embedder
    from bench.metrics.manifold import prdc
    from bench.metrics.mauve_score import mauve

    embedder = make_embedder(embedder_name)
    x, y = _clip_embeddings(eval_source, embedder), _clip_embeddings(ref_source, embedder)
    if kind == "prdc":
        result = {"metric": "prdc", **prdc(y, x, options["nearest_k"]), "nearest_k": options["nearest_k"]}
    else:
        out = mauve(x, y, np.random.default_rng(options["seed"]), options["buckets"])
        result = {
            "metric": "mauve",
            "value": out["mauve"],
            "buckets": out["buckets"],
            "seed": options["seed"],
        }
        result.update(scaling=5, curve_points=25, pca_explained_variance=0.9)
    result.update(eval=eval_source, ref=ref_source, n_eval=int(x.shape[0]), n_ref=int(y.shape[0]))
    if not (eval_source.endswith(".npy") and ref_source.endswith(".npy")):
        result.update(embedder=embedder.id, unit="one embedding per file: the mean of its rows")
    return result


def sisdr_command(estimate: str, reference: str) -> dict:
    from bench.metrics.separation import si_sdr, snr

    e, sr_e = load_audio(estimate)
    r, sr_r = load_audio(reference)
    for path, audio in ((estimate, e), (reference, r)):
        if silence_reason(audio):
            raise AudioError(f"{path}: {silence_reason(audio)}: SI-SDR and SNR are undefined")
    if sr_e != sr_r:
        raise ValueError(f"{estimate} is at {sr_e} Hz but {reference} is at {sr_r} Hz")
    if e.shape != r.shape:
        raise ValueError(f"{estimate} has {e.shape[0]} samples but {reference} has {r.shape[0]}")
    return {
        "estimate": estimate,
        "reference": reference,
        "si_sdr_db": float(si_sdr(e, r)),
        "snr_db": float(snr(e, r)),
        "sample_rate": sr_e,
    }


def transcription_command(estimate: str, reference: str) -> dict:
    """What the estimate keeps of the reference's notes, melody and tempo."""
    from bench.metrics.transcription import (
        basic_pitch_id,
        melody_accuracy,
        note_scores,
        predominant_melody,
        tempo,
        tempo_error,
        transcribe,
    )

    est, ref = load_clip(estimate), load_clip(reference)
    ref_notes = transcribe(ref)
    if len(ref_notes) == 0:
        raise ValueError(f"{reference}: basic-pitch found no notes to compare against")
    est_tempo, ref_tempo = tempo(est), tempo(ref)
    return {
        "estimate": estimate,
        "reference": reference,
        "notes": note_scores(ref_notes, transcribe(est)),
        "melody": melody_accuracy(*predominant_melody(ref), *predominant_melody(est)),
        "tempo_bpm": {
            "estimate": est_tempo,
            "reference": ref_tempo,
            "relative_error": tempo_error(est_tempo, ref_tempo),
            "octave_tolerant_error": tempo_error(est_tempo, ref_tempo, octave_tolerant=True),
        },
        "transcriber": basic_pitch_id(),
        "melody_extractor": "essentia PredominantPitchMelodia 44.1 kHz",
        "note_matching": "mir_eval onset 50 ms, pitch 50 cents, offsets ignored",
    }


def run(args) -> int:
    try:
        if args.metric == "adherence":
            result = adherence_command(args.pred, args.ref, args.band)
        elif args.metric in ("fad", "kad"):
            result = distance_command(
                args.metric,
                args.eval,
                args.ref,
                args.embedder,
                getattr(args, "inf", False),
                getattr(args, "seed", 0),
                getattr(args, "bandwidth_from", "reference"),
            )
        elif args.metric in ("prdc", "mauve"):
            result = set_metric_command(
                args.metric,
                args.eval,
                args.ref,
                args.embedder,
                nearest_k=getattr(args, "nearest_k", 5),
                buckets=getattr(args, "buckets", None),
                seed=getattr(args, "seed", 0),
            )
        elif args.metric == "transcription":
            result = transcription_command(args.estimate, args.reference)
        else:
            result = sisdr_command(args.estimate, args.reference)
    except (ValueError, OSError) as error:
        print(json.dumps({"error": str(error)}))
        return 2
    print(json.dumps(result, indent=2))
    return 0


def add_parser(sub) -> None:
    parser = sub.add_parser("metrics", help="score your own audio files")
    metric = parser.add_subparsers(dest="metric", required=True)
    adh = metric.add_parser("adherence", help="the four adherence scores of PRED against REF in a band")
    adh.add_argument("pred")
    adh.add_argument("ref")
    adh.add_argument("--band", default="0:1", help="LOW:HIGH in normalised latent frequency")
    for kind in ("fad", "kad"):
        dist = metric.add_parser(kind, help=f"{kind.upper()} between two audio folders or .npy arrays")
        dist.add_argument("eval")
        dist.add_argument("ref")
        dist.add_argument("--embedder", default="melstats")
        if kind == "fad":
            dist.add_argument("--inf", action="store_true", help="FAD-inf: extrapolate against 1/n")
            dist.add_argument("--seed", type=int, default=0, help="seed of the FAD-inf subsampling")
        else:
            dist.add_argument(
                "--bandwidth-from",
                default="reference",
                choices=("reference", "eval"),
                help="median pairwise distance of which set (kadtk 1.1.0 uses eval)",
            )
    for kind, what in (("prdc", "precision, recall, density, coverage"), ("mauve", "MAUVE")):
        sets = metric.add_parser(kind, help=f"{what} of EVAL against REF (audio folders or .npy arrays)")
        sets.add_argument("eval")
        sets.add_argument("ref")
        sets.add_argument("--embedder", default="melstats")
        if kind == "prdc":
            sets.add_argument("--nearest-k", type=int, default=5)
        else:
            sets.add_argument(
                "--buckets", type=int, default=None, help="default max(2, round(min(n, N) / 10))"
            )
            sets.add_argument("--seed", type=int, default=0, help="seed of the k-means")
    sdr = metric.add_parser("sisdr", help="SI-SDR and SNR of ESTIMATE against REFERENCE")
    sdr.add_argument("estimate")
    sdr.add_argument("reference")
    notes = metric.add_parser(
        "transcription",
        help="note F1, melody accuracy and tempo error of ESTIMATE against REFERENCE (both transcribed)",
    )
    notes.add_argument("estimate")
    notes.add_argument("reference")
    parser.set_defaults(func=run)
