"""Checkpoints and weights files are untrusted (docs/untrusted-files.md): a pickle that would run code
is refused by every loader, naming the file and the type it asked for, and creates nothing; damaged
files (empty, truncated, a missing key, a tensor of another shape) are named errors; a table1 row
whose file is refused is † and the run goes on; a run where no row can run prints its table and
exits 3; and three messages that misled users say the truth."""

import argparse
import json
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from support.paths import FIXTURES, ROOT

from bench.core.config import SCALES, RunConfig
from bench.core.registry import get_system_class, system_status
from bench.core.runner import plan
from bench.core.safe_load import UnreadableFileError, UnsafeFileError, load_torch_file
from bench.core.system import RunContext
from bench.models import checkpoint_store as store


class Hostile:
    """Unpickled, it creates ``marker`` (``open(marker, "w")``): what a malicious checkpoint does."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_hostile(path, marker, fmt: str = "zip", wrap=lambda payload: {"ema": payload}):
    """A file whose loading with plain ``torch.load``/``pickle.load`` creates ``marker``."""
    obj = wrap(Hostile(marker))
    if fmt == "zip":
        torch.save(obj, path)
    elif fmt == "legacy":
        with open(path, "wb") as handle:
            torch.save(obj, handle, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


def test_the_hostile_file_does_run_code_when_loaded_without_the_safe_loader(tmp_path):
    """The test's payload is real: an unguarded load creates the marker."""
    marker = tmp_path / "created"
    torch.load(write_hostile(tmp_path / "evil.pt", marker), weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("fmt", ["zip", "legacy", "pickle"])
def test_the_shared_loader_refuses_a_hostile_pickle_and_names_the_file_and_the_type(tmp_path, fmt):
    marker = tmp_path / "created"
    path = write_hostile(tmp_path / "evil.pt", marker, fmt)
    with pytest.raises(UnsafeFileError) as raised:
        load_torch_file(path)
    assert not marker.exists()
    assert str(raised.value).startswith(f"{path}: refused")
    assert raised.value.types == ("io.open",) and "io.open" in str(raised.value) and raised.value.fix


# ---- every loader, each bad file --------------------------------------------------------------


def _message(call, errors) -> str:
    with pytest.raises(errors) as raised:
        call()
    return str(raised.value)


def _tiny_prior():
    from bench.models.mel_prior import MelPrior, MelPriorConfig

    config = MelPriorConfig(base=8, mults=(1, 2))
    return MelPrior(config), config


def via_checkpoint_store(path, tmp_path):
    return _message(lambda: store.load_state(path), store.CheckpointError)


def via_system_option(path, tmp_path):
    """``--system-option latentft-mlp.checkpoint=PATH``: the row is † with the reason; the plan goes on."""
    return _planned_reason("latentft-mlp", {"checkpoint": str(path)})


def via_training_resume(path, tmp_path):
    from bench.models.training import TrainConfig, train

    model, config = _tiny_prior()
    settings = TrainConfig(steps=1, batch_size=2, warmup_steps=1, checkpoint_every=1, model=config)
    return _message(
        lambda: train(model, torch.randn(4, 80, 64), settings, path, {}, progress=False, log=lambda *_: None),
        UnreadableFileError,
    )


def via_dac(path, tmp_path):
    from bench.adapters.dac_codec import load_dac

    return _message(lambda: load_dac(path), UnreadableFileError)


def via_bigvgan(path, tmp_path):
    pytest.importorskip("bigvgan")
    from test_codecs import TINY_BIGVGAN

    from bench.adapters.vocoders import BigVGANVocoder, VocoderUnavailable

    folder = tmp_path / "bigvgan"  # the vocoder reads a folder: the bad file goes in as its weights
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(TINY_BIGVGAN))
    os.replace(path, folder / "bigvgan_generator.pt")
    message = _message(lambda: BigVGANVocoder(str(folder)).model(), VocoderUnavailable)
    return message.replace(str(folder / "bigvgan_generator.pt"), str(path))


def via_vggish(path, tmp_path):
    pytest.importorskip("torchvggish")
    from bench.adapters.embedders import EmbedderUnavailable, VGGishEmbedder

    return _message(lambda: VGGishEmbedder(str(path)).model(), EmbedderUnavailable)


def via_clap(path, tmp_path):
    pytest.importorskip("transformers")
    from test_embedders import save_tiny_clap

    from bench.adapters.embedders import EmbedderUnavailable
    from bench.core.registry import make_embedder

    folder = tmp_path / "clap"  # save_pretrained's layout, the weights as a pickle: the bad file
    save_tiny_clap(folder)
    (folder / "model.safetensors").unlink()
    os.replace(path, folder / "pytorch_model.bin")
    message = _message(lambda: make_embedder(f"clap:{folder}").model(), EmbedderUnavailable)
    return message.replace(str(folder / "pytorch_model.bin"), str(path))


