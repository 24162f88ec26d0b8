"""The LatentFT ablations of the paper's Tables 9 and 10 (protocol.md section 5: "no correlation
(k = I), no log axis, no masking, no encoder", and band-pass augmentation instead of the DFT
mask): LatentFT-MLP with one change each to its training, everything else (sizes, optimiser,
steps, data, seed) as ``latentft-mlp``'s config in models/trainable.py.

- ``no-mask``: the decoder always sees the whole latent (mask of ones), bands only at inference.
- ``no-corr``: K = I, so every bin is kept independently with probability P(e > tau).
- ``no-log``: the RBF kernel on the linear frequency axis v instead of ln(v + 1e-6).
- ``no-encoder``: no learned encoder, z = the normalised 80-band log-mel itself; the training mask
  and the user's band act directly on the mel along time (models/latentft.py, encoder "none").
- ``band-pass``: one random band per example (models/frequency_mask.py sample_band_pass_masks)
  instead of the correlated random DFT mask.

At inference every variant is run exactly as LatentFT-MLP: the user's band masks the latent.
Imports nothing heavy: models/trainable.py, systems/latentft.py and
bench/reports/ablation_table.py read it.
"""

from __future__ import annotations

BASE = "latentft-mlp"
BASE_CONFIG = "tiny-3000"  # the base row: latentft-mlp at the ablations' 3000 steps (models/trainable.py)

# name -> (LatentFTConfig field changes, what the variant drops)
VARIANTS = {
    "latentft-mlp-no-mask": ({"masking": False}, "without frequency masking"),
    "latentft-mlp-no-corr": ({"mask_correlated": False}, "without correlation (K = I)"),
    "latentft-mlp-no-log": ({"mask_log_axis": False}, "without the log frequency axis"),
    "latentft-mlp-no-encoder": ({"encoder": "none"}, "without the encoder (the mask on the mel itself)"),
    "latentft-mlp-band-pass": (
        {"mask_kind": "band-pass"},
        "random band-pass augmentation instead of the DFT mask",
    ),
}
ABLATION_SYSTEMS = (BASE, *VARIANTS)
