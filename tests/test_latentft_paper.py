"""The paper configs are the reference architecture (../shared/latentft-reference/architecture_manifest.json,
made from the reference's own classes on the meta device), and the options added for them leave the
tiny networks as they were."""

import io
import json
import math
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch

from bench.models.reference_checkpoint import first_mismatch, harness_key
from bench.models.trainable import TRAINABLE

MANIFEST = Path("/work/shared/latentft-reference/architecture_manifest.json")
FIXTURE = Path(__file__).parent / "fixtures" / "latentft_reference_manifest.json"


def _manifest() -> dict:
    # the shared fixture when this machine has it, else the copy committed with the tests
    return json.loads((MANIFEST if MANIFEST.is_file() else FIXTURE).read_text())["modules"]


def _paper(system: str):
    make, build = TRAINABLE[system]
    with torch.device("meta"):
        return build(make()["paper"].model)


@pytest.mark.parametrize(
    "reference, system, module",
    [
        ("encoder_mlp", "latentft-mlp", "encoder"),
        ("encoder_unet", "latentft-unet", "encoder"),
        ("decoder", "latentft-mlp", "decoder"),
        ("unconditional", "uncond", "network"),
    ],
)
def test_paper_modules_are_the_reference_modules(reference, system, module):
    entry = _manifest()[reference]
    expected = {harness_key(key): shape for key, shape in entry["tensors"].items()}
    ours = getattr(_paper(system), module)
    got = {key: list(t.shape) for key, t in ours.state_dict().items()}
    assert first_mismatch(expected, got) is None
    assert list(got) == list(expected)  # the same order too
    assert sum(p.numel() for p in ours.parameters()) == entry["parameters"]


def test_first_mismatch_names_the_key_and_both_shapes():
    assert "b: the checkpoint's shape is [3], the model's [2]" in first_mismatch(
        {"a": (1,), "b": (2,)}, {"a": (1,), "b": (3,)}
    )
    assert "c (shape [1]) is missing" in first_mismatch({"c": (1,)}, {})
    assert "the checkpoint has d" in first_mismatch({}, {"d": (1,)})


def test_key_mapping_drops_the_reference_wrappers():
    assert harness_key("dec.512_block0.conv0.conv.weight") == "dec.512_block0.conv0.weight"
    assert harness_key("residual_blocks.0.norm0.gn.bias") == "residual_blocks.0.norm0.bias"
    assert harness_key("emb_network.linear0.linear.weight") == "emb_network.linear0.weight"
    assert harness_key("net.enc.512_conv0.conv.weight") == "network.enc.512_conv0.weight"
    assert harness_key("_orig_mod.in_conv.weight") == "in_conv.weight"


def test_summary_json_lists_every_module_on_the_meta_device():
    from bench.commands.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["train", "--system", "latentft-mlp", "--config", "paper", "--summary", "--json"]) == 0
    modules = json.loads(out.getvalue())["modules"]
    manifest = _manifest()
    for ours, reference in (("encoder", "encoder_mlp"), ("decoder", "decoder")):
        assert modules[ours]["parameters"] == manifest[reference]["parameters"]
        assert modules[ours]["tensors"] == {
            harness_key(k): v for k, v in manifest[reference]["tensors"].items()
        }


def test_paper_recipe_is_the_reference_recipe():
    from bench.models.training import learning_rate

    config = TRAINABLE["latentft-mlp"][0]()["paper"]
    assert (config.steps, config.batch_size, config.lr, config.ema_decay, config.grad_clip) == (
        700_000,
        1024,
        1e-4,
        0.999,
        1.0,
    )
    model = config.model
    assert (model.cond_dropout, model.mask_scores, model.clamp_output) == (0.0, "columns", False)
    assert learning_rate(config, 0) == pytest.approx(1e-6)  # LinearLR start_factor 0.01
    assert learning_rate(config, 2000) == pytest.approx(0.505e-4)
    assert learning_rate(config, 4000) == learning_rate(config, 349_999) == pytest.approx(1e-4)
    assert learning_rate(config, 350_000 + 175_000) == pytest.approx(0.5e-4)  # cosine annealing
    assert learning_rate(config, 699_999) == pytest.approx(
        1e-4 * 0.5 * (1 + math.cos(math.pi * 349_999 / 350_000))
    )
    tiny = TRAINABLE["latentft-mlp"][0]()["tiny"]
    assert [learning_rate(tiny, k) for k in (0, 99, 199, 5000)] == [
        tiny.lr * min(1.0, (k + 1) / 200) for k in (0, 99, 199, 5000)
    ]


