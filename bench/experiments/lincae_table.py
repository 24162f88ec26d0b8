"""``make table-lincae``: linearity, reconstruction and separation by latent arithmetic
(docs/protocol.md section 6) for Lin-CAE trained with implicit homogeneity and additivity and for the
same model trained without them, and the pip linear-cae package's pretrained models when their
weights are here (bench/adapters/linear_cae.py), on the music21 "test" stems (or MUSDB18-HQ).

Per clip (a 32640-sample chunk of the mix m and its stems s_j, which sum to m); every decode of
a clip uses the same seeded noise:
- encoder additivity: |Enc(m) - sum_j Enc(s_j)| / |Enc(m)| (relative L2);
- decoder additivity: SNR and multi-scale mel distance of Dec(sum_j Enc(s_j)) against Dec(Enc(m));
- homogeneity, for a in (0.5, 2): |Enc(a m) - a Enc(m)| / |a Enc(m)|, and SNR of Dec(a Enc(m))
  against a Dec(Enc(m));
- reconstruction: SNR and multi-scale mel distance of Dec(Enc(m)) against m, KAD of the
  reconstructions against the mixes (the run's embedder);
- separation: s_j' = Dec(Enc(m) - Enc(m - s_j)), SI-SDR against Dec(Enc(s_j)) (the protocol's
  oracle) and against s_j, per stem, over clips where the stem is audible.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench.adapters.linear_cae import (
    PREFIX,
    TABLE_IDS,
    PretrainedUnavailable,
    fix_for,
    load_pretrained,
    row_name,
)
from bench.core.paths import REPO_ROOT
from bench.core.seeds import stream_rng, stream_seed
from bench.datasets.stems import STEM_NAMES
from bench.experiments.model_reports import (
    checkpoint_info,
    find_checkpoint,
    git_note,
    provenance_lines,
    with_interval,
)
from bench.reports.results import runs_root

SYSTEMS = ("lincae", "lincae-base")
GAINS = (0.5, 2.0)
SEED_SI_SDR = {
    "bass": -0.59,
    "drums": -0.28,
    "lead": -1.18,
    "other": -1.82,
}  # the seed's Lin-CAE, MUSDB18-HQ (lead = vocals)
AUDIBLE_RMS = 1e-3


def _relative_l2(a, b) -> np.ndarray:
    a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    return np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(b, axis=1), 1e-12)


def _chunks(stem_set, seed: int):
    from bench.models.lincae import CLIP

    rng = stream_rng(seed, "lincae-chunks")
    starts = [int(rng.integers(0, stem_set.stems.shape[-1] - CLIP + 1)) for _ in range(len(stem_set))]
    stems = np.stack([s[:, start : start + CLIP] for s, start in zip(stem_set.stems, starts)])
    return stems.sum(axis=1), stems


def evaluate_lincae(model, mixes: np.ndarray, stems: np.ndarray, seeds: list[int], embed) -> dict:
    """The table's figures for one model (see the module docstring)."""
    import torch

    from bench.metrics.distribution import kad
    from bench.metrics.separation import multiscale_mel_distance, si_sdr, snr
    from bench.metrics.statistics import stratified_bootstrap_ci

    def enc(audio):
        with torch.no_grad():
            return model.encode(torch.as_tensor(audio, dtype=torch.float32)).double()

    def dec(latent):
        return model.decode(latent.float(), seeds).double().numpy()

    z_mix = enc(mixes)
    z_stems = [enc(stems[:, j]) for j in range(stems.shape[1])]
    z_sum = sum(z_stems)
    out_mix = dec(z_mix)
    out_sum = dec(z_sum)
    additivity_snr = snr(out_sum, out_mix)
    row = {
        "encoder_additivity_rel_l2": float(_relative_l2(z_mix.numpy(), z_sum.numpy()).mean()),
        "decoder_additivity_snr_db": float(additivity_snr.mean()),
        "decoder_additivity_snr_db_ci95": stratified_bootstrap_ci([additivity_snr], seed=seeds[0]),
        "decoder_additivity_mel_distance": float(multiscale_mel_distance(out_sum, out_mix).mean()),
    }
    encoder_homogeneity, decoder_homogeneity = [], []
    for gain in GAINS:
        encoder_homogeneity.append(_relative_l2(enc(gain * mixes).numpy(), gain * z_mix.numpy()).mean())
        decoder_homogeneity.append(snr(dec(gain * z_mix), gain * out_mix).mean())
    row["encoder_homogeneity_rel_l2"] = float(np.mean(encoder_homogeneity))
    row["decoder_homogeneity_snr_db"] = float(np.mean(decoder_homogeneity))
    row["reconstruction_snr_db"] = float(snr(out_mix, mixes).mean())
    row["reconstruction_mel_distance"] = float(multiscale_mel_distance(out_mix, mixes).mean())
    reconstructions = np.concatenate([embed.embed(x) for x in out_mix])
    references = np.concatenate([embed.embed(x) for x in mixes])
    row["reconstruction_kad"] = float(kad(reconstructions, references))
    separation = {}
    for j, name in enumerate(STEM_NAMES):
        audible = np.sqrt(np.mean(stems[:, j] ** 2, axis=-1)) > AUDIBLE_RMS
        if audible.sum() == 0:
            separation[name] = {"n": 0}
            continue
        estimate = dec(z_mix - enc(mixes - stems[:, j]))[audible]
        oracle = dec(z_stems[j])[audible]
        against_decoded = si_sdr(estimate, oracle)
        separation[name] = {
            "n": int(audible.sum()),
            "si_sdr_vs_decoded_stem_db": float(against_decoded.mean()),
            "si_sdr_vs_decoded_stem_db_ci95": stratified_bootstrap_ci([against_decoded], seed=seeds[0]),
            "si_sdr_vs_true_stem_db": float(si_sdr(estimate, stems[audible, j]).mean()),
        }
    row["separation"] = separation
    return row


