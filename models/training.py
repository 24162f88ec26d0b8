"""Training loop shared by the harness's own models: Adam, linear warm-up, gradient clipping,
EMA weights, bf16 autocast on GPU, atomic checkpoints and exact resume after a kill (the checkpoint
read back with ``weights_only=True``, every part checked: bench/core/safe_load.py)."""

from __future__ import annotations

import copy
import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from bench.core.safe_load import UnreadableFileError, load_module_state, load_torch_file, require_keys
from bench.core.seeds import torch_seed
from bench.core.storage import atomic_write_bytes


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by the harness's own models; ``model`` is the model's config."""

    steps: int = 6000
    batch_size: int = 16
    lr: float = 1e-4
    warmup_steps: int = 400
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    checkpoint_every: int = 250
    train_clips: int = 384
    warmup_start: float | None = None  # None: lr (k+1)/W; else lr (s + (1-s) min(k, W)/W); W: warm-up steps
    anneal_steps: int = 0  # the last anneal_steps steps: lr x (1 + cos(pi j / anneal_steps)) / 2
    diagnose_every: int = 0  # run train()'s ``monitor`` on the EMA model every N steps (0: never)
    seed: int = 0
    model: object = None


def save_checkpoint(path: Path, payload: dict) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def train(
    model: torch.nn.Module,
    data: torch.Tensor,
    config,
    checkpoint: Path,
    meta: dict,
    device: str = "cpu",
    progress: bool = True,
    log=print,
    monitor=None,
) -> dict:
    """Train ``model.loss(batch, generator)`` on ``data`` [N, ...] (or a tuple of such tensors, indexed
    together) for ``config.steps`` steps; ``model.set_step(k)``, when it exists, is told the step.
    ``monitor(ema_model, step) -> dict`` (e.g. models/condition_use.py training_monitor), when given,
    runs every ``config.diagnose_every`` steps and at the end; its results go to the log and to the
    checkpoint's ``monitor`` list (it uses no training randomness: the run is the same without it).

    Resumes from ``checkpoint`` when it exists; the batch order and noise of step k depend only on
    (seed, k), so a resumed run continues exactly as an uninterrupted one.
    """
    model.to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    step, losses, monitored = 0, [], []
    if checkpoint.exists():
        step, losses, monitored = resume(checkpoint, model, ema, optimiser, device)
        log(f"resuming {checkpoint.name} at step {step}")
    log_path = checkpoint.with_suffix(".log.jsonl")
    started = time.perf_counter()
    first_step = step
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=step, desc=f"train {checkpoint.stem}", unit="step")
    use_bf16 = device.startswith("cuda")
    while step < config.steps:
        generator = torch.Generator().manual_seed(torch_seed(config.seed, "training-batch", step))
        size = data[0].shape[0] if isinstance(data, (tuple, list)) else data.shape[0]
        index = torch.randint(0, size, (config.batch_size,), generator=generator)
        if isinstance(data, (tuple, list)):
            batch = tuple(d[index].to(device) for d in data)
        else:
            batch = data[index].to(device)
        if hasattr(model, "set_step"):
            model.set_step(step)
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(config, step)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_bf16):
            loss = model.loss(batch, generator)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimiser.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters()):
                e.lerp_(p.detach(), 1.0 - config.ema_decay)
        step += 1
        losses.append(loss.item())
        if bar is not None:
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix_str(f"loss {sum(losses[-50:]) / 50:.4f}")
        every = getattr(config, "diagnose_every", 0)
        if monitor is not None and every and (step % every == 0 or step == config.steps):
            monitor_started = time.perf_counter()
            monitored.append(monitor(ema, step))
            started += time.perf_counter() - monitor_started  # the timings are of training steps alone
            log(json.dumps({"monitor": monitored[-1]}))
            with open(log_path, "a") as handle:
                handle.write(json.dumps({"step": step, "monitor": monitored[-1]}) + "\n")
        if step % config.checkpoint_every == 0 or step == config.steps:
            elapsed = time.perf_counter() - started
            extra = {"monitor": monitored} if monitored else {}
            save_checkpoint(
                checkpoint,
                {
                    "model": model.state_dict(),
                    "ema": ema.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "step": step,
                    "losses": losses,
                    "config": _plain(config),
                    "meta": meta,
                    **extra,
                },
            )
            with open(log_path, "a") as handle:
                handle.write(
                    json.dumps(
                        {
                            "step": step,
                            "loss": sum(losses[-config.checkpoint_every :])
                            / len(losses[-config.checkpoint_every :]),
                            "seconds_per_step": elapsed / max(1, step - first_step),
                        }
                    )
                    + "\n"
                )
    if bar is not None:
        bar.close()
    extra = {"monitor": monitored[-1]} if monitored else {}
    return {
        **extra,
        "steps": step,
        "final_loss": sum(losses[-100:]) / max(1, len(losses[-100:])),
        "first_loss": sum(losses[:100]) / max(1, len(losses[:100])),
        "seconds_per_step": (time.perf_counter() - started) / max(1, step - first_step),
    }


RESUME_KEYS = ("model", "ema", "optimiser", "step", "losses")


def resume(checkpoint: Path, model, ema, optimiser, device: str = "cpu") -> tuple[int, list, list]:
    """Load a training checkpoint into ``model``, ``ema`` and ``optimiser``; (step, losses, the
    condition-use monitor's entries so far). A file
    that is not a training checkpoint of this model raises UnreadableFileError naming it and what is
    wrong (a type it asks for, a missing key, a tensor of another shape); training does not start."""
    state = load_torch_file(checkpoint, "training checkpoint", map_location=device)
    require_keys(state, RESUME_KEYS, checkpoint, what="training checkpoint")
    if not isinstance(state["step"], int) or not isinstance(state["losses"], list):
        raise UnreadableFileError(
            checkpoint,
            f"not a training checkpoint: step is a "
            f"{type(state['step']).__name__}, losses a "
            f"{type(state['losses']).__name__}",
        )
    load_module_state(model, state["model"], checkpoint, "'model' weights")
    load_module_state(ema, state["ema"], checkpoint, "'ema' weights")
    probe = torch.optim.Adam(model.parameters())  # checked here, so that a bad file changes no optimiser
    try:
        probe.load_state_dict(state["optimiser"])
        wrong = [
            f"{tuple(v.shape)} for a parameter of shape {tuple(p.shape)}"
            for p, entry in probe.state.items()
            for v in entry.values()
            if isinstance(v, torch.Tensor) and v.dim() and v.shape != p.shape
        ]
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as error:
        wrong = [f"{type(error).__name__}: {error}"]
    if wrong:
        raise UnreadableFileError(checkpoint, f"its 'optimiser' state does not fit the model: {wrong[0]}")
    optimiser.load_state_dict(state["optimiser"])
    monitored = state.get("monitor", [])
    return state["step"], state["losses"], monitored if isinstance(monitored, list) else []


def learning_rate(config, step: int) -> float:
    """The learning rate of step ``step`` (0-based): linear warm-up, constant, then (``anneal_steps``)
    cosine annealing to 0, the reference's second stage."""
    import math

    anneal_from = config.steps - config.anneal_steps
    if config.anneal_steps and step >= anneal_from:
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * (step - anneal_from) / config.anneal_steps))
    warmup = max(1, config.warmup_steps)
    if config.warmup_start is None:
        return config.lr * min(1.0, (step + 1) / warmup)
    return config.lr * (config.warmup_start + (1.0 - config.warmup_start) * min(step, warmup) / warmup)


def _plain(config) -> dict:
    d = asdict(config)
    return json.loads(json.dumps(d, default=list))
