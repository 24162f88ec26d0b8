"""The LatentFT reference code's modules and checkpoints (github:maswang32/latentfouriertransform
@ c645508) in the harness's terms: the key mapping, the reference's model config read as a
:class:`~bench.models.latentft.LatentFTConfig`, and loading what its Lightning module saves.

Key mapping (:func:`harness_key`): the reference wraps every ``nn.Conv1d``, ``nn.Linear`` and
``nn.GroupNorm`` in a module of its own (attribute ``conv``, ``linear``, ``gn``); the harness's
paper modules (models/unet1d.py PaperUNet1D, models/latentft.py PaperMLPEncoder) use the torch
layers directly under the same names. So a reference key maps to the harness's by dropping those
path segments (and torch.compile's ``_orig_mod``), e.g.
``dec.512_block0.conv0.conv.weight`` -> ``dec.512_block0.conv0.weight``,
``residual_blocks.0.norm0.gn.bias`` -> ``residual_blocks.0.norm0.bias``,
``emb_network.linear0.linear.weight`` -> ``emb_network.linear0.weight``.

A reference checkpoint (``latentft/lightning/lit_fmdiffae.py`` FMDiffAEModule, saved by Lightning's
ModelCheckpoint, a ``.ckpt``) holds ``state_dict`` with the trained weights under ``model.`` (the
FMDiffAE: ``model.encoder.*``, ``model.decoder.*``) and, with ``use_ema_weights`` (the default),
the EMA under ``ema_model.module.*`` (plus ``ema_model.n_averaged``); ``hyper_parameters`` (the
resolved Hydra config: ``model.encoder``, ``model.decoder``, ``model.use_tanh`` ...); and
``global_step``. :func:`load_latentft_reference` reads it with ``weights_only=True``, prefers the
EMA weights (what the reference's ``load_torch_model`` returns), builds the model its
``hyper_parameters`` describe and refuses one whose weights do not fit, naming the first
mismatched key and both shapes.
"""

from __future__ import annotations

from pathlib import Path

WRAPPER_SEGMENTS = frozenset({"conv", "linear", "gn", "_orig_mod"})
EMA_PREFIX, MODEL_PREFIX = "ema_model.module.", "model."
# the EDM of reproduce_results/baselines_and_ablations/unconditional.py calls its network ``net``
MODULE_RENAMES = {"net": "network"}


class ReferenceCheckpointError(Exception):
    """A reference checkpoint that cannot be used; the message names the file and what is wrong."""


def harness_key(reference_key: str) -> str:
    """The harness's state-dict key of a reference module's key (see the module docstring)."""
    parts = [part for part in reference_key.split(".") if part not in WRAPPER_SEGMENTS]
    if parts and parts[0] in MODULE_RENAMES:
        parts[0] = MODULE_RENAMES[parts[0]]
    return ".".join(parts)


def lightning_weights(state_dict: dict, ema: bool = True) -> tuple[dict, str]:
    """The model's weights of a Lightning ``state_dict`` under harness keys, and which copy they are
    ("ema" or "model"): the EMA when it is there and ``ema``, else the trained weights."""
    has_ema = any(key.startswith(EMA_PREFIX) for key in state_dict)
    prefix = EMA_PREFIX if ema and has_ema else MODEL_PREFIX
    weights = {
        harness_key(key[len(prefix) :]): value for key, value in state_dict.items() if key.startswith(prefix)
    }
    return weights, ("ema" if prefix == EMA_PREFIX else "model")


def first_mismatch(expected: dict, given: dict) -> str | None:
    """None when ``given`` has exactly ``expected``'s keys and shapes (``{key: shape}`` either way),
    else a sentence naming the first key (in the model's order) that differs."""
    for key, shape in expected.items():
        if key not in given:
            return f"{key} (shape {list(shape)}) is missing from the checkpoint"
        if list(given[key]) != list(shape):
            return f"{key}: the checkpoint's shape is {list(given[key])}, the model's {list(shape)}"
    for key, shape in given.items():
        if key not in expected:
            return f"the checkpoint has {key} (shape {list(shape)}), which the model does not"
    return None


def _target(section: dict) -> str:
    return str(section.get("_target_", "")).rsplit(".", 1)[-1]


def _unet_fields(unet: dict, where: str) -> dict:
    """The LatentFTConfig fields of a reference UNet1d's kwargs; refuses what PaperUNet1D does not build."""
    unsupported = {
        "kernel_size": 3,
        "num_heads": 1,
        "emb_num_sinusoids": 128,
        "emb_dim_mult": 4,
        "max_t_value": 100,
    }
    for name, value in unsupported.items():
        if name in unet and unet[name] != value:
            raise ValueError(f"{where}.{name} = {unet[name]!r} (the harness builds {value} only)")
    if any(d != 1 for d in unet.get("dilation_sequence", [])):
        raise ValueError(
            f"{where}.dilation_sequence = {unet['dilation_sequence']} (the harness builds 1s only)"
        )
    return {
        "decoder_base": int(unet.get("model_dim", 256)),
        "decoder_mults": tuple(unet.get("channel_mults", ())),
        "decoder_blocks": int(unet.get("num_blocks_per_res", 3)),
        "attention_at": tuple(unet.get("attn_resolutions", ())) if unet.get("use_attention", True) else (),
        "resolution": int(unet.get("data_resolution", 512)),
    }


