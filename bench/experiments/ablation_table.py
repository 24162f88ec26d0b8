"""``make table-ablations``: the paper's Tables 9 and 10, LatentFT-MLP against its five ablations
(models/latentft_ablations.py) on both Table 1 tasks, with Table 1's columns and intervals.

The rows are scored by bench/core/runner.py ``run_table1`` with a RunConfig limited to these systems,
so items, seeds, metrics, caching and the bootstrap are Table 1's; the default scale is ``small``
(12 clips x 14 bands, 12 pairs x 6 pairs, quick's 64-clip evaluation set and settings) so that
six diffusion rows fit in about a quarter of an hour on 2 CPU cores. The record adds, per row,
what the variant changes and its training run (steps, final loss, training data manifest) read
from the checkpoint. Writes results/runs/table-ablations/table_ablations.{md,csv,json} (the committed
results/ copy with ``--publish``) and the per-band / per-item CSVs (``python -m bench compare A B
--items results/table_ablations_items.csv``).
"""

from __future__ import annotations

from pathlib import Path

from bench.models.latentft_ablations import BASE, BASE_CONFIG, VARIANTS

STEM = "table_ablations"
SCHEMA = "latentft-bench/table-ablations/v1"
FINAL_LOSS_STEPS = 100


def training_summary(path: Path) -> dict:
    """What a row's checkpoint says about its training: steps, losses, config, data."""
    from bench.models.checkpoint_store import final_loss, load_state

    state = load_state(path)  # a training checkpoint, or shipped weights (their final loss recorded)
    return {
        "trained_steps": state["step"],
        "final_loss": final_loss(state, FINAL_LOSS_STEPS),
        "final_loss_over_steps": min(FINAL_LOSS_STEPS, len(state.get("losses") or [])) or FINAL_LOSS_STEPS,
        "model_config": state["config"]["model"],
        "train_config": {k: v for k, v in state["config"].items() if k != "model"},
        "trained_on": state["meta"].get("dataset"),
        "training_manifest_hash": state["meta"].get("dataset_manifest_hash"),
    }


def unfinished_training(name: str, path: Path) -> dict | None:
    """{"reason", "fix"} when the checkpoint stopped before its config's step count (a resumable
    run cut short), else None: such a row is not comparable and is left out of the table."""
    from bench.models.checkpoint_store import CheckpointError, load_state

    if not path.is_file():
        return None
    try:
        state = load_state(path)
    except CheckpointError:  # refused or damaged: run_table1 marks the row †, naming the file
        return None
    if state["step"] >= state["config"]["steps"]:
        return None
    return {
        "reason": f"training unfinished: {path} is at step {state['step']} of {state['config']['steps']}",
        "fix": f"make train SYSTEM={name} CONFIG={BASE_CONFIG if name == BASE else 'tiny'} "
        f"(resumes at step {state['step']})",
    }


def with_base_weights(config):
    """``config`` with the base row on latentft-mlp's ``tiny-3000`` weights (trained here, else
    shipped), the variants' step count, unless a checkpoint is given for it."""
    from bench.models.checkpoint_store import resolve

    if BASE not in config.systems or config.system_options.get(BASE, {}).get("checkpoint"):
        return config
    options = dict(config.system_options)
    options[BASE] = {**options.get(BASE, {}), "checkpoint": str(resolve(BASE, BASE_CONFIG))}
    return config.replace(system_options=options)


def run_ablation_table(config, out_dir: str | Path | None = None) -> dict:
    """Score ``config.systems`` (the base and its ablations) through ``run_table1``; write the table.
    A row whose checkpoint is missing or unfinished is marked † with the command that trains it.
    The base row uses latentft-mlp's ``tiny-3000`` weights (the variants' step count) unless a
    checkpoint is given for it."""
    from bench.core.registry import get_system_class
    from bench.core.runner import run_table1
    from bench.reports.tables import write_all

    config = with_base_weights(config)
    unfinished = {}
    for name in config.systems:
        try:
            path = get_system_class(name).checkpoint(config.system_options.get(name, {}))
        except (KeyError, AttributeError):  # unknown, or not a trained system: run_table1 says why
            continue
        why = unfinished_training(name, path)
        if why:
            unfinished[name] = why
    record = run_table1(config.replace(systems=tuple(s for s in config.systems if s not in unfinished)))
    record["config"]["systems"] = list(config.systems)
    record["unavailable"] = {
        name: record["unavailable"].get(name) or unfinished[name]
        for name in config.systems
        if name in record["unavailable"] or name in unfinished
    }
    record["schema"] = SCHEMA
    record["ablations"] = {}
    for name in config.systems:
        changes, what = VARIANTS.get(name, ({}, "none (the base row)" if name == BASE else "another system"))
        entry = {"changes": changes, "what": what}
        if name in record["rows"] and hasattr(get_system_class(name), "checkpoint"):
            path = get_system_class(name).checkpoint(config.system_options.get(name, {}))
            entry["training"] = training_summary(path)
        record["ablations"][name] = entry
    write_all(record, out_dir or config.out_dir, STEM, markdown=render)
    return record


def render(record: dict, stem: str = STEM) -> str:
    from bench.reports.tables import render_markdown

    scale = record["config"]["scale_spec"]
    lines = [
        f"LatentFT-MLP ablations (the paper's Tables 9 and 10): scale `{scale['name']}`, "
        f"{scale['n_conditional']} clips x 14 bands (conditional) and {scale['n_pairs']} pairs x 6 band "
        f"pairs (blending), {scale['sampling_steps']} sampler steps.",
        "",
        render_markdown(record, stem).rstrip(),
        "",
        "| system | change in training | trained steps | final loss |",
        "|---|---|---|---|",
    ]
    for name, entry in record["ablations"].items():
        training = entry.get("training")
        steps, loss = (training["trained_steps"], f"{training['final_loss']:.4f}") if training else ("†", "†")
        lines.append(f"| {name} | {entry['what']} | {steps} | {loss} |")
    lines.append("")
    lines.append(
        f"Final loss: mean EDM loss of the last {FINAL_LOSS_STEPS} training steps (each row's "
        f"checkpoint; its sha256 is the row's fingerprint in {stem}.json)."
    )
    return "\n".join(lines) + "\n"