def via_lincae(path, tmp_path):
    pytest.importorskip("linear_cae")
    from test_linear_cae_adapter import save_tiny

    from bench.adapters.linear_cae import PretrainedUnavailable, load_pretrained

    folder = tmp_path / "lincae"  # the model is a folder: the bad file goes in as its weights
    save_tiny(folder)
    os.replace(path, folder / "autoencoder_inference_model_last.pth")
    message = _message(lambda: load_pretrained("m2l", str(folder)), PretrainedUnavailable)
    return message.replace(str(folder / "autoencoder_inference_model_last.pth"), str(path))


def via_rave(path, tmp_path):
    from bench.systems.rave import load_rave

    message = _message(lambda: load_rave(str(path)), UnreadableFileError)
    status = system_status("rave", {"model": str(path)})
    assert not status.availability.ok and status.availability.reason == message
    return message


def via_vampnet(path, tmp_path):
    from bench.adapters.vampnet.checkpoint import CheckpointError, read

    return _message(lambda: read(path, "coarse"), CheckpointError)


LOADERS = {
    "checkpoint store": via_checkpoint_store,
    "system option": via_system_option,
    "training resume": via_training_resume,
    "dac": via_dac,
    "bigvgan": via_bigvgan,
    "vggish": via_vggish,
    "clap": via_clap,
    "lin-cae": via_lincae,
    "rave": via_rave,
    "vampnet": via_vampnet,
}


def _planned_reason(name: str, options: dict) -> str:
    """plan() of a run of ``reference`` and ``name``: ``name`` is unavailable (†), ``reference`` planned;
    its reason and fix line."""
    config = RunConfig(systems=("reference", name), tasks=(), system_options={name: options})

    class Context:
        clipset = None

        def system(self, system):
            return get_system_class(system)(
                RunContext(
                    np.zeros((1, 8)), ["a"], system_options=dict(config.system_options.get(system, {}))
                )
            )

    store._load_cached.cache_clear()
    the_plan = plan(config, Context(), {}, 8)
    assert set(the_plan.rows) == {"reference"} and set(the_plan.unavailable) == {name}
    entry = the_plan.unavailable[name]
    assert entry["fix"]
    return f"{entry['reason']} (fix: {entry['fix']})"


@pytest.mark.parametrize("loader", LOADERS)
def test_a_hostile_pickle_is_refused_by_every_loader_and_creates_nothing(tmp_path, loader):
    marker = tmp_path / "created"
    path = write_hostile(tmp_path / "evil.pt", marker)
    message = LOADERS[loader](path, tmp_path)
    assert not marker.exists()
    assert str(path) in message
    if loader != "rave":  # TorchScript only: refused as not an export, before any unpickling
        assert "refused" in message and "io.open" in message
    else:
        assert "not a RAVE TorchScript export: a torch.save file" in message


@pytest.mark.parametrize("loader", LOADERS)
def test_an_empty_file_is_named_by_every_loader(tmp_path, loader):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    message = LOADERS[loader](path, tmp_path)
    assert f"{path}: empty file (0 bytes)" in message


@pytest.mark.parametrize("loader", LOADERS)
def test_a_truncated_file_is_named_by_every_loader(tmp_path, loader):
    whole = tmp_path / "whole.pt"
    torch.save({"weights": torch.zeros(4096)}, whole)
    path = tmp_path / "cut.pt"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    message = LOADERS[loader](path, tmp_path)
    assert f"{path}: not a readable" in message and "(truncated or damaged" in message


