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

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.core.audio import SAMPLE_RATE
from bench.core.bands import LATENT_NYQUIST_HZ, Band
from bench.core.paths import REPO_ROOT
from bench.core.seeds import stream_seed

FIGURES = REPO_ROOT / "results" / "figures"


def _system(name: str, options: dict, clips, ids, steps: int):
    from bench.core.registry import get_system_class, make_vocoder, system_status
    from bench.core.system import RunContext

    status = system_status(name, options)
    if not status.availability.ok:
        raise SystemExit(
            f"{name} is unavailable: {status.availability.reason}"
            + (f" (fix: {status.availability.fix})" if status.availability.fix else "")
        )
    return get_system_class(name)(
        RunContext(np.asarray(clips), list(ids), make_vocoder(), "cpu", options, steps)
    )


def _clips(n: int, seed: int, data: str | None = None, data_cache_dir: str | None = None):
    from bench.core.config import RunConfig
    from bench.core.runner import load_dataset
    from bench.core.tasks import select_clips

    clipset = load_dataset(
        RunConfig(
            scale="quick",
            progress=False,
            data=data,
            **({"data_cache_dir": data_cache_dir} if data_cache_dir else {}),
        )
    )
    chosen = select_clips(clipset.ids, n, 0, seed).conditional
    return (
        clipset,
        chosen,
        np.stack([np.asarray(clipset.clips[clipset.index(c)], dtype=np.float64) for c in chosen]),
    )


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

    from bench.core.mel import normalised_mel

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
        soundfile.write(
            out / f"{clip_id}-isolated-{band.name}.wav", isolated[i].astype(np.float32), SAMPLE_RATE
        )
        for j, (title, signal) in enumerate(
            (("reference", audio[i]), (f"isolated {band.hz[0]:.2f}-{band.hz[1]:.2f} Hz", isolated[i]))
        ):
            axes[i, j].imshow(
                normalised_mel(signal),
                origin="lower",
                aspect="auto",
                vmin=-1,
                vmax=1,
                cmap="magma",
                extent=(0, signal.shape[-1] / SAMPLE_RATE, 0, 80),
            )
            axes[i, j].set_title(f"{clip_id}: {title}", fontsize=9)
            axes[i, j].set_xlabel("time (s)")
            axes[i, j].set_ylabel("mel bin")
    return _save_figure(
        figure,
        f"{system}: latent band isolation (self-blend 0.1 full / 0.9 band, {steps} steps)",
        out / f"isolate-{system}-{band.name}.png",
    )


