"""``make table-hdae``: the multi-scale spectral DAE against HDAE (docs/protocol.md section 6), on the
embedded ``notes`` set (or NSynth): probes per level, attribute swaps and reconstruction.

- Probes: an MLP on each level's time-averaged code, trained on the "train" notes and scored on
  the "test" notes (instruments never seen in training), for pitch and instrument family; the
  ceiling row probes the time-averaged input mels the encoders read.
- Swap: for pairs (A, B) of test notes differing in pitch and family, level k's encoder output
  comes from A and the others from B; the decoded, vocoded note's pitch (YIN, median over frames,
  rounded to the nearest MIDI note) is compared with A's and B's, and its timbre (mean MFCC 1-19)
  with theirs by cosine similarity. The estimator's own accuracy on the input notes is reported.
- Reconstruction: FAD (the run's embedder) of decoded test notes against the test notes, next to
  the vocoder's floor (the true mels through the same vocoder).
- Frame-wise melody: a 2-layer BiLSTM on each level's code sequence (nearest-upsampled to 16
  frames per 1.49 s chunk, the finest code rate) predicts the lead part's piano roll of music21
  mixes (train clips for training, test clips for scoring); BCE and mir_eval frame F1 at 0.5.
  The ceiling rows read the input mels average-pooled to the same frames; the floor row reads
  nothing (it learns the label prior).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench.core.paths import REPO_ROOT
from bench.core.seeds import stream_rng, stream_seed
from bench.experiments.model_reports import (
    checkpoint_info,
    find_checkpoint,
    git_note,
    provenance_lines,
    with_interval,
)
from bench.models.hierarchical import LEVELS
from bench.reports.results import runs_root

SYSTEMS = ("msdae", "hdae")
LABELS = ("pitch", "family")
MELODY_FRAMES = 16


def estimate_midi(audio: np.ndarray, sample_rate: int = 22050) -> float:
    import librosa

    f0 = librosa.yin(
        np.asarray(audio, dtype=np.float64), fmin=30.0, fmax=2000.0, sr=sample_rate, frame_length=2048
    )
    voiced = f0[np.isfinite(f0) & (f0 > 0)]
    return float(librosa.hz_to_midi(np.median(voiced))) if voiced.size else float("nan")


def pitch_hits(audio: np.ndarray, midi: np.ndarray) -> np.ndarray:
    estimates = np.array([estimate_midi(a) for a in audio])
    return np.isfinite(estimates) & (np.abs(np.round(estimates) - midi) < 0.5)


def mfcc_profile(audio: np.ndarray, sample_rate: int = 22050) -> np.ndarray:
    import librosa

    return librosa.feature.mfcc(y=np.asarray(audio, dtype=np.float64), sr=sample_rate, n_mfcc=20)[1:].mean(
        axis=1
    )


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    denominator = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denominator) if denominator > 0 else 0.0


def _load(system: str, options: dict):
    from bench.models.checkpoint_store import CheckpointError, load_state, model_from_state
    from bench.models.hierarchical import HierarchicalConfig, HierarchicalDAE

    def build(config):
        config["decoder_mults"] = tuple(config["decoder_mults"])
        return HierarchicalDAE(HierarchicalConfig(**config))

    path, missing = find_checkpoint(system, options)
    if path is None:
        return None, missing
    try:
        state = load_state(path)
        model = model_from_state(path, state, build)
    except CheckpointError as error:  # refused or damaged: the row is † with the file named
        return None, {"reason": str(error), "fix": error.fix}
    return model.eval(), checkpoint_info(path, state)


def _features(audio: np.ndarray):
    from bench.models.trainable import note_features

    return note_features(np.asarray(audio, dtype=np.float64))


def _encoder_outputs(model, features):
    import torch

    mel, *multires = features
    with torch.no_grad():
        return model.encoder_outputs(list(multires), mel.shape[-1])


def _frames(sequence, frames: int = MELODY_FRAMES) -> np.ndarray:
    """[N, C, T] -> [N, frames, C]: nearest-upsampled codes or average-pooled mels."""
    import torch

    sequence = torch.as_tensor(sequence)
    if sequence.shape[-1] < frames:
        sequence = torch.nn.functional.interpolate(sequence, size=frames, mode="nearest")
    else:
        sequence = torch.nn.functional.adaptive_avg_pool1d(sequence, frames)
    return sequence.transpose(1, 2).numpy()


def melody_sets(seed: int, n_train: int, n_test: int, data_cache: Path):
    from bench.core.runner import embedded_dataset
    from bench.datasets.notes_render import NOTE_CLIP_SAMPLES
    from bench.datasets.stems import lead_melody_chunks

    return tuple(
        lead_melody_chunks(
            embedded_dataset(n, seed, Path(data_cache), split), NOTE_CLIP_SAMPLES, MELODY_FRAMES
        )
        for n, split in ((n_train, "train"), (n_test, "test"))
    )


def _vocode(vocoder, mels, seeds, length):
    return vocoder(mels.double().numpy(), seeds, length)


def run_hierarchy_table(
    seed: int = 0,
    n_train: int = 1024,
    n_test: int = 256,
    n_pairs: int = 64,
    steps: int = 25,
    embedder: str = "melstats",
    vocoder_spec: str = "griffin-lim:32",
    checkpoints: dict | None = None,
    nsynth: tuple[str, str] | None = None,
    out_dir: str | Path | None = None,
    data_cache: str | Path = REPO_ROOT / "datasets" / "cache",
    probe_epochs: int = 300,
    melody_clips: tuple[int, int] = (384, 64),
    melody_epochs: int = 60,
    log=print,
) -> dict:
    from bench.core.provenance import environment
    from bench.core.registry import make_embedder, make_vocoder
    from bench.core.storage import atomic_write_json, atomic_write_text
    from bench.metrics.distribution import fad
    from bench.metrics.probes import fit_probe, fit_sequence_probe
    from bench.metrics.statistics import stratified_bootstrap_ci
    from bench.metrics.transcription import frame_pitch_scores

    started = time.perf_counter()
    if nsynth:
        from bench.datasets.nsynth import load_nsynth

        train_set = load_nsynth(nsynth[0], seed=seed, max_notes=n_train)
        test_set = load_nsynth(nsynth[1], seed=seed, max_notes=n_test)
    else:
        from bench.datasets.notes_render import notes_dataset

        train_set = notes_dataset(n_train, seed, Path(data_cache), "train")
        test_set = notes_dataset(n_test, seed, Path(data_cache), "test")
    train_audio = np.asarray(train_set.clips, dtype=np.float64)
    test_audio = np.asarray(test_set.clips, dtype=np.float64)
    labels = {
        split: {
            name: np.array([c[name if name != "family" else "family_index"] for c in s.manifest["clips"]])
            for name in LABELS
        }
        for split, s in (("train", train_set), ("test", test_set))
    }
    train_features, test_features = _features(train_audio), _features(test_audio)
    length = test_audio.shape[-1]
    vocoder = make_vocoder(vocoder_spec)
    embed = make_embedder(embedder)

    def embeddings(audio):
        return np.concatenate([embed.embed(a) for a in audio])

    reference_embeddings = embeddings(test_audio)
    record = {
        "schema": "table-hdae/1",
        "seed": seed,
        "steps": steps,
        "datasets": {
            "train": {"name": train_set.name, "manifest_hash": train_set.manifest_hash},
            "test": {"name": test_set.name, "manifest_hash": test_set.manifest_hash},
        },
        "vocoder": vocoder.id,
        "embedder": {"id": embed.id, "weights": embed.weights},
        "probe": {"kind": "mlp", "hidden": 128, "epochs": probe_epochs, "seed": seed},
        "environment": environment(),
        "probes": [],
        "swaps": [],
        "reconstruction": [],
        "unavailable": {},
        "systems": {},
        "melody": [],
    }
    melody_train, melody_test = (
        melody_sets(seed, *melody_clips, data_cache) if melody_clips[0] else (None, None)
    )
    if melody_train is not None:
        from bench.datasets.stems import LOWEST_MIDI

        log(f"melody probes: {len(melody_train.ids)} train and {len(melody_test.ids)} test chunks")
        melody_features = (_features(melody_train.audio), _features(melody_test.audio))
        record["melody_probe"] = {
            "kind": "bilstm-2x64",
            "epochs": melody_epochs,
            "seed": seed,
            "threshold": 0.5,
            "frames_per_chunk": MELODY_FRAMES,
            "frame_seconds": melody_train.frame_seconds,
            "train": {"name": melody_train.name, "chunks": len(melody_train.ids)},
            "test": {"name": melody_test.name, "chunks": len(melody_test.ids)},
            "test_active_frames": float(melody_test.rolls.any(-1).mean()),
        }

    def melody_row(representation, level, train_x, test_x):
        result = fit_sequence_probe(
            train_x, melody_train.rolls, test_x, melody_test.rolls, seed=seed, epochs=melody_epochs
        )
        scores = frame_pitch_scores(
            melody_test.rolls, result["eval_probabilities"], melody_test.frame_seconds, LOWEST_MIDI
        )
        record["melody_probe"]["kind"] = result["kind"]
        record["melody"].append(
            {
                "representation": representation,
                "level": level,
                "eval_bce": result["eval_bce"],
                "train_bce": result["train_bce"],
                **scores,
            }
        )

    def probe_rows(representation, level, train_x, test_x):
        row = {"representation": representation, "level": level}
        for name in LABELS:
            result = fit_probe(
                train_x,
                labels["train"][name],
                test_x,
                labels["test"][name],
                kind="mlp",
                seed=seed,
                epochs=probe_epochs,
            )
            row[f"{name}_accuracy"] = result["eval_accuracy"]
            row[f"{name}_accuracy_ci95"] = stratified_bootstrap_ci(
                [np.array(result["eval_correct"], dtype=float)], seed=seed
            )
        record["probes"].append(row)

    if melody_train is not None:
        melody_row(
            "no input (floor)",
            "–",
            np.zeros((len(melody_train.ids), MELODY_FRAMES, 1)),
            np.zeros((len(melody_test.ids), MELODY_FRAMES, 1)),
        )
    log("probes on the input mels (the ceiling)")
    for index, name in enumerate(("mel-32", "mel-64", "mel-128")):
        probe_rows(
            "input mels (ceiling)",
            name,
            train_features[index + 1].mean(-1).numpy(),
            test_features[index + 1].mean(-1).numpy(),
        )
        if melody_train is not None:
            melody_row(
                "input mels (ceiling)",
                name,
                _frames(melody_features[0][index + 1]),
                _frames(melody_features[1][index + 1]),
            )

    test_seeds = [stream_seed(seed, "table-clip", i) for i in range(len(test_audio))]
    floor = _vocode(vocoder, test_features[0], test_seeds, length)
    record["reconstruction"].append(
        {"system": "vocoder only (true mels)", "fad": fad(embeddings(floor), reference_embeddings)}
    )
    truth = pitch_hits(test_audio, labels["test"]["pitch"])
    record["pitch_estimator_accuracy_on_inputs"] = float(truth.mean())

    rng = stream_rng(seed, "hierarchy-swaps")
    pairs = []
    for a in rng.permutation(len(test_audio)):
        candidates = [
            b
            for b in range(len(test_audio))
            if labels["test"]["family"][b] != labels["test"]["family"][a]
            and labels["test"]["pitch"][b] != labels["test"]["pitch"][a]
        ]
        pairs.append((int(a), int(candidates[int(rng.integers(len(candidates)))])))
        if len(pairs) == n_pairs:
            break
    profiles = [mfcc_profile(a) for a in test_audio]

    for system in SYSTEMS:
        model, info = _load(system, checkpoints or {})
        if model is None:
            record["unavailable"][system] = info
            log(f"{system}: not run ({info['reason']}; fix: {info['fix']})")
            continue
        record["systems"][system] = info
        log(f"{system}: probes, reconstruction and swaps")
        train_out, test_out = _encoder_outputs(model, train_features), _encoder_outputs(model, test_features)
        train_codes, test_codes = model.combine(train_out), model.combine(test_out)
        for level, train_code, test_code in zip(LEVELS, train_codes, test_codes):
            probe_rows(system, level, train_code.mean(-1).numpy(), test_code.mean(-1).numpy())
        if melody_train is not None:
            melody_codes = [model.combine(_encoder_outputs(model, f)) for f in melody_features]
            for level, train_code, test_code in zip(LEVELS, *melody_codes):
                melody_row(system, level, _frames(train_code), _frames(test_code))
        frames = test_features[0].shape[-1]
        decoded = model.decode(test_codes, test_seeds, frames, steps)
        audio = _vocode(vocoder, decoded, test_seeds, length)
        record["reconstruction"].append(
            {
                "system": system,
                "fad": fad(embeddings(audio), reference_embeddings),
                "pitch_accuracy": float(pitch_hits(audio, labels["test"]["pitch"]).mean()),
            }
        )
        a_index, b_index = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        for k, level in enumerate(LEVELS):
            mixed = [out[b_index].clone() for out in test_out]
            mixed[k] = test_out[k][a_index].clone()
            seeds = [test_seeds[i] for i in b_index]
            swapped = _vocode(
                vocoder, model.decode(model.combine(mixed), seeds, frames, steps), seeds, length
            )
            timbre = np.array(
                [
                    [cosine(mfcc_profile(x), profiles[a]), cosine(mfcc_profile(x), profiles[b])]
                    for x, (a, b) in zip(swapped, pairs)
                ]
            )
            record["swaps"].append(
                {
                    "system": system,
                    "level_from_a": level,
                    "n_pairs": len(pairs),
                    "pitch_is_a": float(pitch_hits(swapped, labels["test"]["pitch"][a_index]).mean()),
                    "pitch_is_b": float(pitch_hits(swapped, labels["test"]["pitch"][b_index]).mean()),
                    "timbre_similarity_a": float(timbre[:, 0].mean()),
                    "timbre_similarity_b": float(timbre[:, 1].mean()),
                }
            )
    record["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(out_dir) if out_dir is not None else runs_root() / "table-hdae"
    atomic_write_json(out / "table_hdae.json", record)
    atomic_write_text(out / "table_hdae.md", render(record))
    return record


def render(record: dict) -> str:
    lines = [
        "## Probes per level (MLP on time-averaged codes; accuracy on test notes of unseen instruments; "
        "± half the 95 % bootstrap interval over test notes)",
        "",
        "| representation | level | pitch ↑ | instrument family ↑ |",
        "|---|---|---|---|",
    ]
    for row in record["probes"]:
        lines.append(
            f"| {row['representation']} | {row['level']} | {with_interval(row, 'pitch_accuracy')} | "
            f"{with_interval(row, 'family_accuracy')} |"
        )
    for system, info in record["unavailable"].items():
        lines.append(f"| {system} † | – | n/a | n/a |")
    if record.get("melody"):
        probe = record["melody_probe"]
        lines += [
            "",
            f"## Frame-wise melody probe ({probe['kind']}, {probe['epochs']} epochs; lead part of "
            f"music21 mixes, {probe['frames_per_chunk']} frames per chunk of 1.49 s; frame F1 at "
            f"{probe['threshold']})",
            "",
            "| representation | level | BCE ↓ | F1 ↑ | precision | recall |",
            "|---|---|---|---|---|---|",
        ]
        for row in record["melody"]:
            lines.append(
                f"| {row['representation']} | {row['level']} | {row['eval_bce']:.4f} | {row['f1']:.3f} | "
                f"{row['precision']:.3f} | {row['recall']:.3f} |"
            )
        lines.append(
            f"\nTrained on {probe['train']['chunks']} chunks of `{probe['train']['name']}`, scored on "
            f"{probe['test']['chunks']} of `{probe['test']['name']}` (lead sounding in "
            f"{100 * probe['test_active_frames']:.1f} % of frames)."
        )
    lines += [
        "",
        "## Attribute swap (level k from note A, the other levels from note B)",
        "",
        "| system | level from A | pitch = A | pitch = B | timbre sim. A | timbre sim. B |",
        "|---|---|---|---|---|---|",
    ]
    for row in record["swaps"]:
        lines.append(
            f"| {row['system']} | {row['level_from_a']} | {row['pitch_is_a']:.3f} | "
            f"{row['pitch_is_b']:.3f} | "
            f"{row['timbre_similarity_a']:.3f} | {row['timbre_similarity_b']:.3f} |"
        )
    lines += ["", "## Reconstruction", "", "| system | FAD ↓ | pitch accuracy ↑ |", "|---|---|---|"]
    for row in record["reconstruction"]:
        pitch = f"{row['pitch_accuracy']:.3f}" if "pitch_accuracy" in row else "–"
        lines.append(f"| {row['system']} | {row['fad']:.3f} | {pitch} |")
    lines += [
        "",
        f"Pitch estimator (YIN, nearest MIDI note) on the input notes: "
        f"{record['pitch_estimator_accuracy_on_inputs']:.3f}. Train `{record['datasets']['train']['name']}` "
        f"(manifest {record['datasets']['train']['manifest_hash'][:12]}), test "
        f"`{record['datasets']['test']['name']}` "
        f"(manifest {record['datasets']['test']['manifest_hash'][:12]}), "
        f"seed {record['seed']}, {record['steps']} Heun steps, vocoder `{record['vocoder']}`, embedder "
        f"`{record['embedder']['id']}`, {git_note(record)}.",
    ]
    lines += provenance_lines(record)
    return "\n".join(lines) + "\n"