def config_from_reference(model: dict):
    """The LatentFTConfig of a reference FMDiffAE config (``hyper_parameters["model"]``): the paper
    architecture at the sizes it names, trained as the reference trains (no extra condition dropout,
    unit-variance mask scores, no output clamp). ValueError naming what the harness does not build."""
    from bench.models.latentft import N_MELS, LatentFTConfig

    if model.get("use_tanh"):
        raise ValueError("model.use_tanh is true (a tanh after the encoder; the harness does not build it)")
    encoder, decoder = model.get("encoder") or {}, model.get("decoder") or {}
    fields = _unet_fields(decoder, "model.decoder")
    if decoder.get("use_t", True) is False:
        raise ValueError("model.decoder.use_t is false (the decoder must be conditioned on the noise level)")
    kind = _target(encoder)
    if kind == "PointwiseNet":
        hidden = list(encoder.get("hidden_channels", []))
        if not hidden or len(set(hidden)) != 1:
            raise ValueError(
                f"model.encoder.hidden_channels = {hidden} (the harness builds equal widths only)"
            )
        fields.update(
            encoder="mlp",
            encoder_hidden=hidden[0],
            encoder_blocks=len(hidden) - 1,
            latent_channels=int(encoder.get("out_channels", 16)),
        )
    elif kind == "UNet1d":
        if _unet_fields(encoder, "model.encoder") != fields:
            raise ValueError(
                "model.encoder is a U-Net of other sizes than the decoder's (the harness builds the "
                "decoder's U-Net without time as the encoder)"
            )
        fields.update(encoder="unet", latent_channels=int(encoder.get("out_channels", 80)))
    elif kind == "Identity":
        fields.update(encoder="none", latent_channels=N_MELS)
    else:
        raise ValueError(
            f"model.encoder._target_ = {encoder.get('_target_')!r} (PointwiseNet, UNet1d or Identity)"
        )
    expected_in = N_MELS + fields["latent_channels"]
    if int(decoder.get("in_channels", expected_in)) != expected_in:
        raise ValueError(
            f"model.decoder.in_channels = {decoder['in_channels']} (80 mel + "
            f"{fields['latent_channels']} latent channels = {expected_in})"
        )
    return LatentFTConfig(
        architecture="paper", cond_dropout=0.0, mask_scores="columns", clamp_output=False, **fields
    )


# what a Lightning checkpoint may hold beyond tensors and plain containers (weights_only=True)
SAFE_GLOBALS = ("collections.defaultdict",)


def read_lightning(path: str | Path) -> dict:
    """A Lightning checkpoint's dict, read with ``weights_only=True`` (plus :data:`SAFE_GLOBALS`)."""
    import collections

    from bench.core.safe_load import UnreadableFileError, load_torch_file

    try:  # a file asking for any other type is refused naming it (bench/core/safe_load.py)
        state = load_torch_file(path, "LatentFT reference checkpoint", allowed=(collections.defaultdict,))
    except UnreadableFileError as error:
        raise ReferenceCheckpointError(str(error)) from None
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict):
        raise ReferenceCheckpointError(
            f"{path}: not a Lightning checkpoint of the reference code (no state_dict)"
        )
    return state


def load_latentft_reference(path: str | Path, encoder: str, default_config=None, device: str = "cpu"):
    """(LatentFT in eval mode, the harness's checkpoint dict) of a reference ``.ckpt``.

    The architecture is the checkpoint's ``hyper_parameters["model"]`` (else ``default_config``);
    its encoder must be ``encoder`` (the system's). The weights must fit it key for key and shape
    for shape."""
    from bench.models.latentft import LatentFT

    state = read_lightning(path)
    hparams = state.get("hyper_parameters") or {}
    try:
        config = (
            config_from_reference(hparams["model"])
            if isinstance(hparams.get("model"), dict)
            else default_config
        )
    except ValueError as error:
        raise ReferenceCheckpointError(f"{path}: {error}") from None
    if config is None:
        raise ReferenceCheckpointError(f"{path}: no hyper_parameters.model to read the architecture from")
    if config.encoder != encoder:
        raise ReferenceCheckpointError(
            f"{path}: a LatentFT with the {config.encoder!r} encoder, not {encoder!r} "
            f"(pass it to the system of that encoder)"
        )
    weights, copy = lightning_weights(state["state_dict"])
    model = LatentFT(config)
    expected = {key: tuple(t.shape) for key, t in model.state_dict().items()}
    mismatch = first_mismatch(expected, {key: tuple(t.shape) for key, t in weights.items()})
    if mismatch:
        raise ReferenceCheckpointError(f"{path}: not the architecture it names ({copy} weights): {mismatch}")
    model.load_state_dict({key: t.float() for key, t in weights.items()})
    harness_state = {
        "ema": model.state_dict(),
        "config": {"model": config.as_dict()},
        "step": int(state.get("global_step", 0)),
        "meta": {
            "dataset": "the reference's training set",
            "format": "latentft-reference-lightning",
            "weights": copy,
        },
    }
    return model.eval().to(device), harness_state