def preservation(generated: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    from bench.metrics.descriptors import tonnetz_curve
    from bench.metrics.transcription import melody_accuracy, predominant_melody, tempo, tempo_error

    a, b = tonnetz_curve(generated).ravel(), tonnetz_curve(reference).ravel()
    correlation = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0
    ref_tempo = tempo(reference)
    return {
        "tonnetz_correlation": correlation,
        "tempo_error": tempo_error(tempo(generated), ref_tempo, octave_tolerant=True)
        if ref_tempo > 0
        else np.nan,
        "melody_accuracy": melody_accuracy(*predominant_melody(reference), *predominant_melody(generated))[
            "overall_accuracy"
        ],
    }


GM_GROUPS = (
    "piano",
    "chromatic percussion",
    "organ",
    "guitar",
    "bass",
    "strings",
    "ensemble",
    "brass",
    "reed",
    "pipe",
    "synth lead",
    "synth pad",
    "synth effects",
    "ethnic",
    "percussive",
    "sound effects",
)


def lead_instrument(clipset, clip_id: str) -> str | None:
    """The General MIDI group (program // 8) of a music21 clip's lead part; None without one."""
    entry = clipset.manifest["clips"][clipset.index(clip_id)]
    lead = [stem for stem in entry.get("stems", []) if stem["role"] == "lead" and not stem.get("drum")]
    return GM_GROUPS[int(lead[0]["program"]) // 8] if lead else None


def _probe_features(audio) -> np.ndarray:
    from bench.core.registry import make_embedder

    embed = make_embedder("melstats")
    return np.stack([embed.embed(a).mean(axis=0) for a in audio])


def instrument_probe_data(clipset) -> tuple[np.ndarray, np.ndarray]:
    """(features, lead-instrument labels) of the clips of ``clipset`` that have a lead part."""
    ids = [i for i in clipset.ids if lead_instrument(clipset, i) is not None]
    audio = [np.asarray(clipset.clips[clipset.index(i)], dtype=np.float64) for i in ids]
    return _probe_features(audio), np.array([lead_instrument(clipset, i) for i in ids])


PRESERVATION = ("tonnetz_correlation", "tempo_error", "melody_accuracy")
SWEEP_VERSION = "sweep-units-v1"


@dataclass(frozen=True)
class SweepConfig:
    """A sweep's settings, everything a worker needs to rebuild its context (picklable)."""

    system: str
    n_clips: int = 8
    window: int = 10
    steps: int = 25
    seed: int = 0
    options: tuple = ()  # the system's options as sorted (key, value) pairs
    data: str | None = None  # None: the quick scale's embedded evaluation set
    data_cache_dir: str = ""
    cache_dir: str = ""
    device: str = "cpu"
    retry_failed: bool = False  # read by the executors (bench/core/executors.py)
    slurm_folder_name: str = "slurm-sweep"  # beside table1's CACHE/slurm, never mixed with it

    def build_context(self, cache_root=None) -> "SweepContext":
        return SweepContext(
            self, _clips(self.n_clips, self.seed, self.data, self.data_cache_dir or None), cache_root
        )

    def starts(self) -> list[int]:
        return list(range(0, 513, self.window))


class SweepContext:
    """A worker's evaluation clips and system, loaded once, and where its units' results go."""

    def __init__(self, config: SweepConfig, clips, cache_root=None):
        self.config = config
        self.clipset, self.chosen, self.audio = clips
        self.cache_root = Path(cache_root or config.cache_dir)
        self.probed = [i for i, c in enumerate(self.chosen) if lead_instrument(self.clipset, c) is not None]
        self._runner = None

    @property
    def runner(self):
        if self._runner is None:
            c = self.config
            self._runner = _system(c.system, dict(c.options), self.clipset.clips, self.clipset.ids, c.steps)
        return self._runner

    def path(self, key: str) -> Path:
        return self.cache_root / "sweeps" / self.config.system / f"{key}.npz"


@dataclass(frozen=True)
class SweepUnit:
    """A chunk of the sweep's windows: every clip of each, generated and scored (preservation
    measures, probe features); one atomically written file, whole or absent."""

    system: str
    index: int
    starts: tuple[int, ...]
    n_clips: int
    key: str

    @property
    def id(self) -> str:
        return f"{self.system}/sweep/{self.index:05d}"

    def __len__(self) -> int:
        return len(self.starts) * self.n_clips

    def read(self, ctx: SweepContext) -> dict | None:
        from bench.core.item_cache import _load_npz

        data = _load_npz(ctx.path(self.key))
        expected = (len(self.starts), self.n_clips, len(PRESERVATION))
        if data is None or data.get("scores", np.zeros(0)).shape != expected or "features" not in data:
            return None
        return data

    def finished(self, ctx: SweepContext) -> bool:
        return self.read(ctx) is not None

    def execute(self, ctx: SweepContext):
        import time

        from bench.core.storage import atomic_save_npz
        from bench.core.system import ConditionalBatch
        from bench.core.units import UnitReport

        began = time.perf_counter()
        report = UnitReport(self.id, len(self))
        if self.finished(ctx):
            return report
        c = ctx.config
        scores, features = [], []
        for start in self.starts:
            batch = ConditionalBatch(
                ctx.audio,
                [_window_band(start, c.window)] * self.n_clips,
                [stream_seed(c.seed, "figure-clip", i) for i in range(self.n_clips)],
                list(ctx.chosen),
            )
            generated = ctx.runner.conditional(batch)
            report.generated += self.n_clips
            measured = [preservation(g, r) for g, r in zip(generated, ctx.audio)]
            scores.append([[m[k] for k in PRESERVATION] for m in measured])
            features.append(
                _probe_features([generated[i] for i in ctx.probed]) if ctx.probed else np.zeros((0, 0))
            )
            report.scored += self.n_clips
        atomic_save_npz(
            ctx.path(self.key),
            scores=np.array(scores, dtype=np.float64),
            features=np.stack(features).astype(np.float64),
        )
        report.seconds = time.perf_counter() - began
        return report

    def files(self, ctx: SweepContext) -> list[tuple[str, bytes]]:
        path = ctx.path(self.key)
        return [(str(path.relative_to(ctx.cache_root)), path.read_bytes())] if path.exists() else []


def _window_band(start: int, window: int) -> Band:
    return Band(start / 512, min(start + window - 1, 512) / 512)


def plan_sweep(ctx: SweepContext, windows_per_unit: int) -> list[SweepUnit]:
    """The sweep's windows in chunks, each keyed by the system's code and settings, the clips'
    hashes, the windows, the seeds and which clips are probed."""
    from bench.core.code_identity import system_code
    from bench.core.storage import content_key

    c = ctx.config
    runner = ctx.runner
    fingerprint = {**system_code(type(runner)), **runner.fingerprint()}
    hashes = [ctx.clipset.manifest["clips"][ctx.clipset.index(i)]["sha256"] for i in ctx.chosen]
    starts = c.starts()
    units = []
    for index, first in enumerate(range(0, len(starts), windows_per_unit)):
        chunk = tuple(starts[first : first + windows_per_unit])
        key = content_key(SWEEP_VERSION, fingerprint, hashes, chunk, c.window, c.steps, c.seed, ctx.probed)
        units.append(SweepUnit(c.system, index, chunk, len(ctx.chosen), key))
    return units


def sweep(
    system: str,
    n_clips: int = 8,
    window: int = 10,
    steps: int = 25,
    seed: int = 0,
    options=None,
    probe_clips: int = 384,
    clips=None,
    probe_train=None,
    out_dir: Path | None = None,
    execution=None,
    data: str | None = None,
    cache_dir: str | None = None,
    data_cache_dir: str | None = None,
) -> Path | None:
    """``clips`` (clipset, chosen ids, audio) and ``probe_train`` (a clipset) replace the defaults:
    the evaluation set of ``data`` (default: the quick scale's) and the music21 "train" set of
    ``probe_clips`` clips. Each window's generations run as work units (``execution``: executor,
    shard, wait, as ``table1``; default inline) whose results are cached under
    ``CACHE/sweeps/SYSTEM``; the figure and CSV are assembled from them. With a shard or
    ``--no-wait`` only the units run and None is returned; the same call without assembles."""
    from tqdm import tqdm

    from bench.core.config import RunConfig
    from bench.core.executors import Execution, make_executor, shard_units

    execution = execution or Execution()
    defaults = RunConfig()
    config = SweepConfig(
        system,
        n_clips,
        window,
        steps,
        seed,
        tuple(sorted((options or {}).items())),
        data,
        data_cache_dir or defaults.data_cache_dir,
        cache_dir or defaults.cache_dir,
    )
    if clips is not None and execution.executor != "inline":
        raise SystemExit("sweep: clips given in memory run inline only; pass data=FOLDER for other executors")
    executor = make_executor(execution, config)
    try:
        ctx = SweepContext(config, clips) if clips is not None else config.build_context()
        n_clips = len(ctx.chosen)
        units = plan_sweep(ctx, max(1, execution.unit_items // max(n_clips, 1)))
        todo = [u for u in shard_units(units, execution.shard) if not u.finished(ctx)]
        failed = []
        with tqdm(
            total=sum(len(u) for u in todo), desc=f"sweep {system} ({executor.name})", unit="item"
        ) as bar:
            for report in executor.run(todo, config, ctx):
                if report.error:
                    failed.append(f"{report.unit}: {report.error}")
                bar.update(report.n_items)
    finally:
        executor.close()
    if failed:
        raise SystemExit(
            "sweep: work units that did not finish (run the same command again):\n  " + "\n  ".join(failed)
        )
    if execution.shard is not None or not execution.wait:
        return None
    results = [u.read(ctx) for u in units]
    if any(r is None for r in results):
        raise SystemExit("sweep: unfinished work units; run the same command again (finished ones are kept)")
    return _assemble_sweep(ctx, results, probe_clips, probe_train, out_dir)


def _assemble_sweep(ctx: SweepContext, results: list[dict], probe_clips: int, probe_train, out_dir) -> Path:
    from bench.core.storage import atomic_write_text
    from bench.metrics.probes import fit_probe
    from bench.reports.tables import render_csv

    c, chosen, audio, probed = ctx.config, ctx.chosen, ctx.audio, ctx.probed
    n_clips, system, seed = len(chosen), c.system, c.seed
    scores = np.concatenate([r["scores"] for r in results])
    rows = []
    for start, window_scores in zip(c.starts(), scores):
        band = _window_band(start, c.window)
        rows.append(
            {
                "band_low": band.low,
                "band_high": band.high,
                "centre_hz": np.mean(band.hz),
                **{k: float(np.nanmean(window_scores[:, j])) for j, k in enumerate(PRESERVATION)},
            }
        )
    ceiling = chance = float("nan")
    if probed:
        if probe_train is None:
            from bench.core.runner import embedded_dataset

            probe_train = embedded_dataset(probe_clips, seed, Path(c.data_cache_dir), "train")
        train_x, train_y = instrument_probe_data(probe_train)
        labels = [lead_instrument(ctx.clipset, chosen[i]) for i in probed]
        probed_labels = np.array(labels)
        generated_features = [f for r in results for f in r["features"]]
        eval_x = np.concatenate([_probe_features([audio[i] for i in probed])] + generated_features)
        result = fit_probe(
            train_x, train_y, eval_x, np.tile(probed_labels, len(rows) + 1), kind="mlp", seed=seed
        )
        correct = np.array(result["eval_correct"], dtype=float).reshape(len(rows) + 1, len(probed))
        ceiling = float(correct[0].mean())
        chance = float(np.mean(probed_labels == max(set(train_y), key=list(train_y).count)))
        for row, window_correct in zip(rows, correct[1:]):
            row.update(
                instrument_probe_accuracy=float(window_correct.mean()),
                instrument_probe_ceiling=ceiling,
                instrument_probe_chance=chance,
            )
    out = Path(out_dir) if out_dir else FIGURES
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"sweep-{system}.csv", render_csv(rows))
    keys = ("tonnetz_correlation", "tempo_error", "melody_accuracy", "instrument_probe_accuracy")
    titles = (
        "tonnetz correlation",
        "tempo error (octave-tolerant)",
        "melody accuracy",
        f"lead-instrument probe accuracy ({len(probed)} clips)",
    )
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
    return _save_figure(
        figure,
        f"{system}: what a {c.window}-bin latent window preserves ({n_clips} clips, {c.steps} steps)",
        out / f"sweep-{system}.png",
    )
