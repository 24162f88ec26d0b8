"""The pip ``linear-cae`` package's pretrained autoencoders (Lin-CAE, Lin-CAE-2 and the retrained
Music2Latent baseline ``m2l``) as rows of ``make table-lincae``.

Weights come from a folder the user names (``--checkpoint linear-cae:lin-cae=DIR``) laid out like
the package's Hugging Face repository folder ``<hash>_weights/``::

    autoencoder_inference_model_last.pth
    frontend_kwargs_last.yaml  generator_kwargs_last.yaml  diffusion_kwargs_last.yaml

or from the Hugging Face cache where ``Autoencoder.from_pretrained`` put them; nothing is downloaded.
The model is the package's own ``linear_cae.Autoencoder`` built from those files. Audio is resampled
from the harness rate to the model's (44.1 kHz) and back; every clip is decoded alone from noise
seeded by its own seed, so a figure never depends on the batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PREFIX = "linear-cae:"
KNOWN_IDS = ("lin-cae", "lin-cae-2", "m2l")
TABLE_IDS = ("lin-cae", "m2l")
CHECKPOINT_TYPE = "last"
FILES = {
    "weights": "autoencoder_inference_model_{}.pth",
    "frontend": "frontend_kwargs_{}.yaml",
    "generator": "generator_kwargs_{}.yaml",
    "diffusion": "diffusion_kwargs_{}.yaml",
}
INSTALL = "pip install --no-deps linear-cae==0.1.4 (see requirements-nodeps.txt)"


class PretrainedUnavailable(RuntimeError):
    pass


def row_name(model_id: str) -> str:
    return PREFIX + model_id


def _weights_folder(model_id: str) -> str:
    from linear_cae.inference import id_to_hash

    return id_to_hash.get(model_id, model_id) + "_weights"


def _files_in(folder: Path, checkpoint_type: str) -> dict[str, Path]:
    files = {key: folder / name.format(checkpoint_type) for key, name in FILES.items()}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise PretrainedUnavailable(f"missing in {folder}: {', '.join(missing)}")
    return files


def _files_in_hub_cache(model_id: str, checkpoint_type: str) -> dict[str, Path]:
    from huggingface_hub import hf_hub_download
    from linear_cae.inference import HF_REPO

    folder = _weights_folder(model_id)
    files = {}
    for key, name in FILES.items():
        filename = f"{folder}/{name.format(checkpoint_type)}"
        try:
            files[key] = Path(hf_hub_download(repo_id=HF_REPO, filename=filename, local_files_only=True))
        except Exception as error:  # the hub raises several types for "not in the cache"
            raise PretrainedUnavailable(
                f"{HF_REPO}/{filename} is not in the Hugging Face cache ({type(error).__name__})"
            ) from None
    return files


def resolve_files(
    model_id: str, path: str | None = None, checkpoint_type: str = CHECKPOINT_TYPE
) -> dict[str, Path]:
    """The four files of one pretrained model: from ``path`` (a folder) when given, else the hub cache."""
    try:
        import linear_cae  # noqa: F401
    except ImportError:
        raise PretrainedUnavailable(f"the linear-cae package is not installed ({INSTALL})") from None
    if path is not None:
        folder = Path(path)
        if not folder.is_dir():
            raise PretrainedUnavailable(f"{folder} is not a folder")
        nested = folder / _weights_folder(model_id)
        return _files_in(nested if nested.is_dir() else folder, checkpoint_type)
    return _files_in_hub_cache(model_id, checkpoint_type)


class LinearCAEAdapter:
    """encode([B, T] audio at ``sample_rate``) -> latent; decode(latent, seeds) -> [B, T] audio."""

    def __init__(self, model, sample_rate: int):
        self.model = model.eval()
        self.sample_rate = sample_rate
        self.model_rate = int(getattr(model, "sample_rate", None) or 44100)
        self.length: int | None = None

    def encode(self, audio):
        import torch

        from bench.core.audio import resample

        audio = np.asarray(audio, dtype=np.float64)
        self.length = audio.shape[-1]
        model_audio = np.stack([resample(x, self.sample_rate, self.model_rate) for x in audio])
        with torch.no_grad():
            return self.model.encode(
                torch.as_tensor(model_audio, dtype=torch.float32, device=self.model.device)
            ).cpu()

    def decode(self, latent, seeds: list[int]):
        import torch

        from bench.core.audio import fit_length, resample

        if self.length is None:
            raise RuntimeError(
                "encode a clip first: the adapter decodes to the length of the last encoded clips"
            )
        model_length = int(round(self.length * self.model_rate / self.sample_rate))
        out = []
        for z, seed in zip(latent, seeds):
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                torch.manual_seed(int(seed))
                audio = self.model.decode(z[None].float().to(self.model.device), full_length=model_length)
            audio = fit_length(audio[0].double().cpu().numpy(), model_length)
            out.append(fit_length(resample(audio, self.model_rate, self.sample_rate), self.length))
        return torch.as_tensor(np.stack(out))


def load_pretrained(model_id: str, path: str | None = None, sample_rate: int | None = None):
    """(LinearCAEAdapter, provenance) or raise PretrainedUnavailable saying what is missing."""
    import yaml
    from linear_cae import Autoencoder

    from bench.core.audio import SAMPLE_RATE
    from bench.core.safe_load import UnreadableFileError, load_module_state, load_torch_file
    from bench.core.storage import file_sha256

    files = resolve_files(model_id, path)
    kwargs = {}
    for key in ("frontend", "generator", "diffusion"):
        try:
            kwargs[key] = yaml.safe_load(files[key].read_text()) or {}
        except yaml.YAMLError as error:
            raise PretrainedUnavailable(f"{files[key]}: not valid YAML ({error})") from None
    model = Autoencoder(kwargs["frontend"], kwargs["generator"], kwargs["diffusion"], name=model_id)
    try:
        state = load_torch_file(files["weights"], "Lin-CAE weights file")
        load_module_state(model, state, files["weights"], "weights", model="the configuration next to it")
    except UnreadableFileError as error:
        raise PretrainedUnavailable(str(error)) from None
    from importlib.metadata import version

    info = {
        "pretrained": f"linear-cae {version('linear-cae')} model `{model_id}`",
        "checkpoint_sha256": file_sha256(str(files["weights"])),
        "weights_file": str(files["weights"]),
        "scale_factor": float(model.scale_factor),
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    return LinearCAEAdapter(model, sample_rate or SAMPLE_RATE), info


def fix_for(model_id: str) -> str:
    files = ", ".join(n.format(CHECKPOINT_TYPE) for n in FILES.values())
    return (
        f"--checkpoint {row_name(model_id)}=DIR with the files {files}, "
        f"or run linear_cae.Autoencoder.from_pretrained({model_id!r}) once where the hub is reachable"
    )
