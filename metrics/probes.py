"""Seeded probes: how much of a label a representation carries, linearly or through a small MLP.

Features are standardised with the training split's mean and standard deviation; the model is
trained full-batch with Adam on cross-entropy; the split and the initialisation come from
``seed``, so the same inputs and seed give the same accuracy.
"""

from __future__ import annotations

import numpy as np


def train_probe(
    features: np.ndarray,
    labels: np.ndarray,
    kind: str = "linear",
    seed: int = 0,
    val_fraction: float = 0.2,
    epochs: int = 300,
    lr: float = 1e-2,
    hidden: int = 128,
    weight_decay: float = 1e-4,
) -> dict:
    """A seeded random train/validation split of one set.
    Returns {"train_accuracy", "val_accuracy", "n_train", "n_val", "n_classes", "kind", "seed"}."""
    x, y_raw = _check(features, labels)
    rng = np.random.default_rng(seed)
    order = rng.permutation(x.shape[0])
    n_val = max(1, int(round(val_fraction * x.shape[0])))
    val, train = order[:n_val], order[n_val:]
    if len(train) < 2:
        raise ValueError(f"{x.shape[0]} examples leave too few for training")
    result = fit_probe(
        x[train], y_raw[train], x[val], y_raw[val], kind, seed, epochs, lr, hidden, weight_decay
    )
    return {**result, "val_accuracy": result["eval_accuracy"], "n_val": result["n_eval"]}


def _check(features, labels):
    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(labels)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"features {x.shape} and labels {y.shape} do not match")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or infinite values")
    return x, y


def fit_probe(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    eval_features: np.ndarray,
    eval_labels: np.ndarray,
    kind: str = "linear",
    seed: int = 0,
    epochs: int = 300,
    lr: float = 1e-2,
    hidden: int = 128,
    weight_decay: float = 1e-4,
) -> dict:
    """Train on one set, score on another (an eval label never seen in training counts as wrong).
    Returns {"train_accuracy", "eval_accuracy", "eval_correct" (per eval example), "n_train",
    "n_eval", "n_classes", "kind", "seed"}; each eval example is classified on its own."""
    import torch

    x_train, y_train_raw = _check(train_features, train_labels)
    x_eval, y_eval_raw = _check(eval_features, eval_labels)
    classes, y_train = np.unique(y_train_raw, return_inverse=True)
    if len(classes) < 2:
        raise ValueError("a probe needs at least two classes")
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    y_eval = np.array([lookup.get(c, -1) for c in y_eval_raw.tolist()])
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    xt, xe = torch.as_tensor((x_train - mean) / std), torch.as_tensor((x_eval - mean) / std)
    yt = torch.as_tensor(y_train, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    if kind == "linear":
        model = torch.nn.Linear(x_train.shape[1], len(classes))
    elif kind == "mlp":
        model = torch.nn.Sequential(
            torch.nn.Linear(x_train.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, len(classes))
        )
    else:
        raise ValueError(f"probe kind must be 'linear' or 'mlp', not {kind!r}")
    with torch.no_grad():
        for parameter in model.parameters():
            bound = 1.0 / np.sqrt(parameter.shape[-1]) if parameter.ndim > 1 else 0.01
            parameter.uniform_(-bound, bound, generator=generator)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        train_predicted = model(xt).argmax(dim=1).numpy()
        eval_predicted = model(xe).argmax(dim=1).numpy()
    return {
        "kind": kind,
        "seed": seed,
        "n_train": int(len(y_train)),
        "n_eval": int(len(y_eval)),
        "n_classes": int(len(classes)),
        "train_accuracy": float((train_predicted == y_train).mean()),
        "eval_accuracy": float((eval_predicted == y_eval).mean()),
        "eval_correct": (eval_predicted == y_eval).tolist(),
    }


def fit_sequence_probe(
    train_features: np.ndarray,
    train_targets: np.ndarray,
    eval_features: np.ndarray,
    eval_targets: np.ndarray,
    seed: int = 0,
    epochs: int = 60,
    hidden: int = 64,
    layers: int = 2,
    lr: float = 3e-3,
    batch_size: int = 64,
) -> dict:
    """Frame-wise multi-label probe: a ``layers``-layer bidirectional LSTM and a linear read-out on
    sequences [N, T, C] predicting targets [N, T, K] in {0, 1}, trained with binary cross-entropy
        BCE = -mean(y log p + (1 - y) log(1 - p))
    (Adam, seeded initialisation and minibatch order; features standardised per channel with the
    training set's statistics). Returns {"train_bce", "eval_bce", "eval_probabilities" [N, T, K], ...};
    each eval sequence is scored alone, so its figures do not depend on the others."""
    import torch

    x_train, y_train = _check_sequences(train_features, train_targets)
    x_eval, y_eval = _check_sequences(eval_features, eval_targets)
    if x_train.shape[2] != x_eval.shape[2] or y_train.shape[2] != y_eval.shape[2]:
        raise ValueError(
            f"train {x_train.shape}/{y_train.shape} and eval {x_eval.shape}/{y_eval.shape} differ in width"
        )
    mean = x_train.reshape(-1, x_train.shape[2]).mean(0)
    std = x_train.reshape(-1, x_train.shape[2]).std(0) + 1e-6
    xt, xe = torch.as_tensor((x_train - mean) / std), torch.as_tensor((x_eval - mean) / std)
    yt, ye = torch.as_tensor(y_train), torch.as_tensor(y_eval)
    torch.manual_seed(seed)
    lstm = torch.nn.LSTM(x_train.shape[2], hidden, num_layers=layers, batch_first=True, bidirectional=True)
    readout = torch.nn.Linear(2 * hidden, y_train.shape[2])
    parameters = list(lstm.parameters()) + list(readout.parameters())
    optimiser = torch.optim.Adam(parameters, lr=lr)
    generator = torch.Generator().manual_seed(seed)

    def logits(x):
        return readout(lstm(x)[0])

    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for _ in range(epochs):
        for batch in torch.randperm(len(xt), generator=generator).split(batch_size):
            optimiser.zero_grad()
            bce(logits(xt[batch]), yt[batch]).backward()
            optimiser.step()
    with torch.no_grad():
        train_bce = float(bce(logits(xt), yt))
        eval_logits = torch.cat([logits(xe[i : i + 1]) for i in range(len(xe))])
        eval_bce = float(bce(eval_logits, ye))
    return {
        "kind": f"bilstm-{layers}x{hidden}",
        "seed": seed,
        "epochs": epochs,
        "n_train": int(len(xt)),
        "n_eval": int(len(xe)),
        "train_bce": train_bce,
        "eval_bce": eval_bce,
        "eval_probabilities": torch.sigmoid(eval_logits).numpy(),
    }


def _check_sequences(features, targets):
    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(targets, dtype=np.float32)
    if x.ndim != 3 or y.ndim != 3 or x.shape[:2] != y.shape[:2]:
        raise ValueError(
            f"sequence features {x.shape} and targets {y.shape} do not match ([N, T, C] and [N, T, K])"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or infinite values")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("targets must be 0 or 1")
    return x, y