def test_a_file_that_is_not_pytorch_at_all_is_named(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert "not a PyTorch file: 5 bytes beginning b'hell'" in via_checkpoint_store(path, tmp_path)


# ---- a missing key, a wrong shape ---------------------------------------------------------------


def _shipped_state() -> dict:
    return load_torch_file(store.shipped_path("latentft-mlp"))


def test_a_checkpoint_without_a_key_is_named_and_its_row_is_dagger(tmp_path):
    state = _shipped_state()
    del state["ema"]
    path = tmp_path / "no-ema.pt"
    torch.save(state, path)
    for message in (via_checkpoint_store(path, tmp_path), via_system_option(path, tmp_path)):
        assert f"{path}: not a checkpoint of the harness: missing key(s) 'ema'" in message


def test_a_checkpoint_with_a_tensor_of_another_shape_is_named_and_its_row_is_dagger(tmp_path):
    state = _shipped_state()
    key = next(iter(state["ema"]))
    expected = tuple(state["ema"][key].shape)
    state["ema"][key] = torch.zeros(3, 2)
    path = tmp_path / "reshaped.pt"
    torch.save(state, path)
    message = via_system_option(path, tmp_path)
    assert (
        f"{path}: its 'ema' weights does not fit the model: '{key}' has shape (3, 2), the model expects "
        f"{expected}" in message
    )


def _trained_prior(path):
    from bench.models.training import TrainConfig, train

    torch.manual_seed(0)
    model, config = _tiny_prior()
    settings = TrainConfig(steps=1, batch_size=2, warmup_steps=1, checkpoint_every=1, model=config)
    train(model, torch.randn(4, 80, 64), settings, path, {}, progress=False, log=lambda *_: None)
    return load_torch_file(path)


def test_resuming_from_a_checkpoint_without_its_optimiser_is_named(tmp_path):
    path = tmp_path / "run.pt"
    state = _trained_prior(path)
    del state["optimiser"]
    torch.save(state, path)
    message = via_training_resume(path, tmp_path)
    assert f"{path}: not a training checkpoint: missing key(s) 'optimiser'" in message


def test_resuming_from_a_checkpoint_of_another_shape_is_named(tmp_path):
    path = tmp_path / "run.pt"
    state = _trained_prior(path)
    key = next(iter(state["model"]))
    expected = tuple(state["model"][key].shape)
    state["model"][key] = torch.zeros(5)
    torch.save(state, path)
    message = via_training_resume(path, tmp_path)
    assert (
        f"{path}: its 'model' weights does not fit the model: '{key}' has shape (5,), the model expects "
        f"{expected}" in message
    )


def test_a_resumed_training_checkpoint_loads_as_data():
    """The harness's own training checkpoints (weights, EMA, Adam state, losses) need no allow-listed type."""
    import tempfile
    from pathlib import Path

    from bench.models.training import resume

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.pt"
        _trained_prior(path)
        model, _ = _tiny_prior()
        ema, _ = _tiny_prior()
        step, losses, _ = resume(path, model, ema, torch.optim.Adam(model.parameters()))
        assert step == 1 and len(losses) == 1


def _tiny_dac_state():
    from bench.adapters.dac_codec import import_dac

    try:
        dac = import_dac()
    except ImportError as error:
        pytest.skip(f"descript-audio-codec does not import here: {error}")
    torch.manual_seed(0)
    model = dac.DAC(
        encoder_dim=4,
        encoder_rates=[8, 8, 8],
        latent_dim=16,
        decoder_dim=16,
        decoder_rates=[8, 8, 8],
        n_codebooks=3,
        codebook_size=32,
        codebook_dim=4,
        sample_rate=44100,
    )
    return model, {
        "state_dict": model.state_dict(),
        "metadata": {
            "kwargs": {
                "encoder_dim": 4,
                "encoder_rates": [8, 8, 8],
                "latent_dim": 16,
                "decoder_dim": 16,
                "decoder_rates": [8, 8, 8],
                "n_codebooks": 3,
                "codebook_size": 32,
                "codebook_dim": 4,
                "sample_rate": 44100,
            }
        },
    }


def test_dac_weights_load_as_data_and_build_the_same_model(tmp_path):
    model, _ = _tiny_dac_state()
    path = tmp_path / "weights.pth"
    model.save(str(path), package=False)  # descript-audio-codec's own weights format
    from bench.adapters.dac_codec import load_dac

    loaded = load_dac(path)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name


def test_dac_weights_without_their_metadata_or_of_another_shape_are_named(tmp_path):
    _, state = _tiny_dac_state()
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": state["state_dict"]}, path)
    assert f"{path}: not a DAC weights file: missing key(s) 'metadata'" in via_dac(path, tmp_path)
    key = next(iter(state["state_dict"]))
    expected = tuple(state["state_dict"][key].shape)
    state["state_dict"][key] = torch.zeros(7)
    torch.save(state, path)
    assert f"'{key}' has shape (7,), the model expects {expected}" in via_dac(path, tmp_path)


def test_vggish_weights_of_another_shape_are_named(tmp_path):
    pytest.importorskip("torchvggish")
    from torchvggish import torchvggish

    state = torchvggish.VGG(torchvggish.make_layers(), postprocess=False).state_dict()
    key = next(iter(state))
    state[key] = torch.zeros(2, 2)
    path = tmp_path / "vggish.pth"
    torch.save(state, path)
    message = via_vggish(path, tmp_path)
    assert f"{path}: its weights does not fit the model: '{key}' has shape (2, 2)" in message


def test_bigvgan_weights_without_the_generator_key_are_named(tmp_path):
    path = tmp_path / "generator.pt"
    torch.save({"discriminator": {}}, path)
    assert "not a BigVGAN weights file: missing key(s) 'generator'" in via_bigvgan(path, tmp_path)


# ---- a run with nothing to run ------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One feature cache for the command-line runs below (the second reuses the first's features;
    4-7 s each on 2 CPU cores once the fixtures' features are cached, so not marked slow)."""
    return tmp_path_factory.mktemp("cache")


def _table1(tmp_path, cache, *arguments):
    env = {
        **os.environ,
        "BENCH_RUNS_DIR": str(tmp_path / "runs"),
        "HOME": str(tmp_path / "home"),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "bench",
        "table1",
        "--scale",
        "smoke",
        "--data",
        str(FIXTURES),
        "--cache",
        str(cache / "features"),
        "--data-cache",
        str(cache / "data"),
        "--no-progress",
        *arguments,
    ]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)


