"""The Descript Audio Codec as the harness uses it: finding the user's weights, importing the
package without its torchaudio / TensorBoard requirements, and encoding clips to the continuous
quantised latent z. Shared by the ``dac`` latent-filter baseline and LatentFT-DAC's front end."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.core.system import Availability

CACHE = Path.home() / ".cache" / "descript" / "dac"
CACHE_PATTERN = "weights_44khz_8kbps_*.pth"
INSTALL = (
    "make venv-dev installs it (pip install --no-deps descript-audio-codec==1.0.0 descript-audiotools==0.7.2 "
    "argbind docstring-parser einops julius flatten-dict ffmpy randomname pyloudnorm markdown2 "
    "importlib-resources rich)"
)


def import_dac():
    from bench.core.optional_imports import placeholders

    with placeholders("torchaudio", "torch.utils.tensorboard"):
        import dac
    return dac


def weights_path(given: str | None) -> Path | None:
    """The path given, else the newest 44 kHz weights in the package's cache, else None."""
    if given:
        return Path(given)
    cached = sorted(CACHE.glob(CACHE_PATTERN))
    return cached[-1] if cached else None


def weights_availability(path: Path | None, option: str) -> Availability:
    if path is None:
        return Availability(
            False,
            f"no DAC weights: no {option} option and no {CACHE / CACHE_PATTERN}",
            "copy weights_44khz_8kbps_0.0.1.pth (descript-audio-codec's 44 kHz release) "
            f"into {CACHE}/ or pass {option}=/path/weights.pth",
        )
    if not path.is_file():
        return Availability(False, f"DAC weights not found: {path}", f"check {option}")
    return Availability(True)


def load_dac(path: Path, device: str = "cpu"):
    """The DAC of a weights file as descript-audio-codec writes it (``DAC.save(path, package=False)``:
    ``{"state_dict": ..., "metadata": {"kwargs": {...}}}``), read as data (bench/core/safe_load.py)
    and built here; the package's own ``DAC.load`` first tries the file as a ``torch.package``,
    which runs code from it. Every parameter must be in the file with its shape; raises
    UnreadableFileError naming the file and what is wrong."""
    import inspect

    from bench.core.safe_load import UnreadableFileError, load_module_state, load_torch_file, require_keys

    state = load_torch_file(path, "DAC weights file")
    require_keys(state, ("state_dict", "metadata"), path, what="DAC weights file")
    require_keys(state["metadata"], ("kwargs",), path, "metadata", what="DAC weights file")
    model_class = import_dac().DAC
    accepted = inspect.signature(model_class).parameters
    kwargs = state["metadata"]["kwargs"]
    if not isinstance(kwargs, dict):
        raise UnreadableFileError(path, f"its metadata.kwargs is a {type(kwargs).__name__}, not a dict")
    try:
        model = model_class(**{key: value for key, value in kwargs.items() if key in accepted})
    except Exception as error:  # the constructor's own checks, whatever they raise
        raise UnreadableFileError(
            path, f"its metadata.kwargs do not build a DAC ({type(error).__name__}: {error})"
        ) from None
    # keys the model lacks are ignored, as descript-audio-codec's loader (strict=False) does
    load_module_state(model, state["state_dict"], path, "state_dict", allow_unexpected=True)
    return model.eval().to(device)


def encode(model, audio: np.ndarray, device: str = "cpu") -> np.ndarray:
    """One clip at the model's rate -> z [latent_dim, frames] (float64)."""
    import torch

    x = torch.as_tensor(audio, dtype=torch.float32, device=device)[None, None]
    with torch.no_grad():
        z = model.encode(model.preprocess(x, model.sample_rate))[0]
    return z[0].double().cpu().numpy()


def clip_latents(model, clips: np.ndarray, frames: int, sample_rate: int, device: str = "cpu") -> np.ndarray:
    """Clips [N, T] at ``sample_rate`` -> z [N, latent_dim, frames]: resampled to the codec's rate,
    encoded one at a time, cut or zero-padded to ``frames`` (the 44.1 kHz model's 86.13 Hz latent
    has as many frames as the harness's mel)."""
    from bench.core.audio import fit_length, resample

    rate = int(model.sample_rate)
    return np.stack(
        [
            fit_length(
                encode(model, resample(np.asarray(c, dtype=np.float64), sample_rate, rate), device), frames
            )
            for c in clips
        ]
    )
