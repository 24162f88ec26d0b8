"""The model tables (table-hdae, table-lincae, table-ablations) write to results/runs/ like
table1; only --publish with every option at its default writes the committed results/ files."""

import pytest

from bench.core.paths import REPO_ROOT


def _parsed(argv):
    from bench.commands.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(argv)
    sub = parser._subparsers._group_actions[0].choices[argv[0]]
    return sub, args


@pytest.mark.parametrize("command", ["table-hdae", "table-lincae", "table-ablations"])
def test_default_run_goes_to_the_runs_folder(command, tmp_path, monkeypatch):
    from bench.reports.model_reports import report_folder

    monkeypatch.setenv("BENCH_RUNS_DIR", str(tmp_path / "runs"))
    assert report_folder(*_parsed([command]), command) == tmp_path / "runs" / command
    assert report_folder(*_parsed([command, "--out", "mine"]), command) == tmp_path / "runs" / "mine"
    assert report_folder(*_parsed([command, "--out", str(tmp_path / "x")]), command) == tmp_path / "x"
    assert report_folder(*_parsed([command, "--publish"]), command) == REPO_ROOT / "results"


@pytest.mark.parametrize(
    "argv, named",
    [
        (["table-hdae", "--publish", "--seed", "1"], "--seed=1"),
        (["table-hdae", "--publish", "--nsynth", "a", "b"], "--nsynth"),
        (["table-lincae", "--publish", "--checkpoint", "lincae=/tmp/x.pt"], "--checkpoint"),
        (["table-ablations", "--publish", "--scale", "smoke"], "--scale='smoke'"),
        (["table-ablations", "--publish", "--out", "mine"], "--out"),
    ],
)
def test_publish_refuses_a_run_that_is_not_the_default(argv, named):
    from bench.reports.model_reports import report_folder

    with pytest.raises(SystemExit) as refused:
        report_folder(*_parsed(argv), argv[0])
    assert named in str(refused.value) and "results/runs/" in str(refused.value)


def test_publish_accepts_the_default_options_spelt_out():
    from bench.reports.model_reports import report_folder

    argv = ["table-hdae", "--publish", "--seed", "0", "--melody-clips", "384", "64", "--embedder", "melstats"]
    sub, args = _parsed(argv)
    assert report_folder(sub, args, "table-hdae") == REPO_ROOT / "results"
