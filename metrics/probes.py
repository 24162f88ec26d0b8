"""Seeded probes: how much of a label a representation carries, linearly or through a small MLP.

Features are standardised with the training split's mean and standard deviation; the model is
trained full-batch with Adam on cross-entropy; the split and the initialisation come from
``seed``, so the same inputs and seed give the same accuracy.
"""
from __future__ import annotations

import numpy as np


def train_probe(features: np.ndarray, labels: np.ndarray, kind: str = "linear", seed: int = 0,
                val_fraction: float = 0.2, epochs: int = 300, lr: float = 1e-2, hidden: int = 128,
                weight_decay: float = 1e-4) -> dict:
    """Returns {"train_accuracy", "val_accuracy", "n_train", "n_val", "n_classes", "kind", "seed"}."""
    import torch

    x = np.asarray(features, dtype=np.float32)
    y_raw = np.asarray(labels)
    if x.ndim != 2 or x.shape[0] != y_raw.shape[0]:
        raise ValueError(f"features {x.shape} and labels {y_raw.shape} do not match")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or infinite values")
    classes, y = np.unique(y_raw, return_inverse=True)
    if len(classes) < 2:
        raise ValueError("a probe needs at least two classes")
    rng = np.random.default_rng(seed)
    order = rng.permutation(x.shape[0])
    n_val = max(1, int(round(val_fraction * x.shape[0])))
    val, train = order[:n_val], order[n_val:]
    if len(train) < 2:
        raise ValueError(f"{x.shape[0]} examples leave too few for training")
    mean, std = x[train].mean(0), x[train].std(0) + 1e-6
    xt = torch.as_tensor((x - mean) / std)
    yt = torch.as_tensor(y, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    if kind == "linear":
        model = torch.nn.Linear(x.shape[1], len(classes))
    elif kind == "mlp":
        model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
                                    torch.nn.Linear(hidden, len(classes)))
    else:
        raise ValueError(f"probe kind must be 'linear' or 'mlp', not {kind!r}")
    with torch.no_grad():
        for parameter in model.parameters():
            bound = 1.0 / np.sqrt(parameter.shape[-1]) if parameter.ndim > 1 else 0.01
            parameter.uniform_(-bound, bound, generator=generator)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    train_idx = torch.as_tensor(train)
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt[train_idx]), yt[train_idx])
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        predicted = model(xt).argmax(dim=1).numpy()
    return {"kind": kind, "seed": seed, "n_train": int(len(train)), "n_val": int(len(val)),
            "n_classes": int(len(classes)),
            "train_accuracy": float((predicted[train] == y[train]).mean()),
            "val_accuracy": float((predicted[val] == y[val]).mean())}
