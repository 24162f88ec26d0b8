"""Reading VampNet's checkpoint files: ``torch.save`` dicts ``{"state_dict", "metadata": {"kwargs"}}``
written by audiotools' BaseModel.save (the codec's kwargs are LAC's, the transformers' VampNet's).

- Loaded with ``torch.load(weights_only=True)``; a file that needs more than tensors and plain Python
  containers is refused, naming what it would have to unpickle.
- ``_orig_mod.`` prefixes (a ``torch.compile``d model saved as is) are stripped.
- The modules are built from ``metadata["kwargs"]``; options this port does not implement are refused
  naming the key (``flash_attn``, ``r_cond_dim``, ``cond_dim``, ``ctrl_dims``, ``noise_mode``).
- Every tensor is checked against the official layout (:func:`official_layout`): a missing or extra
  key, or a wrong shape, is an error naming it. Only LoRA factors may be absent (the official loader
  uses ``strict=False`` for them): they count as zero.
- Weight norm (``weight = g * v / ||v||``, norm over every dimension but the first, computed with
  the same ``torch._weight_norm`` the official forward calls) and LoRA (``W + (B @ A) * alpha / r``,
  loralib's merge with VampNet's r = 8, alpha = 1) are folded into plain weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bench.adapters.vampnet.codec import LAC
from bench.adapters.vampnet.transformer import LoRALinear, VampNetModel
from bench.core.safe_load import UnreadableFileError, load_torch_file


class CheckpointError(ValueError):
    """A VampNet checkpoint that cannot be used; the message names the file and what is wrong."""


CODEC_KWARGS = {
    "encoder_dim",
    "encoder_rates",
    "decoder_dim",
    "decoder_rates",
    "n_codebooks",
    "codebook_size",
    "codebook_dim",
    "sample_rate",
}
CODEC_IGNORED = {"quantizer_dropout"}  # training only
MODEL_KWARGS = {
    "n_heads",
    "n_layers",
    "n_codebooks",
    "n_conditioning_codebooks",
    "latent_dim",
    "embedding_dim",
    "vocab_size",
}
MODEL_IGNORED = {"dropout", "cfg_dropout_prob"}  # training only
# options with the only value this port implements (the published checkpoints use these)
MODEL_REQUIRED = {
    "flash_attn": False,
    "r_cond_dim": 0,
    "cond_dim": 0,
    "ctrl_dims": None,
    "noise_mode": "mask",
}
LORA_ALPHA = 1.0


def read(path, what: str) -> tuple[dict, dict]:
    """(kwargs, state_dict with ``_orig_mod.`` stripped) of a checkpoint file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} checkpoint not found: {path}")
    try:  # weights_only=True; a file asking for any other type is refused naming it
        blob = load_torch_file(path, f"VampNet {what} checkpoint")
    except UnreadableFileError as error:
        raise CheckpointError(str(error)) from None
    if not isinstance(blob, dict) or not isinstance(blob.get("state_dict"), dict):
        raise CheckpointError(
            f"{path}: expected a dict with 'state_dict' and 'metadata' (audiotools' save format)"
        )
    metadata = blob.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("kwargs"), dict):
        raise CheckpointError(f"{path}: no metadata['kwargs'] to build the {what} model from")
    state = {}
    for key, value in blob["state_dict"].items():
        if not torch.is_tensor(value):
            raise CheckpointError(
                f"{path}: state_dict entry {key!r} is a {type(value).__name__}, not a tensor"
            )
        state[key.replace("_orig_mod.", "")] = value
    return dict(metadata["kwargs"]), state


def _check_kwargs(path, kwargs: dict, known: set, ignored: set, required: dict) -> dict:
    for key, value in required.items():
        if key in kwargs and kwargs[key] != value:
            raise CheckpointError(
                f"{path}: {key}={kwargs[key]!r} is not implemented by this port (only {value!r})"
            )
    unknown = sorted(set(kwargs) - known - ignored - set(required))
    if unknown:
        raise CheckpointError(
            f"{path}: unknown model option(s) {', '.join(unknown)} (not implemented by this port)"
        )
    return {k: v for k, v in kwargs.items() if k in known}


