"""Outputs do not depend on the number of CPU threads: ``inline`` runs with all of them, ``local:N``,
Ray and SLURM workers with one (bench/core/executors.py), and the tables must be the same
(models/pointwise_conv.py says where torch's own kernels break this). Every Table 1 system that runs
here generates one conditional and one blended item with 1 and with 2 threads, then the melstats
embedder embeds an output; all compared bit for bit."""

import numpy as np
import pytest
import torch

from bench.core.bands import BLEND_PAIRS, CONDITIONAL_BANDS
from bench.core.config import DEFAULT_SYSTEMS
from bench.core.registry import get_system_class, make_embedder, make_vocoder, system_status
from bench.core.system import BlendBatch, ConditionalBatch, RunContext

pytestmark = pytest.mark.slow  # end to end: every test of this module

RUNNABLE = [name for name in DEFAULT_SYSTEMS if system_status(name, {}).availability.ok]


def _with_threads(threads: int, make):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return make()
    finally:
        torch.set_num_threads(before)


def test_the_default_rows_that_need_our_weights_are_among_those_checked():
    assert {"latentft-mlp", "latentft-unet", "ilvr", "guidance", "spectrogram"} <= set(RUNNABLE)


@pytest.mark.parametrize("name", RUNNABLE)
def test_a_system_generates_the_same_bits_with_one_or_two_threads(name, fixture_clips):
    clips = np.stack(fixture_clips[:3])
    band, (band1, band2) = CONDITIONAL_BANDS[3], BLEND_PAIRS[2]

    def generate():
        system = get_system_class(name)(
            RunContext(clips, ["a", "b", "c"], make_vocoder("griffin-lim:4"), "cpu", {}, 3)
        )
        outputs = []
        if "conditional" in system.capabilities:
            outputs.append(system.conditional(ConditionalBatch(clips[:1], [band], [11], ["a"])))
        if "blend" in system.capabilities:
            outputs.append(
                system.blend(BlendBatch(clips[:1], clips[1:2], [band1], [band2], [12], ["a"], ["b"]))
            )
        return outputs

    one, two = _with_threads(1, generate), _with_threads(2, generate)
    assert one, f"{name} ran no task"
    for a, b in zip(one, two):
        assert a.dtype == b.dtype and np.array_equal(a, b), f"{name}: max difference {np.abs(a - b).max()}"


@pytest.mark.parametrize("name", ["melstats", "melstats-fast"])
def test_the_embedding_is_the_same_with_one_or_two_threads(fixture_clips, name):
    from threadpoolctl import threadpool_limits  # melstats-fast's products run in numpy's BLAS

    embedder = make_embedder(name)
    with threadpool_limits(1):
        one = _with_threads(1, lambda: embedder.embed(fixture_clips[0]))
    with threadpool_limits(2):
        two = _with_threads(2, lambda: embedder.embed(fixture_clips[0]))
    assert one.shape[-1] == 128 and np.array_equal(one, two)


@pytest.mark.parametrize("name", RUNNABLE)
def test_an_item_is_the_same_alone_or_in_a_batch(name, fixture_clips):
    """--batch-size and the unit split must not change an item: each item of a batch of two equals
    that item generated alone."""
    clips = np.stack(fixture_clips[:3])
    bands = [CONDITIONAL_BANDS[3], CONDITIONAL_BANDS[9]]
    system = get_system_class(name)(
        RunContext(clips, ["a", "b", "c"], make_vocoder("griffin-lim:4"), "cpu", {}, 3)
    )
    if "conditional" not in system.capabilities:
        pytest.skip(f"{name} has no conditional task")
    both = system.conditional(ConditionalBatch(clips[:2], bands, [11, 12], ["a", "b"]))
    for i in range(2):
        alone = system.conditional(
            ConditionalBatch(clips[i : i + 1], bands[i : i + 1], [11 + i], [["a", "b"][i]])
        )
        assert np.array_equal(both[i], alone[0]), (
            f"{name} item {i}: max difference {np.abs(both[i] - alone[0]).max()}"
        )
