"""``make isolate`` (the paper's Fig. 4) and ``make sweep`` (Fig. 5) for any registered system.

isolate: LatentFT's self-blend of the full latent and one band (weights 0.1 / 0.9) on a few
clips: audio files and a figure of the reference and isolated log-mels.
sweep: conditional generation from every ``window``-bin window of the latent spectrum (1024-point
rfft of 512 frames: 513 bins), and how much of the reference each keeps: tonnetz correlation,
octave-tolerant tempo error, predominant-pitch (melody) accuracy and an instrument probe's
accuracy, plotted against latent frequency in Hz. The probe (seeded MLP on time-averaged melstats
embeddings) learns the lead part's General MIDI instrument group from the music21 "train" clips
and is asked for the reference's group on each variation; its accuracy on the references
themselves and the majority-class rate are drawn as the ceiling and chance lines.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench import REPO_ROOT
from bench.audio import SAMPLE_RATE
from bench.bands import LATENT_NYQUIST_HZ, Band
from bench.seeds import stream_seed

FIGURES = REPO_ROOT / "results" / "figures"


def _system(name: str, options: dict, clips, ids, steps: int):
    from bench.registry import get_system_class, system_status
    from bench.system import RunContext
    from bench.vocoders import get_vocoder

    status = system_status(name, options)
    if not status.availability.ok:
        raise SystemExit(f"{name} is unavailable: {status.availability.reason}"
                         + (f" (fix: {status.availability.fix})" if status.availability.fix else ""))
    return get_system_class(name)(RunContext(np.asarray(clips), list(ids), get_vocoder(), "cpu", options, steps))


def _clips(n: int, seed: int):
    from bench.config import RunConfig
    from bench.runner import load_dataset
    from bench.tasks import select_clips

    clipset = load_dataset(RunConfig(scale="quick", progress=False))
    chosen = select_clips(clipset.ids, n, 0, seed).conditional
    return clipset, chosen, np.stack([np.asarray(clipset.clips[clipset.index(c)], dtype=np.float64) for c in chosen])


def _save_figure(figure, title: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def isolate(system: str, band: Band, n_clips: int = 2, steps: int = 50, seed: int = 0, options=None) -> Path:
    import soundfile

    from bench.mel import normalised_mel

    clipset, chosen, audio = _clips(n_clips, seed)
    runner = _system(system, options or {}, clipset.clips, clipset.ids, steps)
    if not hasattr(runner, "isolate"):
        raise SystemExit(f"{system} has no isolation (a LatentFT system does)")
    clip_seeds = [stream_seed(seed, "figure-clip", i) for i in range(n_clips)]
    isolated = runner.isolate(audio, [band] * n_clips, clip_seeds)
    out = FIGURES / "isolate"
    out.mkdir(parents=True, exist_ok=True)
    figure, axes = _pyplot().subplots(n_clips, 2, figsize=(11, 2.6 * n_clips), squeeze=False)
    for i, clip_id in enumerate(chosen):
        soundfile.write(out / f"{clip_id}-reference.wav", audio[i].astype(np.float32), SAMPLE_RATE)
        soundfile.write(out / f"{clip_id}-isolated-{band.name}.wav", isolated[i].astype(np.float32), SAMPLE_RATE)
        for j, (title, signal) in enumerate((("reference", audio[i]), (f"isolated {band.hz[0]:.2f}-{band.hz[1]:.2f} Hz",
                                                                        isolated[i]))):
            axes[i, j].imshow(normalised_mel(signal), origin="lower", aspect="auto", vmin=-1, vmax=1, cmap="magma",
                              extent=(0, signal.shape[-1] / SAMPLE_RATE, 0, 80))
            axes[i, j].set_title(f"{clip_id}: {title}", fontsize=9)
            axes[i, j].set_xlabel("time (s)")
            axes[i, j].set_ylabel("mel bin")
    return _save_figure(figure, f"{system}: latent band isolation (self-blend 0.1 full / 0.9 band, {steps} steps)",
                        out / f"isolate-{system}-{band.name}.png")


def preservation(generated: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    from bench.metrics.descriptors import tonnetz_curve
    from bench.metrics.transcription import melody_accuracy, predominant_melody, tempo, tempo_error

    a, b = tonnetz_curve(generated).ravel(), tonnetz_curve(reference).ravel()
    correlation = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0
    ref_tempo = tempo(reference)
    return {"tonnetz_correlation": correlation,
            "tempo_error": tempo_error(tempo(generated), ref_tempo, octave_tolerant=True) if ref_tempo > 0 else np.nan,
            "melody_accuracy": melody_accuracy(*predominant_melody(reference), *predominant_melody(generated))[
                "overall_accuracy"]}


GM_GROUPS = ("piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass", "reed",
             "pipe", "synth lead", "synth pad", "synth effects", "ethnic", "percussive", "sound effects")


def lead_instrument(clipset, clip_id: str) -> str | None:
    """The General MIDI group (program // 8) of a music21 clip's lead part; None without one."""
    entry = clipset.manifest["clips"][clipset.index(clip_id)]
    lead = [stem for stem in entry.get("stems", []) if stem["role"] == "lead" and not stem.get("drum")]
    return GM_GROUPS[int(lead[0]["program"]) // 8] if lead else None


def _probe_features(audio) -> np.ndarray:
    from bench.embedders import get_embedder

    embed = get_embedder("melstats")
    return np.stack([embed.embed(a).mean(axis=0) for a in audio])


def instrument_probe_data(clipset) -> tuple[np.ndarray, np.ndarray]:
    """(features, lead-instrument labels) of the clips of ``clipset`` that have a lead part."""
    ids = [i for i in clipset.ids if lead_instrument(clipset, i) is not None]
    audio = [np.asarray(clipset.clips[clipset.index(i)], dtype=np.float64) for i in ids]
    return _probe_features(audio), np.array([lead_instrument(clipset, i) for i in ids])


def sweep(system: str, n_clips: int = 8, window: int = 10, steps: int = 25, seed: int = 0, options=None,
          probe_clips: int = 384, clips=None, probe_train=None, out_dir: Path | None = None) -> Path:
    """``clips`` (clipset, chosen ids, audio) and ``probe_train`` (a clipset) replace the defaults:
    the quick scale's test set and the music21 "train" set of ``probe_clips`` clips."""
    from tqdm import tqdm

    from bench.metrics.probes import fit_probe
    from bench.storage import atomic_write_text
    from bench.system import ConditionalBatch
    from bench.tables import render_csv

    clipset, chosen, audio = clips or _clips(n_clips, seed)
    n_clips = len(chosen)
    if probe_train is None:
        from bench.config import RunConfig
        from bench.runner import embedded_dataset

        probe_train = embedded_dataset(probe_clips, seed, Path(RunConfig().data_cache_dir), "train")
    train_x, train_y = instrument_probe_data(probe_train)
    labels = [lead_instrument(clipset, c) for c in chosen]
    probed = [i for i, label in enumerate(labels) if label is not None]
    runner = _system(system, options or {}, clipset.clips, clipset.ids, steps)
    rows, generated_features = [], []
    starts = list(range(0, 513, window))
    clip_seeds = [stream_seed(seed, "figure-clip", i) for i in range(n_clips)]
    for start in tqdm(starts, desc=f"sweep {system}", unit="window"):
        stop = min(start + window - 1, 512)
        band = Band(start / 512, stop / 512)
        batch = ConditionalBatch(audio, [band] * n_clips, clip_seeds, list(chosen))
        generated = runner.conditional(batch)
        scores = [preservation(g, r) for g, r in zip(generated, audio)]
        if probed:
            generated_features.append(_probe_features([generated[i] for i in probed]))
        rows.append({"band_low": band.low, "band_high": band.high, "centre_hz": np.mean(band.hz),
                     **{k: float(np.nanmean([s[k] for s in scores])) for k in scores[0]}})
    ceiling = chance = float("nan")
    if probed:
        probed_labels = np.array([labels[i] for i in probed])
        eval_x = np.concatenate([_probe_features([audio[i] for i in probed])] + generated_features)
        result = fit_probe(train_x, train_y, eval_x, np.tile(probed_labels, len(rows) + 1), kind="mlp", seed=seed)
        correct = np.array(result["eval_correct"], dtype=float).reshape(len(rows) + 1, len(probed))
        ceiling = float(correct[0].mean())
        chance = float(np.mean(probed_labels == max(set(train_y), key=list(train_y).count)))
        for row, window_correct in zip(rows, correct[1:]):
            row.update(instrument_probe_accuracy=float(window_correct.mean()), instrument_probe_ceiling=ceiling,
                       instrument_probe_chance=chance)
    out = Path(out_dir) if out_dir else FIGURES
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"sweep-{system}.csv", render_csv(rows))
    keys = ("tonnetz_correlation", "tempo_error", "melody_accuracy", "instrument_probe_accuracy")
    titles = ("tonnetz correlation", "tempo error (octave-tolerant)", "melody accuracy",
              f"lead-instrument probe accuracy ({len(probed)} clips)")
    figure, axes = _pyplot().subplots(1, 4, figsize=(17, 3.4))
    centre = [r["centre_hz"] for r in rows]
    for axis, key, label in zip(axes, keys, titles):
        axis.plot(centre, [r.get(key, np.nan) for r in rows], marker=".")
        axis.set_xscale("log")
        axis.set_xlim(0.05, LATENT_NYQUIST_HZ)
        axis.set_xlabel("latent frequency (Hz)")
        axis.set_title(label, fontsize=10)
    if probed:
        axes[3].axhline(ceiling, color="green", linestyle="--", label=f"references {ceiling:.2f}")
        axes[3].axhline(chance, color="grey", linestyle=":", label=f"majority class {chance:.2f}")
        axes[3].legend(fontsize=8)
    return _save_figure(figure, f"{system}: what a {window}-bin latent window preserves ({n_clips} clips, {steps} steps)",
                        out / f"sweep-{system}.png")


def add_parsers(sub) -> None:
    def options(args):
        from bench.cli import _parse_system_options

        return _parse_system_options(args.system_option).get(args.system, {})

    iso = sub.add_parser("isolate", help="isolate one latent band of a few clips (audio + figure)")
    iso.add_argument("--system", default="latentft-mlp")
    iso.add_argument("--band", default="0.0626:0.2501", help="LOW:HIGH, normalised latent frequency")
    iso.add_argument("--clips", type=int, default=2)
    iso.add_argument("--steps", type=int, default=50)
    iso.add_argument("--system-option", action="append", metavar="SYSTEM.KEY=VALUE")
    iso.set_defaults(func=lambda a: print(isolate(a.system, Band.parse(a.band), a.clips, a.steps,
                                                  options=options(a))) or 0)
    sw = sub.add_parser("sweep", help="variations across the latent spectrum and what they preserve")
    sw.add_argument("--system", default="latentft-mlp")
    sw.add_argument("--clips", type=int, default=8, help="reference clips per window (the probe curve needs several)")
    sw.add_argument("--window", type=int, default=10)
    sw.add_argument("--steps", type=int, default=25)
    sw.add_argument("--probe-clips", type=int, default=384, help="music21 train clips the instrument probe learns from")
    sw.add_argument("--system-option", action="append", metavar="SYSTEM.KEY=VALUE")
    sw.set_defaults(func=lambda a: print(sweep(a.system, a.clips, a.window, a.steps, options=options(a),
                                               probe_clips=a.probe_clips)) or 0)
