"""``python -m bench train --system S --config C --summary [--json]``: build a trainable model on the
meta device (no memory, no training, no data) and print each of its modules' parameter count, or
with ``--json`` {"modules": {NAME: {"parameters": N, "tensors": {KEY: [shape, ...]}}}} (the keys
are the module's state-dict keys; models/reference_checkpoint.py maps the reference's to them)."""

from __future__ import annotations

import json


def model_summary(model) -> dict:
    """{"modules": ...} of the model's top-level children that hold tensors, then "total"."""
    modules = {}
    for name, child in model.named_children():
        tensors = {key: list(t.shape) for key, t in child.state_dict().items()}
        if tensors:
            modules[name] = {"parameters": sum(p.numel() for p in child.parameters()), "tensors": tensors}
    return {"modules": modules, "total_parameters": sum(p.numel() for p in model.parameters())}


def run(args, config, build) -> int:
    import torch

    with torch.device("meta"):
        model = build(config.model)
    summary = model_summary(model)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{args.system} ({args.config}), built on the meta device:")
    for name, entry in summary["modules"].items():
        print(f"  {name:<12} {entry['parameters']:>15,} parameters  ({len(entry['tensors'])} tensors)")
    print(f"  {'total':<12} {summary['total_parameters']:>15,} parameters")
    return 0
