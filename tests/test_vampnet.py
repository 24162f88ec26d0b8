"""VampNet's native port (bench/adapters/vampnet/, systems/vampnet.py) against the official code's
outputs on tiny random-weight models (a fixture folder: ``VAMPNET_GOLDEN`` or ../shared/vampnet-golden,
described by its settings.json), the full-size layout, and its invariants."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from support.paths import ROOT

from bench.adapters.vampnet import checkpoint as ckpt
from bench.adapters.vampnet.codec import LAC
from bench.adapters.vampnet.sampling import Schedule, generate, masked_counts
from bench.adapters.vampnet.transformer import VampNetModel

GOLDEN = Path(os.environ.get("VAMPNET_GOLDEN") or (ROOT.parent / "shared" / "vampnet-golden")).resolve()


@pytest.fixture(scope="module")
def golden():
    settings_file = GOLDEN / "settings.json"
    if not settings_file.is_file():
        pytest.skip(f"no VampNet fixture folder at {GOLDEN} (set VAMPNET_GOLDEN to one with a settings.json)")
    return json.loads(settings_file.read_text())


@pytest.fixture(scope="module")
def pipe(golden):
    from bench.adapters.vampnet.pipeline import VampNet

    files = golden["checkpoints"]
    return VampNet.load(*(GOLDEN / files[k] for k in ("codec", "coarse", "c2f")))


def _load(name):
    return torch.load(GOLDEN / name, map_location="cpu", weights_only=True)


def test_coarse_logits_equal_the_official_forward(golden, pipe):
    expected = _load(golden["forward"]["file"])
    with torch.no_grad():
        logits = pipe.coarse(pipe.coarse.embedding.vectors(expected["z"], pipe.codebooks))
    assert logits.shape == expected["logits"].shape
    torch.testing.assert_close(logits, expected["logits"], rtol=0, atol=1e-5)


def test_generation_equals_the_official_tokens_and_audio(golden, pipe):
    from bench.adapters.vampnet.pipeline import keep_mask

    gen, iface = golden["generation"], golden["interface"]
    expected = _load(gen["file"])
    assert gen.get("typical_filtering", True), "the port reproduces the official typical_filtering=True call"
    codes = pipe.encode(expected["input"], 22050)
    torch.testing.assert_close(codes, expected["codes"], rtol=0, atol=0)
    batch = gen["batch_size"]
    assert codes.shape[0] == batch
    lo, hi = gen["keep_codebooks"]
    schedule = Schedule(
        temperature=gen["temperature"],
        coarse_chunk_s=iface["coarse_chunk_size_s"],
        c2f_chunk_s=iface["coarse2fine_chunk_size_s"],
        reference_batch=batch,
    )
    generator = torch.Generator().manual_seed(gen["torch_manual_seed"])
    tokens = pipe.vamp(codes, keep_mask(codes, [(lo, hi)]), schedule, generator)
    assert torch.equal(tokens, expected["tokens"]), (
        f"{(tokens != expected['tokens']).float().mean():.4f} differ"
    )
    audio = pipe.decode(tokens, expected["input"].shape[-1])
    torch.testing.assert_close(audio, expected["audio"], rtol=1e-5, atol=1e-5)


def _meta_model(kwargs):
    with torch.device("meta"):
        return ckpt.build_transformer({**kwargs, "latent_dim": 8, "embedding_dim": 1280, "vocab_size": 1024})


@pytest.mark.parametrize("name,values", [("coarse", 335_893_664), ("c2f", 277_753_072)])
def test_full_size_models_have_the_official_keys_and_shapes(golden, name, values):
    manifest = json.loads((GOLDEN / "vampnet_state_dict_manifest.json").read_text())[name]
    layout = ckpt.official_layout(_meta_model(manifest["kwargs"]))
    expected = {k: tuple(v) for k, v in manifest["tensors"].items()}
    assert sorted(set(layout) ^ set(expected)) == []
    assert {k: v for k, v in layout.items() if expected[k] != v} == {}
    assert sum(int(np.prod(s)) for s in layout.values()) == values


# ---- invariants on small random models -------------------------------------------------------------


def _tiny(n_codebooks=3, n_cond=0, seed=0):
    torch.manual_seed(seed)
    model = VampNetModel(
        n_heads=2,
        n_layers=2,
        n_codebooks=n_codebooks,
        n_conditioning_codebooks=n_cond,
        latent_dim=4,
        embedding_dim=16,
        vocab_size=10,
    ).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return model


def _books(n=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(10, 4, generator=g) for _ in range(n)]


def test_kept_codebooks_are_unchanged_and_no_mask_is_left():
    model, books = _tiny(3, 1), _books()
    z = torch.randint(0, 10, (1, 3, 23), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(z)
    mask[:, :2] = 0  # codebook 0 conditions (c2f-style), 1 kept, 2 regenerated
    out = generate(model, books, z, mask, 5, torch.Generator().manual_seed(0))
    assert torch.equal(out[:, :2], z[:, :2])
    assert int((out == model.mask_token).sum()) == 0 and int(out.max()) < 10


@pytest.mark.parametrize("reference_batch", [None, 128])
def test_per_step_masked_counts_follow_the_schedule(reference_batch):
    model, books = _tiny(2), _books(2)
    z = torch.randint(0, 10, (1, 2, 40), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(z)
    trace = []
    generate(
        model,
        books,
        z,
        mask,
        12,
        torch.Generator().manual_seed(0),
        reference_batch=reference_batch,
        trace=trace,
    )
    expected = masked_counts(torch.tensor([80]), 12, reference_batch)
    assert trace == expected
    if reference_batch is None:
        assert trace[0] == [79] and trace[5] == [int(np.floor(np.cos(np.pi * 6 / 24) * 80))]
    else:  # the paper's batch of 128: one token unmasked per step, the rest at the last step
        assert [t[0] for t in trace] == list(range(79, 68, -1)) + [0]


def test_a_batch_of_n_with_reference_batch_n_is_the_official_batch_sum():
    model, books = _tiny(2), _books(2)
    z = torch.randint(0, 10, (3, 2, 30), generator=torch.Generator().manual_seed(4))
    mask = torch.ones_like(z)
    trace = []
    generate(model, books, z, mask, 12, torch.Generator().manual_seed(0), reference_batch=3, trace=trace)
    assert trace == [[c[0]] * 3 for c in masked_counts(torch.tensor([60]), 12, 3)]


def test_folded_lora_and_weight_norm_equal_the_unfolded_forward():
    torch.manual_seed(0)
    model = _tiny(2)
    state = {}
    for name, sub in model.named_modules():
        prefix = f"{name}." if name else ""
        for key, value in list(sub.named_parameters(recurse=False)):
            if key == "weight" and getattr(sub, "weight_normed", False):
                state[prefix + "weight_v"] = value.detach().clone()
                state[prefix + "weight_g"] = torch.rand(value.shape[0], 1, 1) + 0.5
            else:
                state[prefix + key] = value.detach().clone()
            if key == "weight" and hasattr(sub, "lora_r"):
                state[prefix + "lora_A"] = torch.randn(sub.lora_r, value.shape[1])
                state[prefix + "lora_B"] = torch.randn(value.shape[0], sub.lora_r)
    folded = _tiny(2)
    folded.load_state_dict(ckpt.fold(folded, state, "test"))
    x = torch.randn(1, 8, 7)

    def unfolded_hooks(module):  # y = x W^T + (x A^T B^T) / r, conv weight g v / ||v||
        handles = []
        for name, sub in module.named_modules():
            prefix = f"{name}." if name else ""
            if hasattr(sub, "lora_r"):
                a, b = state[prefix + "lora_A"], state[prefix + "lora_B"]
                handles.append(
                    sub.register_forward_hook(
                        lambda m, i, o, a=a, b=b: o + (i[0] @ a.t() @ b.t()) * (1.0 / m.lora_r)
                    )
                )
            if getattr(sub, "weight_normed", False):
                v, g = state[prefix + "weight_v"], state[prefix + "weight_g"]
                sub.weight.data = g * v / v.norm(dim=(1, 2), keepdim=True)
        return handles

    plain = _tiny(2)
    plain.load_state_dict({k: v for k, v in state.items() if k in plain.state_dict()}, strict=False)
    unfolded_hooks(plain)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), plain(x), rtol=1e-5, atol=1e-5)
    state.pop("transformer.layers.0.self_attn.w_qs.lora_A")
    with pytest.raises(ckpt.CheckpointError, match="lora_A and lora_B"):
        ckpt.fold(_tiny(2), state, "test")


def test_odd_strides_drop_an_encoder_frame_and_add_a_decoded_sample():
    torch.manual_seed(0)
    codec = LAC(
        encoder_dim=2,
        encoder_rates=[3],
        decoder_dim=4,
        decoder_rates=[3],
        n_codebooks=2,
        codebook_size=8,
        codebook_dim=2,
    ).eval()
    with torch.no_grad():
        z = codec.encoder(torch.randn(1, 1, 30))
        assert z.shape[-1] == 30 // 3 - 1  # (30 + 2 * 1 - 6) // 3 + 1
        assert codec.decode_z(z).shape[-1] == 9 * 3 + 1  # (9 - 1) * 3 - 2 * 1 + 6
    even = LAC(
        encoder_dim=2,
        encoder_rates=[2],
        decoder_dim=4,
        decoder_rates=[2],
        n_codebooks=2,
        codebook_size=8,
        codebook_dim=2,
    ).eval()
    with torch.no_grad():
        assert even.decode_z(even.encoder(torch.randn(1, 1, 30))).shape[-1] == 30


def test_checkpoints_are_checked_strictly(tmp_path):
    model = _tiny(2)
    state = {k: v for k, v in ckpt_state(model).items()}
    good = tmp_path / "m.pth"
    kwargs = dict(
        n_heads=2,
        n_layers=2,
        n_codebooks=2,
        n_conditioning_codebooks=0,
        latent_dim=4,
        embedding_dim=16,
        vocab_size=10,
        flash_attn=False,
        dropout=0.1,
    )
    torch.save(
        {"state_dict": {f"_orig_mod.{k}": v for k, v in state.items()}, "metadata": {"kwargs": kwargs}}, good
    )
    ckpt.load_transformer(good)  # prefixes stripped, absent LoRA counted as zero
    for change, message in (
        (dict(flash_attn=True), "flash_attn=True is not implemented"),
        (dict(ctrl_dims={"rms": 1}), "ctrl_dims"),
        (dict(new_thing=1), "new_thing"),
    ):
        path = tmp_path / "bad.pth"
        torch.save({"state_dict": state, "metadata": {"kwargs": {**kwargs, **change}}}, path)
        with pytest.raises(ckpt.CheckpointError, match=message):
            ckpt.load_transformer(path)
    broken = dict(state)
    broken["transformer.norm.weight"] = torch.zeros(3)
    torch.save({"state_dict": broken, "metadata": {"kwargs": kwargs}}, tmp_path / "shape.pth")
    with pytest.raises(ckpt.CheckpointError, match=r"transformer.norm.weight has shape \(3,\)"):
        ckpt.load_transformer(tmp_path / "shape.pth")
    del broken["transformer.norm.weight"]
    torch.save({"state_dict": broken, "metadata": {"kwargs": kwargs}}, tmp_path / "missing.pth")
    with pytest.raises(ckpt.CheckpointError, match="missing 1 tensor"):
        ckpt.load_transformer(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ckpt.CheckpointError, match="junk.pth"):
        ckpt.load_transformer(tmp_path / "junk.pth")


def ckpt_state(model):
    """An official-format state_dict (weight_g / weight_v, no LoRA tensors) of ``model``."""
    state = {}
    for name, sub in model.named_modules():
        prefix = f"{name}." if name else ""
        for key, value in sub.named_parameters(recurse=False):
            if key == "weight" and getattr(sub, "weight_normed", False):
                state[prefix + "weight_v"] = value.detach().clone()
                state[prefix + "weight_g"] = value.detach().flatten(1).norm(dim=1).reshape(-1, 1, 1)
            else:
                state[prefix + key] = value.detach().clone()
    return state


# ---- the system and the command, with the fixture's tiny checkpoints passed as a user would ----------


def _options(golden):
    files = golden["checkpoints"]
    return {k: str(GOLDEN / files[k]) for k in ("codec", "coarse", "c2f")} | {
        "coarse_chunk_s": "1.0",
        "c2f_chunk_s": "0.5",
    }


def test_without_weights_the_row_says_which_files_and_where(tmp_path):
    from bench.core.registry import system_status

    status = system_status("vampnet", {})
    assert not status.availability.ok
    assert "codec.pth, coarse.pth, c2f.pth" in status.availability.reason
    for text in ("hugggof/vampnet", "8136629", "CC BY-NC-SA 4.0", "--system-option vampnet.coarse="):
        assert text in status.availability.fix
    missing = system_status("vampnet", {"codec": str(tmp_path / "codec.pth"), "coarse": "x", "c2f": "y"})
    assert "not found" in missing.availability.reason


def test_band_to_codebook_mapping():
    from bench.core.bands import BLEND_PAIRS, CONDITIONAL_BANDS
    from bench.systems.vampnet import blend_setting, conditional_setting

    assert [conditional_setting(b, "paper") for b in CONDITIONAL_BANDS[:6]] == [
        (0, 2),
        (2, 4),
        (0, 1),
        (1, 2),
        (2, 3),
        (3, 4),
    ]
    with pytest.raises(ValueError, match="no codebook setting"):
        conditional_setting(CONDITIONAL_BANDS[6], "paper")
    assert [conditional_setting(b, "levels") for b in CONDITIONAL_BANDS] == [(i, i + 1) for i in range(14)]
    assert [(blend_setting(a), blend_setting(b)) for a, b in BLEND_PAIRS] == [
        ((0, 1), (1, 2)),
        ((0, 1), (2, 3)),
        ((0, 1), (3, 4)),
        ((1, 2), (2, 3)),
        ((1, 2), (3, 4)),
        ((2, 3), (3, 4)),
    ]


@pytest.mark.slow
def test_smoke_table_fills_the_vampnet_row(golden, tmp_path):
    from support.paths import FIXTURES

    from bench.core.config import RunConfig
    from bench.core.runner import run_table1

    config = RunConfig(
        scale="smoke",
        data=str(FIXTURES),
        systems=("vampnet",),
        cache_dir=str(tmp_path / "cache"),
        data_cache_dir=str(tmp_path / "data"),
        out_dir=str(tmp_path / "out"),
        progress=False,
        system_options={"vampnet": _options(golden)},
    )
    record = run_table1(config)
    tasks = record["rows"]["vampnet"]["tasks"]
    blend = tasks["blend"]["summary"]
    assert blend["n_ok"] > 0 and blend["n_failed"] == 0 and blend["fad"] is not None
    conditional = tasks["conditional"]
    assert conditional["summary"]["n_ok"] == 6 * 3 and conditional["summary"]["fad"] is not None
    assert conditional["summary"]["n_failed"] == 8 * 3  # the 8-band split: no setting in the reference
    assert all("no codebook setting" in f["reason"] for f in conditional["failures"])


def test_the_system_keeps_the_length_and_is_batch_independent(golden, fixture_clips):
    from bench.core.bands import CONDITIONAL_BANDS
    from bench.core.registry import get_system_class
    from bench.core.system import ConditionalBatch, RunContext

    clips = np.stack([c[:22050] for c in fixture_clips[:2]])
    system = get_system_class("vampnet")(RunContext(clips, ["a", "b"], system_options=_options(golden)))
    pair = system.conditional(ConditionalBatch(clips, [CONDITIONAL_BANDS[2]] * 2, [5, 6]))
    alone = system.conditional(ConditionalBatch(clips[1:], [CONDITIONAL_BANDS[2]], [6]))
    assert pair.shape == (2, 22050) and np.all(np.isfinite(pair))
    np.testing.assert_array_equal(pair[1], alone[0])
    assert not np.array_equal(pair[0], pair[1])
    assert set(system.fingerprint()["weights_sha256"]) == {"codec", "coarse", "c2f"}


def test_vamp_command_writes_the_input_length(golden, tmp_path, fixture_clips):
    import soundfile

    from bench.commands.cli import main

    source = tmp_path / "in.wav"
    soundfile.write(source, fixture_clips[0][:16000], 22050)
    out = tmp_path / "out.wav"
    files = golden["checkpoints"]
    code = main(
        [
            "vamp",
            str(source),
            "--codec",
            str(GOLDEN / files["codec"]),
            "--coarse",
            str(GOLDEN / files["coarse"]),
            "--c2f",
            str(GOLDEN / files["c2f"]),
            "--keep-codebooks",
            "0:1",
            "--seed",
            "0",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    audio, rate = soundfile.read(out)
    assert rate == 22050 and audio.shape == (16000,)
    assert (
        main(
            [
                "vamp",
                str(source),
                "--codec",
                str(GOLDEN / files["codec"]),
                "--coarse",
                "nope.pth",
                "--c2f",
                "nope.pth",
                "--out",
                str(out),
            ]
        )
        == 2
    )