def codec_kwargs(path, kwargs: dict) -> dict:
    return _check_kwargs(path, kwargs, CODEC_KWARGS, CODEC_IGNORED, {})


def model_kwargs(path, kwargs: dict) -> dict:
    return _check_kwargs(path, kwargs, MODEL_KWARGS, MODEL_IGNORED, MODEL_REQUIRED)


def official_layout(module: nn.Module) -> dict[str, tuple[int, ...]]:
    """key -> shape of the official state_dict of ``module`` (weight-normed layers as weight_g /
    weight_v, LoRA layers with lora_A / lora_B)."""
    layout = {}
    for name, sub in module.named_modules():
        prefix = f"{name}." if name else ""
        own = {k: tuple(v.shape) for k, v in sub.named_parameters(recurse=False)}
        own.update({k: tuple(v.shape) for k, v in sub.named_buffers(recurse=False)})
        if getattr(sub, "weight_normed", False):
            shape = own.pop("weight")
            own["weight_g"] = (shape[0],) + (1,) * (len(shape) - 1)
            own["weight_v"] = shape
        if isinstance(sub, LoRALinear):
            out_features, in_features = own["weight"]
            own["lora_A"] = (sub.lora_r, in_features)
            own["lora_B"] = (out_features, sub.lora_r)
        layout.update({prefix + k: v for k, v in own.items()})
    return layout


def fold(module: nn.Module, state: dict, path) -> dict:
    """The official ``state`` checked against ``module``'s layout and folded to plain weights."""
    layout = official_layout(module)
    lora = {k for k in layout if k.endswith((".lora_A", ".lora_B"))}
    missing = sorted(set(layout) - set(state) - lora)
    extra = sorted(set(state) - set(layout))
    if missing or extra:
        parts = ([f"missing {len(missing)} tensor(s): {', '.join(missing[:5])}"] if missing else []) + (
            [f"unexpected {len(extra)} tensor(s): {', '.join(extra[:5])}"] if extra else []
        )
        raise CheckpointError(f"{path}: does not match the model its kwargs describe; " + "; ".join(parts))
    for key, shape in layout.items():
        if key in state and tuple(state[key].shape) != shape:
            raise CheckpointError(
                f"{path}: {key} has shape {tuple(state[key].shape)}, the model needs {shape}"
            )
    folded = {}
    for name, sub in module.named_modules():
        prefix = f"{name}." if name else ""
        for key, _ in list(sub.named_parameters(recurse=False)) + list(sub.named_buffers(recurse=False)):
            full = prefix + key
            if key == "weight" and getattr(sub, "weight_normed", False):
                g, v = state[prefix + "weight_g"].float(), state[prefix + "weight_v"].float()
                folded[full] = torch._weight_norm(v, g, 0)
            elif key == "weight" and isinstance(sub, LoRALinear):
                weight = state[full].float().clone()
                a, b = state.get(prefix + "lora_A"), state.get(prefix + "lora_B")
                if (a is None) != (b is None):
                    raise CheckpointError(
                        f"{path}: {prefix}lora_A and lora_B must be both present or both absent"
                    )
                if a is not None:
                    weight += (b.float() @ a.float()) * (sub.lora_alpha / sub.lora_r)
                folded[full] = weight
            else:
                folded[full] = state[full].float()
    return folded


def _build(cls, kwargs: dict, path, what: str):
    try:
        return cls(**kwargs)
    except Exception as error:
        raise CheckpointError(f"{path}: cannot build the {what} from its kwargs {kwargs}: {error}") from None


def build_codec(kwargs: dict, path="codec") -> LAC:
    return _build(LAC, codec_kwargs(path, kwargs), path, "codec")


def build_transformer(kwargs: dict, path="model") -> VampNetModel:
    return _build(VampNetModel, model_kwargs(path, kwargs), path, "transformer")


def load_codec(path, device="cpu") -> LAC:
    kwargs, state = read(path, "codec")
    model = build_codec(kwargs, path)
    model.load_state_dict(fold(model, state, path), strict=True)
    return model.eval().to(device)


def load_transformer(path, device="cpu", what: str = "transformer") -> VampNetModel:
    kwargs, state = read(path, what)
    model = build_transformer(kwargs, path)
    model.load_state_dict(fold(model, state, path), strict=True)
    return model.eval().to(device)