def test_tiny_configs_keep_their_networks_and_deviations():
    from bench.models.checkpoint_store import load_state, shipped_path
    from bench.models.latentft import LatentFT, LatentFTConfig

    tiny = TRAINABLE["latentft-mlp"][0]()["tiny"].model
    assert (tiny.architecture, tiny.cond_dropout, tiny.mask_scores, tiny.clamp_output) == (
        "tiny",
        0.1,
        "rows",
        True,
    )
    state = load_state(shipped_path("latentft-mlp", "tiny"))
    model = LatentFT(LatentFTConfig.from_dict(state["config"]["model"]))
    model.load_state_dict(state["ema"])  # strict: the same keys and shapes as when it was shipped


def test_attention_option_adds_modules_that_start_as_the_identity():
    from bench.models.unet1d import UNet1D

    torch.manual_seed(0)
    plain = UNet1D(96, 80, base=16, mults=(1, 2), blocks=1)
    attended = UNet1D(96, 80, base=16, mults=(1, 2), blocks=1, attention=(1,))
    extra = set(attended.state_dict()) - set(plain.state_dict())
    assert extra and all(key.startswith("attend.") for key in extra)
    attended.load_state_dict(plain.state_dict(), strict=False)
    torch.nn.init.normal_(attended.out[-1].weight)
    plain.out[-1].weight.data.copy_(attended.out[-1].weight)
    x, c = torch.randn(2, 96, 32), torch.tensor([0.1, -0.3])
    torch.testing.assert_close(attended.train()(x, c), plain.train()(x, c))


def test_mask_scores_columns_have_unit_variance_rows_do_not():
    from bench.models.frequency_mask import correlation_kernel, sample_training_masks

    kernel = torch.as_tensor(correlation_kernel())
    torch.testing.assert_close((kernel**2).sum(0), torch.ones(kernel.shape[1], dtype=kernel.dtype))
    rows = (kernel**2).sum(1)
    assert 0.75 < rows.min() < 0.85 and 1.05 < rows.max() < 1.15
    a = sample_training_masks(8, torch.Generator().manual_seed(3), scores="columns")
    g = torch.Generator().manual_seed(3)
    e = torch.randn(8, kernel.shape[0], generator=g)
    expected = (e @ kernel.float() > torch.randn(8, 1, generator=g)).float()
    torch.testing.assert_close(a, expected)
    with pytest.raises(ValueError, match="rows or columns"):
        sample_training_masks(1, g, scores="diagonal")


def test_a_small_paper_architecture_trains_and_samples_unclamped(tmp_path):
    from bench.models.edm import SamplerConfig
    from bench.models.latentft import LatentFT, LatentFTConfig
    from bench.models.training import TrainConfig, train

    config = LatentFTConfig(
        architecture="paper",
        latent_channels=8,
        encoder_hidden=32,
        encoder_blocks=2,
        decoder_base=16,
        decoder_mults=(1, 2),
        decoder_blocks=1,
        attention_at=(32,),
        resolution=64,
        cond_dropout=0.0,
        mask_scores="columns",
        clamp_output=False,
    )
    torch.manual_seed(0)
    mels = torch.tanh(torch.randn(4, 80, 64))
    summary = train(
        LatentFT(config),
        mels,
        TrainConfig(steps=2, batch_size=2, checkpoint_every=2, model=config),
        tmp_path / "paper.pt",
        {"dataset": "random"},
        progress=False,
        log=lambda *_: None,
    )
    assert math.isfinite(summary["final_loss"])
    model = LatentFT(config).eval()
    for p in model.decoder.dec["64_outconv"].parameters():
        torch.nn.init.normal_(p, std=5.0)  # outputs well outside [-1, 1]
    latent = model.encode(mels[:1])
    sample = model.generate([latent], [1.0], [0], SamplerConfig(steps=2), 64)
    assert sample.abs().max() > 1.0  # the reference does not clamp
