"""Parity with the peer packages on the same arrays.

The values in tests/fixtures/parity/values.json were computed by frechet-audio-distance 0.3.4,
kadtk 1.1.0 and torchmetrics 1.9.0 themselves (scripts/make_parity_fixtures.py, run in a scratch
environment); the arrays they saw are in arrays.npz.
"""

import json

import numpy as np
import pytest
from conftest import ROOT

from bench.metrics.distribution import fad, kad, median_pairwise_distance
from bench.metrics.separation import si_sdr, snr

PARITY = ROOT / "tests" / "fixtures" / "parity"
VALUES = json.loads((PARITY / "values.json").read_text())["values"]
ARRAYS = np.load(PARITY / "arrays.npz")
EMBEDDING_CASES = [k for k, v in VALUES.items() if "fad" in v]
SIGNAL_CASES = [k for k, v in VALUES.items() if "si_sdr" in v]


@pytest.mark.parametrize("case", EMBEDDING_CASES)
def test_fad_matches_frechet_audio_distance(case):
    ours = fad(ARRAYS[f"{case}_eval"], ARRAYS[f"{case}_ref"])
    assert ours == pytest.approx(VALUES[case]["fad"], rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("case", EMBEDDING_CASES)
def test_kad_matches_kadtk_with_either_bandwidth_convention(case):
    x, y, v = ARRAYS[f"{case}_eval"], ARRAYS[f"{case}_ref"], VALUES[case]
    assert kad(x, y, bandwidth=v["bandwidth_reference"]) == pytest.approx(
        v["kad_reference_bandwidth"], rel=1e-6
    )
    assert kad(x, y, bandwidth=v["bandwidth_eval"]) == pytest.approx(v["kad_kadtk_default"], rel=1e-6)


@pytest.mark.parametrize("case", EMBEDDING_CASES)
def test_median_pairwise_distance_agrees_with_kadtk(case):
    # kadtk: float32 and torch's lower median; ours: float64 and the usual median
    ours = median_pairwise_distance(ARRAYS[f"{case}_ref"])
    assert ours == pytest.approx(VALUES[case]["bandwidth_reference"], rel=1e-3)
    assert kad(ARRAYS[f"{case}_eval"], ARRAYS[f"{case}_ref"]) == pytest.approx(
        VALUES[case]["kad_reference_bandwidth"], rel=2e-3, abs=1e-4
    )


@pytest.mark.parametrize("case", SIGNAL_CASES)
def test_si_sdr_and_snr_match_torchmetrics(case):
    estimate, reference = ARRAYS[f"{case}_estimate"], ARRAYS[f"{case}_reference"]
    np.testing.assert_allclose(si_sdr(estimate, reference), VALUES[case]["si_sdr"], atol=1e-6)
    np.testing.assert_allclose(snr(estimate, reference), VALUES[case]["snr"], atol=1e-6)


def test_kad_bandwidth_switch_is_validated():
    with pytest.raises(ValueError, match="bandwidth_from"):
        kad(np.zeros((3, 2)), np.ones((3, 2)), bandwidth_from="both")
