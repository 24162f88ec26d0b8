"""Typed system options, hooks and the typed registries (bench/core/system.py, bench/core/registry.py)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import ROOT

from bench.core.registry import (
    EMBEDDERS,
    SYSTEMS,
    UnknownNameError,
    UnknownSystemError,
    check_system_names,
    get_system_class,
    make_embedder,
    make_vocoder,
    register,
)
from bench.core.system import (
    BLEND,
    CONDITIONAL,
    Needs,
    OptionError,
    RunContext,
    System,
    WeightFile,
    validate_options,
)


class Typed(System):
    name = "typed-options"

    @dataclass(frozen=True)
    class Options:
        count: int = 3
        gain: float = 0.5
        label: str = "x"
        enabled: bool = False
        path: str | None = None

        def __post_init__(self):
            if self.count < 0:
                raise ValueError(f"count must be >= 0, not {self.count}")

    def conditional(self, batch):
        return batch.references


def test_strings_from_the_command_line_become_typed_values():
    options = validate_options(
        Typed, {"count": "7", "gain": "2", "label": "y", "enabled": "yes", "path": "none"}
    )
    assert options == Typed.Options(count=7, gain=2.0, label="y", enabled=True, path=None)
    assert type(options.gain) is float and type(options.count) is int
    assert validate_options(Typed, {"count": 7, "enabled": False}) == Typed.Options(count=7)
    assert validate_options(Typed, None) == Typed.Options()


@pytest.mark.parametrize(
    "raw, words",
    [
        (
            {"cont": "1"},
            ["unknown option(s) cont", "count (int, default 3)", "path (str or none, default None)"],
        ),
        ({"count": "1.5"}, ["typed-options.count='1.5'", "expected int"]),
        ({"enabled": "maybe"}, ["expected bool", "true or false"]),
        ({"count": "-1"}, ["count must be >= 0, not -1"]),
    ],
)
def test_unknown_keys_and_bad_values_are_refused_naming_the_valid_options(raw, words):
    with pytest.raises(OptionError) as error:
        validate_options(Typed, raw)
    for word in words:
        assert word in str(error.value)


def test_the_fingerprint_holds_the_validated_options_not_the_spelling():
    context = RunContext(np.zeros((1, 8)), ["a"])
    as_text = Typed(dataclasses.replace(context, options={"count": "3", "gain": "0.50"})).fingerprint()
    as_default = Typed(context).fingerprint()
    assert as_text["options"] == as_default["options"] == dataclasses.asdict(Typed.Options())
    changed = Typed(dataclasses.replace(context, options={"count": "4"})).fingerprint()
    assert changed["options"]["count"] == 4 and changed != as_default


def test_capabilities_follow_from_the_hooks_a_class_implements():
    class Both(Typed):
        def blend(self, batch):
            return batch.references1

    assert Typed.capabilities == frozenset({CONDITIONAL})
    assert Both.capabilities == frozenset({CONDITIONAL, BLEND})
    assert get_system_class("cross-synthesis").capabilities == frozenset({BLEND})
    with pytest.raises(NotImplementedError, match="typed-options does not do blending"):
        Typed(RunContext(np.zeros((1, 8)), ["a"])).blend(None)


def test_load_runs_once_and_its_result_is_kept():
    calls = []

    class Heavy(Typed):
        def load(self):
            calls.append(1)
            return {"model": len(calls)}

    system = Heavy(RunContext(np.zeros((1, 8)), ["a"]))
    assert system.loaded == {"model": 1} and system.loaded is system.loaded and calls == [1]


def test_declared_weight_files_are_checked(tmp_path):
    class Weighted(Typed):
        needs = Needs(weights=(WeightFile("path", "model export"),))

    missing = Weighted.availability({})
    assert not missing.ok and missing.reason == "no model export given"
    assert missing.fix == "pass --system-option typed-options.path=/path"
    absent = Weighted.availability({"path": str(tmp_path / "nowhere.ts")})
    assert not absent.ok and absent.reason == f"model export not found: {tmp_path / 'nowhere.ts'}"
    (tmp_path / "model.ts").write_bytes(b"x")
    assert Weighted.availability({"path": str(tmp_path / "model.ts")}).ok


def test_the_run_checks_every_option_before_any_work():
    with pytest.raises(UnknownSystemError) as error:
        check_system_names(
            ["cross-synthesis", "latentft-mlp"],
            {"cross-synthesis": {"carier": "2"}, "latentft-mlp": {"cfg": "high"}},
        )
    message = str(error.value)
    assert (
        "cross-synthesis: unknown option(s) carier; valid options of cross-synthesis: carrier (int, default 1)"
        in message
    )
    assert "latentft-mlp.cfg='high': expected float" in message
    check_system_names(["cross-synthesis"], {"cross-synthesis": {"carrier": "2"}})


@pytest.mark.slow
def test_the_command_refuses_a_misspelt_option_with_the_valid_keys(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "table1",
            "--scale",
            "smoke",
            "--systems",
            "cross-synthesis",
            "--system-option",
            "cross-synthesis.carier=2",
            "--out",
            str(tmp_path / "out"),
            "--cache",
            str(tmp_path / "cache"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert (
        "unknown option(s) carier; valid options of cross-synthesis: carrier (int, default 1)"
        in run.stderr + run.stdout
    )
    assert "Traceback" not in run.stderr and not (tmp_path / "out").exists()


def test_registries_load_lazy_entries_and_suggest_close_names():
    assert EMBEDDERS.load("melstats").__module__ == "bench.adapters.embedders"
    assert make_embedder("melstats").id == make_embedder("melstats").id
    assert make_vocoder("griffin-lim:4").n_iter == 4
    with pytest.raises(UnknownNameError, match="unknown embedder 'melstat'; did you mean melstats"):
        make_embedder("melstat")
    with pytest.raises(UnknownNameError, match="unknown vocoder 'grifin-lim'; did you mean griffin-lim"):
        make_vocoder("grifin-lim")


def test_isolated_registrations_are_undone():
    before = SYSTEMS.names()
    with SYSTEMS.isolated():
        register(type("Temporary", (Typed,), {"name": "temporary-system"}))
        assert "temporary-system" in SYSTEMS.names()
    assert SYSTEMS.names() == before