def _extra_pretrained(checkpoints: dict) -> tuple[str, ...]:
    return tuple(
        name for name in checkpoints if name.startswith(PREFIX) and name[len(PREFIX) :] not in TABLE_IDS
    )


def _load(system: str, checkpoints: dict):
    from bench.models.lincae import load_lincae

    if system.startswith(PREFIX):
        model_id = system[len(PREFIX) :]
        try:
            return load_pretrained(model_id, checkpoints.get(system))
        except PretrainedUnavailable as error:
            return None, {"reason": str(error), "fix": fix_for(model_id)}
    from bench.models.checkpoint_store import CheckpointError

    path, missing = find_checkpoint(system, checkpoints)
    if path is None:
        return None, missing
    try:
        model, state = load_lincae(path)
    except CheckpointError as error:  # refused or damaged: the row is † with the file named
        return None, {"reason": str(error), "fix": error.fix}
    return model, checkpoint_info(path, state)


def run_lincae_table(
    seed: int = 0,
    n_clips: int = 64,
    embedder: str = "melstats",
    checkpoints: dict | None = None,
    musdb: str | None = None,
    out_dir: str | Path | None = None,
    data_cache: str | Path = REPO_ROOT / "datasets" / "cache",
    log=print,
) -> dict:
    from bench.core.provenance import environment
    from bench.core.registry import make_embedder
    from bench.core.storage import atomic_write_json, atomic_write_text

    started = time.perf_counter()
    if musdb:
        from bench.datasets.stems import load_musdb

        stem_set = load_musdb(musdb, "test", seed=seed, max_tracks=n_clips)
    else:
        from bench.core.runner import embedded_dataset
        from bench.datasets.stems import music21_stems

        stem_set = music21_stems(embedded_dataset(n_clips, seed, Path(data_cache), "test"))
    mixes, stems = _chunks(stem_set, seed)
    seeds = [stream_seed(seed, "table-clip", i) for i in range(len(mixes))]
    embed = make_embedder(embedder)
    record = {
        "schema": "table-lincae/1",
        "seed": seed,
        "gains": list(GAINS),
        "dataset": {"name": stem_set.name, "manifest_hash": stem_set.manifest_hash, "n_clips": len(mixes)},
        "embedder": {"id": embed.id, "weights": embed.weights},
        "environment": environment(),
        "rows": {},
        "systems": {},
        "unavailable": {},
    }
    for system in SYSTEMS + tuple(row_name(i) for i in TABLE_IDS) + _extra_pretrained(checkpoints or {}):
        model, info = _load(system, checkpoints or {})
        if model is None:
            record["unavailable"][system] = info
            log(f"{system}: not run ({info['reason']}; fix: {info['fix']})")
            continue
        log(f"{system}: linearity, reconstruction, separation on {len(mixes)} clips")
        record["systems"][system] = info
        record["rows"][system] = evaluate_lincae(model, mixes, stems, seeds, embed)
    record["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(out_dir) if out_dir is not None else runs_root() / "table-lincae"
    atomic_write_json(out / "table_lincae.json", record)
    atomic_write_text(out / "table_lincae.md", render(record))
    return record


def render(record: dict) -> str:
    lines = [
        "## Linearity",
        "",
        "| model | enc. additivity rel. L2 ↓ | dec. additivity SNR (dB) ↑ | dec. additivity mel dist. ↓ | "
        "enc. homogeneity rel. L2 ↓ | dec. homogeneity SNR (dB) ↑ |",
        "|---|---|---|---|---|---|",
    ]
    for system, row in record["rows"].items():
        lines.append(
            f"| {system} | {row['encoder_additivity_rel_l2']:.3f} | "
            f"{with_interval(row, 'decoder_additivity_snr_db', 2)} | "
            f"{row['decoder_additivity_mel_distance']:.3f} | {row['encoder_homogeneity_rel_l2']:.3f} | "
            f"{row['decoder_homogeneity_snr_db']:.2f} |"
        )
    for system in record["unavailable"]:
        lines.append(f"| {system} † | n/a | n/a | n/a | n/a | n/a |")
    lines += [
        "",
        "## Reconstruction",
        "",
        "| model | SNR (dB) ↑ | mel dist. ↓ | KAD ↓ |",
        "|---|---|---|---|",
    ]
    for system, row in record["rows"].items():
        lines.append(
            f"| {system} | {row['reconstruction_snr_db']:.2f} | {row['reconstruction_mel_distance']:.3f} | "
            f"{row['reconstruction_kad']:.3f} |"
        )
    lines += [
        "",
        "## Separation by latent arithmetic: SI-SDR (dB) of Dec(Enc(m) - Enc(m - s)) against Dec(Enc(s)) "
        "(against the true stem in brackets)",
        "",
        "| model | " + " | ".join(STEM_NAMES) + " |",
        "|---|" + "---|" * len(STEM_NAMES),
    ]
    for system, row in record["rows"].items():
        cells = []
        for name in STEM_NAMES:
            s = row["separation"][name]
            cells.append(
                "–"
                if not s["n"]
                else f"{with_interval(s, 'si_sdr_vs_decoded_stem_db', 2)} ({s['si_sdr_vs_true_stem_db']:.2f})"
            )
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    lines.append(
        "| seed's Lin-CAE (MUSDB18-HQ; lead = vocals) | "
        + " | ".join(f"{SEED_SI_SDR[n]:.2f}" for n in STEM_NAMES)
        + " |"
    )
    lines += [
        "",
        "± is half the 95 % bootstrap interval over the clips.",
        "",
        f"Dataset `{record['dataset']['name']}` (manifest {record['dataset']['manifest_hash'][:12]}, "
        f"{record['dataset']['n_clips']} chunks of 1.48 s), seed {record['seed']}, homogeneity gains "
        f"{record['gains']}, embedder `{record['embedder']['id']}`, {git_note(record)}.",
    ]
    lines += provenance_lines(record)
    return "\n".join(lines) + "\n"