def test_a_run_where_no_row_can_run_prints_its_table_writes_its_records_and_exits_3(tmp_path, shared_cache):
    from bench.reports.results import load

    run = _table1(tmp_path, shared_cache, "--systems", "dac")  # HOME is empty: no DAC weights anywhere
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr
    assert "| dac † |" in run.stdout
    assert "`dac` not run: no DAC weights" in run.stdout
    assert "(fix: copy weights_44khz_8kbps_0.0.1.pth" in run.stdout
    assert "no row produced a figure" in run.stderr
    folder = tmp_path / "runs" / "smoke-seed0-audio-dac"
    for name in ("table1.json", "table1.md", "table1.csv", "table1_bands.csv", "table1_items.csv"):
        assert (folder / name).is_file(), name
    results = load(folder / "table1.json")
    assert list(results.table.index) == ["dac"] and results.bands.empty and results.items.empty
    assert json.loads((folder / "table1.json").read_text())["unavailable"]["dac"]["fix"]


def test_a_hostile_checkpoint_on_the_command_line_creates_nothing_and_its_row_is_dagger(
    tmp_path, shared_cache
):
    marker = tmp_path / "created"
    path = write_hostile(tmp_path / "evil.pt", marker)
    run = _table1(
        tmp_path,
        shared_cache,
        "--systems",
        "latentft-mlp",
        "--system-option",
        f"latentft-mlp.checkpoint={path}",
    )
    assert not marker.exists()
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr
    assert "| latentft-mlp † |" in run.stdout
    assert f"{path}: refused: the checkpoint asks for io.open" in run.stdout


# ---- three messages ---------------------------------------------------------------------------


def _commands(parser) -> dict:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_table1_and_data_accept_every_scale():
    from bench.commands.cli import build_parser

    parser = build_parser()
    for scale in SCALES:
        assert parser.parse_args(["table1", "--scale", scale]).scale == scale
        assert parser.parse_args(["data", "--scale", scale]).scale == scale
    assert "small" in SCALES


def test_the_top_level_help_lists_every_command_and_no_partial_list():
    from bench.commands.cli import build_parser

    parser = build_parser()
    commands = _commands(parser)
    text = parser.format_help()
    assert len(commands) >= 18
    for name in commands:
        assert re.search(rf"^    {re.escape(name)}(\s|$)", text, re.M), f"{name} is not listed in --help"
    for listed in re.findall(r"\{([\w,-]+)\}", text):  # a brace list shown anywhere names every command
        assert set(listed.split(",")) == set(commands), listed
    assert f"{len(commands)} commands" in text


def test_the_fix_line_of_weights_that_are_not_shipped_says_to_train_them(tmp_path, monkeypatch):
    from bench.experiments.model_reports import find_checkpoint

    monkeypatch.setattr(store, "TRAINED_DIR", tmp_path / "trained")  # nothing trained here
    store._load_cached.cache_clear()
    for name in ("latentft-mlp-no-mask", "latentft-mlp-band-pass"):
        fix = system_status(name, {}).availability.fix
        assert f"make train SYSTEM={name} CONFIG=tiny" in fix
        assert f"python -m bench train --system {name}" in fix
        assert "git checkout" not in fix and "restore" not in fix
    # a shipped file that is listed but gone: restoring it is the fix
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / "manifest.json").write_text(json.dumps({"weights": {"msdae-tiny.pt": {}}}))
    monkeypatch.setattr(store, "SHIPPED_DIR", tmp_path / "shipped")
    monkeypatch.setattr(store, "MANIFEST", tmp_path / "shipped" / "manifest.json")
    assert "git checkout" in find_checkpoint("msdae", {})[1]["fix"]
    assert "git checkout" not in find_checkpoint("hdae", {})[1]["fix"]
