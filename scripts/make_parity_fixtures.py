"""Regenerate tests/fixtures/parity/ with the peer packages themselves.

Run in a scratch environment, never in the project's:
    python3 -m venv /tmp/scratch && /tmp/scratch/bin/pip install torch==2.13.0 numpy scipy
    /tmp/scratch/bin/pip install --no-deps frechet-audio-distance kadtk torchmetrics \
        lightning-utilities hypy-utils
    /tmp/scratch/bin/python scripts/make_parity_fixtures.py
Their model back-ends (laion_clap, encodec, resampy, ...) are not needed for the distance
functions and are replaced by empty modules here. The arrays are seeded and stored beside the
values, so the test recomputes ours on exactly the same inputs.
"""

from __future__ import annotations

import json
import sys
import types
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

STUBBED = {
    "laion_clap",
    "encodec",
    "resampy",
    "torchlibrosa",
    "torchaudio",
    "hypy_utils",
    "transformers",
    "torchvggish",
    "openl3",
    "librosa",
    "nnAudio",
    "dac",
    "audiotools",
    "fairseq",
    "soundfile",
    "yaml",
    "tensorflow",
    "tensorflow_hub",
    "mert",
    "panns_inference",
    "muq",
    "wav2clip",
    "whisper",
    "einops",
    "timm",
    "huggingface_hub",
    "safetensors",
}


class _AnyMeta(type):
    def __getattr__(cls, name):
        return _Any


class _Any(metaclass=_AnyMeta):
    """Accepts any call, attribute or subclassing: stands in for every name of a stub module."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Any()

    def __getattr__(self, name):
        return _Any()


class _Stub(types.ModuleType):
    """An empty stand-in for a model back-end the distance functions never touch."""

    __path__: list = []

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Any


class _StubFinder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        import importlib.machinery

        if name.split(".")[0] in STUBBED:
            return importlib.machinery.ModuleSpec(name, _StubLoader(), is_package=True)
        return None


class _StubLoader:
    @staticmethod
    def create_module(spec):
        return _Stub(spec.name)

    @staticmethod
    def exec_module(module):
        return None


sys.meta_path.insert(0, _StubFinder())

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "parity"


def embedding_cases(rng):
    cases = {}
    cases["gauss_shift"] = (rng.normal(size=(301, 16)), rng.normal(size=(402, 16)) * 1.3 + 0.5)
    base = rng.normal(size=(150, 24))
    cases["correlated"] = (base @ rng.normal(size=(24, 24)) * 0.2, rng.normal(size=(203, 24)))
    cases["rank_deficient"] = (rng.normal(size=(20, 32)), rng.normal(size=(30, 32)) + 0.1)
    cases["same_distribution"] = (rng.normal(size=(250, 8)), rng.normal(size=(251, 8)))
    return cases


def main() -> None:
    from frechet_audio_distance.fad import FrechetAudioDistance
    from kadtk.kad import calc_kernel_audio_distance, median_pairwise_distance
    from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio, signal_noise_ratio

    rng = np.random.default_rng(20261124)
    arrays, values = {}, {}
    for name, (eval_set, ref_set) in embedding_cases(rng).items():
        arrays[f"{name}_eval"], arrays[f"{name}_ref"] = eval_set, ref_set
        mu_e, cov_e = eval_set.mean(0), np.cov(eval_set, rowvar=False)
        mu_r, cov_r = ref_set.mean(0), np.cov(ref_set, rowvar=False)
        fad = FrechetAudioDistance.calculate_frechet_distance(None, mu_e, cov_e, mu_r, cov_r)
        ref_bandwidth = median_pairwise_distance(ref_set)
        eval_bandwidth = median_pairwise_distance(eval_set)
        x, y = torch.tensor(eval_set), torch.tensor(ref_set)
        kad_ref_bw = calc_kernel_audio_distance(
            x, y, (None, None), "cpu", bandwidth=ref_bandwidth, precision=torch.float64
        )
        # kadtk's own call, score(baseline, eval): x = reference, y = eval, bandwidth from y (eval)
        kad_kadtk_default = calc_kernel_audio_distance(y, x, (None, None), "cpu", precision=torch.float64)
        values[name] = {
            "fad": float(fad),
            "kad_reference_bandwidth": float(kad_ref_bw),
            "kad_kadtk_default": float(kad_kadtk_default),
            "bandwidth_reference": ref_bandwidth,
            "bandwidth_eval": eval_bandwidth,
        }
    signals = {}
    target = rng.normal(size=(4, 8000))
    signals["noisy"] = (target + rng.normal(size=target.shape) * 0.3, target)
    signals["scaled_offset"] = (0.5 * target + 0.2 + rng.normal(size=target.shape) * 0.05, target)
    signals["bad"] = (rng.normal(size=target.shape), target)
    for name, (estimate, reference) in signals.items():
        arrays[f"{name}_estimate"], arrays[f"{name}_reference"] = estimate, reference
        e, r = torch.tensor(estimate), torch.tensor(reference)
        values[name] = {
            "si_sdr": scale_invariant_signal_distortion_ratio(e, r, zero_mean=True).tolist(),
            "snr": signal_noise_ratio(e, r, zero_mean=False).tolist(),
        }
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / "arrays.npz", **arrays)
    meta = {
        "generated_by": "scripts/make_parity_fixtures.py",
        "packages": {
            p: version(p)
            for p in ("frechet-audio-distance", "kadtk", "torchmetrics", "torch", "numpy", "scipy")
        },
        "kad_scale": 100,
        "values": values,
    }
    (OUT / "values.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
