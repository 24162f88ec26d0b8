"""How much a LatentFT decoder uses its condition: the condition-use ratio and a PCA reference.

Ratio at noise level s, over held-out clips x (normalised mels [N, 80, T]) with fixed noise n:

    r(s) = sum |D(x + s n; s | z) - x|^2 / sum |D(x + s n; s | 0) - x|^2,

z = the clip's own latent (overall: all of it; per band: band-masked as at inference), 0 the null
latent. 1 = the condition is ignored; 0 = it tells the decoder everything (an oracle that passes
the clean target). A decoder that uses its latent has r well below 1 where the noise hides the
clip (s >= 1).

PCA reference (:func:`pca_ratio`): the same ratio for linear (Gaussian) estimators of each mel frame
when the condition is a ``dims``-dimensional linear code of the frame (its top principal
components, fitted on training frames): with the code, x^ = mu + U U^T (x - mu) + W_r (y - mu);
without, x^ = mu + W (y - mu), W = V diag(l / (l + s^2)) V^T the frame-wise Wiener filter
(W_r: the same over the remaining components). It tells what a small frame-wise code allows,
not a bound on what a network can reach (the network also sees time context).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from bench.core.bands import FOUR_BAND_SPLIT, TWO_BAND_SPLIT, Band

SIGMAS = (1.0, 2.0, 5.0)
BANDS = TWO_BAND_SPLIT + FOUR_BAND_SPLIT
PCA_DIMS = 16


def band_label(band: Band) -> str:
    return f"{band.low:g}-{band.high:g}"


def _noise(shape, seed: int, index: int) -> torch.Tensor:
    from bench.core.seeds import torch_seed

    return torch.randn(
        shape, generator=torch.Generator().manual_seed(torch_seed(seed, "condition-use", index))
    )


@torch.no_grad()
def condition_use(
    model,
    mels: torch.Tensor,
    sigmas=SIGMAS,
    bands=BANDS,
    seed: int = 0,
    encoder_inputs: torch.Tensor | None = None,
) -> dict:
    """{"overall": {sigma: r}, "bands": {label: {sigma: r}}, "n_clips": N} for ``model`` with
    ``encode(features)`` and ``denoiser(condition) -> D(x, sigma)`` (models/latentft.py LatentFT).
    One clip at a time, so the figures do not depend on a batch size."""
    from bench.models.frequency_mask import apply_mask, band_masks

    masks = band_masks(list(bands)) if bands else None
    errors = {
        "null": np.zeros(len(sigmas)),
        "overall": np.zeros(len(sigmas)),
        **{band_label(b): np.zeros(len(sigmas)) for b in bands},
    }
    inputs = mels if encoder_inputs is None else encoder_inputs
    for i in range(mels.shape[0]):
        x0 = mels[i : i + 1]
        latent = model.encode(inputs[i : i + 1])
        conditions = {"null": torch.zeros_like(latent), "overall": latent}
        for j, band in enumerate(bands):
            conditions[band_label(band)] = apply_mask(latent, masks[j : j + 1])
        noise = _noise(x0.shape, seed, i)
        for k, sigma in enumerate(sigmas):
            noisy = x0 + sigma * noise
            for name, condition in conditions.items():
                denoised = model.denoiser(condition)(noisy, torch.tensor([float(sigma)]))
                errors[name][k] += float(((denoised - x0) ** 2).sum())
    ratio = {
        name: {str(float(s)): float(e[k] / errors["null"][k]) for k, s in enumerate(sigmas)}
        for name, e in errors.items()
        if name != "null"
    }
    return {
        "overall": ratio.pop("overall"),
        "bands": ratio,
        "n_clips": int(mels.shape[0]),
        "null_mse": {str(float(s)): float(errors["null"][k] / mels.numel()) for k, s in enumerate(sigmas)},
    }


def fit_pca(mels: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean [80], eigenvalues [80] descending, eigenvectors [80, 80] as columns) of the mel frames."""
    frames = mels.double().numpy().transpose(0, 2, 1).reshape(-1, mels.shape[1])
    mean = frames.mean(0)
    values, vectors = np.linalg.eigh(np.cov(frames - mean, rowvar=False))
    order = np.argsort(values)[::-1]
    return mean, np.clip(values[order], 0.0, None), vectors[:, order]


def pca_ratio(pca, mels: torch.Tensor, sigmas=SIGMAS, dims: int = PCA_DIMS, seed: int = 0) -> dict:
    """{sigma: r} of the frame-wise linear estimators with and without a ``dims``-dim PCA code, on
    ``mels`` with the same noise as :func:`condition_use`."""
    mean, values, vectors = pca
    out = {}
    for sigma in sigmas:
        with_code, without = 0.0, 0.0
        for i in range(mels.shape[0]):
            x = mels[i].double().numpy().T  # [T, 80]
            y = x + sigma * _noise(mels[i : i + 1].shape, seed, i)[0].double().numpy().T
            coords_x, coords_y = (x - mean) @ vectors, (y - mean) @ vectors
            shrink = values / (values + sigma**2)
            wiener = coords_y * shrink
            without += float(((wiener - coords_x) ** 2).sum())
            coded = wiener.copy()
            coded[:, :dims] = coords_x[:, :dims]
            with_code += float(((coded - coords_x) ** 2).sum())  # orthonormal basis: the same error
        out[str(float(sigma))] = with_code / without
    return out


def diagnose(
    model,
    held_out: torch.Tensor,
    train_mels: torch.Tensor | None = None,
    sigmas=SIGMAS,
    bands=BANDS,
    seed: int = 0,
    encoder_inputs: torch.Tensor | None = None,
    dims: int = PCA_DIMS,
) -> dict:
    """:func:`condition_use` on the held-out clips, with the PCA reference beside it (fitted on
    ``train_mels``, else on the held-out clips themselves)."""
    result = condition_use(model, held_out, sigmas, bands, seed, encoder_inputs)
    pca = fit_pca(train_mels if train_mels is not None else held_out)
    result["pca"] = {
        "dims": dims,
        "fitted_on": "training clips" if train_mels is not None else "held-out clips",
        "held_out": pca_ratio(pca, held_out, sigmas, dims, seed),
    }
    if train_mels is not None:
        result["pca"]["training"] = pca_ratio(pca, train_mels[: held_out.shape[0]], sigmas, dims, seed)
    result["sigmas"] = [float(s) for s in sigmas]
    return result


def training_monitor(held_out: torch.Tensor, sigmas=SIGMAS, bands=TWO_BAND_SPLIT, seed: int = 0) -> Callable:
    """``monitor(ema_model, step) -> dict`` for models/training.py train: the ratios of the EMA
    model on ``held_out`` (overall and the two-band split)."""

    def monitor(model, step: int) -> dict:
        was_training = model.training
        model.eval()
        result = condition_use(model, held_out, sigmas, bands, seed)
        model.train(was_training)
        return {"step": step, "overall": result["overall"], "bands": result["bands"]}

    return monitor
