"""``python -m bench listening build|serve|invite|export|analyze|simulate``; ``python -m
bench.commands.listening ...`` is the same without loading the rest of the harness's command line
(it imports torch)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.listening.errors import StudyError


def cmd_build(args) -> int:
    from bench.listening.build import build_study
    from bench.reports.results import default_run

    systems = [s for s in args.systems.split(",") if s]
    manifest = build_study(
        args.run or default_run(),
        args.out,
        systems,
        args.seed,
        args.cache,
        args.data,
        args.data_cache,
        args.lufs,
    )
    loudness = manifest["loudness"]
    low, high = loudness["output_lufs_range"]
    print(
        f"study {manifest['study_id']} in {args.out}: {len(manifest['questions'])} questions + 1 attention "
        f"check, {len(manifest['stimuli'])} stimuli at {low:.2f} to {high:.2f} LUFS (target {args.lufs})"
    )
    if loudness["peak_limited"]:
        print(
            f"warning: {loudness['peak_limited']} stimuli would peak above "
            f"{loudness['peak_ceiling_dbfs']} dBFS "
            f"at {args.lufs} LUFS and were left quieter; --lufs {loudness['loudest_common_lufs']} puts every "
            "stimulus at one level",
            file=sys.stderr,
        )
    print(f"next: python -m bench listening invite {args.out} --n 30")
    return 0


def cmd_invite(args) -> int:
    from bench.listening.study import Study

    study = Study(args.study)
    for token in study.db.invite(args.n):
        print(f"http://{args.host}:{args.port}/?token={token}")
    return 0


def cmd_serve(args) -> int:
    import secrets

    import uvicorn

    from bench.listening.server import create_app

    admin = secrets.token_urlsafe(24)
    app = create_app(args.study, admin)
    print(f"admin page: http://{args.host}:{args.port}/admin?key={admin}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_export(args) -> int:
    from bench.core.storage import atomic_write_text
    from bench.listening.study import Study

    study = Study(args.study)
    text, counts = study.export_csv()
    out = Path(args.out) if args.out else study.folder / "answers.csv"
    atomic_write_text(out, text)
    print(
        f"wrote {out}: {counts['finished']} finished participants "
        f"({counts['not_finished']} invited or unfinished left out)"
    )
    return 0


def cmd_analyze(args) -> int:
    import hashlib

    from bench.listening.analysis import analyze, read_answers
    from bench.listening.render import write_report

    if not args.study and not args.answers:
        raise StudyError("analyze: give the study folder or --answers FILE.csv")
    study = None
    if args.study:
        from bench.listening.study import Study

        study = Study(args.study)
    answers_path = Path(args.answers) if args.answers else None
    if answers_path is None:
        from bench.core.storage import atomic_write_text

        answers_path = study.folder / "answers.csv"
        atomic_write_text(answers_path, study.export_csv()[0])
    answers = read_answers(answers_path)
    record = analyze(
        answers,
        bootstrap=args.bootstrap,
        seed=args.seed,
        systems=study.manifest["systems"] if study else None,
        provenance={
            "answers": str(answers_path),
            "answers_sha256": hashlib.sha256(answers_path.read_bytes()).hexdigest(),
            "study": study.manifest if study else None,
        },
    )
    if args.against:
        from bench.listening.against import against_run

        if study is None:
            raise StudyError("--against: give the study folder (its manifest names the items heard)")
        record["against"] = against_run(
            answers, record, study.manifest, args.against, resamples=args.bootstrap, seed=args.seed
        )
        record["summary"]["against"] = {k: record["against"][k] for k in ("answers", "systems")}
    out = Path(args.out) if args.out else (study.folder if study else answers_path.parent) / "analysis"
    paths = write_report(record, out)
    if args.json:
        print(json.dumps(record["summary"], indent=2))
    else:
        print(paths["md"].read_text())
        print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def cmd_simulate(args) -> int:
    from bench.core.storage import atomic_write_text
    from bench.listening.simulate import simulate_answers

    strengths = {}
    for part in args.strengths.split(","):
        name, _, value = part.partition("=")
        try:
            strengths[name] = float(value)
        except ValueError:
            raise StudyError(f"--strengths {part!r}: expected SYSTEM=NUMBER") from None
    if args.follow:
        frame = _simulate_following(args)
    else:
        frame = simulate_answers(strengths, args.participants, args.inattentive, args.seed)
    atomic_write_text(args.out, frame.to_csv(index=False))
    print(f"wrote {args.out}: {args.participants} simulated participants ({args.inattentive} inattentive)")
    return 0


def _simulate_following(args):
    from bench.listening.against import check_same_run, higher_is_better, load_run, question_differences
    from bench.listening.simulate import simulate_following_metric
    from bench.listening.study import Study

    if not (args.study and args.against):
        raise StudyError("--follow METRIC: give --study STUDY and --against RUN (the items and their scores)")
    higher_is_better(args.follow)  # an unknown metric is refused with the known ones
    study, results = Study(args.study), load_run(args.against)
    check_same_run(study.manifest, results.record, args.against)
    if args.follow not in results.items.columns:
        raise StudyError(f"--follow {args.follow}: the run has no per-item {args.follow} scores")
    questions = study.manifest["questions"]
    differences = question_differences(questions, results.items, args.follow)
    return simulate_following_metric(
        questions, differences, args.participants, args.inattentive, args.seed, args.weight
    )


def _run(func):
    def run(args) -> int:
        try:
            return func(args)
        except StudyError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2

    return run


def add_parser(sub) -> None:
    listening = sub.add_parser(
        "listening", help="blind pairwise listening study: build, serve, invite, export, analyze"
    )
    commands = listening.add_subparsers(dest="listening_command", required=True)

    build = commands.add_parser("build", help="build a study from the blending outputs of a Table 1 run")
    build.add_argument(
        "--run",
        help="the run record (default: your latest run, results/runs/latest, else results/table1.json)",
    )
    build.add_argument("--systems", default="latentft-unet,ilvr,cross-synthesis,spectrogram")
    build.add_argument("--out", required=True, help="the study folder, e.g. results/listening/NAME")
    build.add_argument(
        "--seed", type=int, default=0, help="draws the clip pair and band pair of each question"
    )
    build.add_argument(
        "--lufs", type=float, default=-23.0, help="loudness of every stimulus (default -23 LUFS)"
    )
    build.add_argument("--cache", help="the run's cache folder (default results/cache)")
    build.add_argument("--data", help="the audio folder, when the run used --data")
    build.add_argument("--data-cache", help="where rendered / loaded datasets live (default datasets/cache)")
    build.set_defaults(func=_run(cmd_build))

    serve = commands.add_parser("serve", help="run the study's web app (prints the admin link)")
    serve.add_argument("study")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=_run(cmd_serve))

    invite = commands.add_parser("invite", help="create participants and print their links")
    invite.add_argument("study")
    invite.add_argument("--n", type=int, default=30)
    invite.add_argument("--host", default="127.0.0.1", help="host name to put in the links")
    invite.add_argument("--port", type=int, default=8000)
    invite.set_defaults(func=_run(cmd_invite))

    export = commands.add_parser("export", help="write the finished participants' answers as CSV")
    export.add_argument("study")
    export.add_argument("--out", help="CSV path (default STUDY/answers.csv)")
    export.set_defaults(func=_run(cmd_export))

    analyze = commands.add_parser("analyze", help="the paper's statistics, Fig. 4 and a report")
    analyze.add_argument("study", nargs="?")
    analyze.add_argument("--answers", help="a CSV of answers collected elsewhere (the export format)")
    analyze.add_argument("--out", help="report folder (default STUDY/analysis or beside the CSV)")
    analyze.add_argument("--bootstrap", type=int, default=1000, help="resamples over participants")
    analyze.add_argument("--seed", type=int, default=0)
    analyze.add_argument("--json", action="store_true", help="print the summary as JSON")
    analyze.add_argument(
        "--against",
        metavar="RUN",
        help="the study's Table 1 run: its metrics against the answers, item by item",
    )
    analyze.set_defaults(func=_run(cmd_analyze))

    simulate = commands.add_parser("simulate", help="answers simulated from known Bradley-Terry strengths")
    simulate.add_argument(
        "--strengths", default="latentft-unet=1.0,ilvr=0.4,cross-synthesis=-0.3,spectrogram=-1.1"
    )
    simulate.add_argument("--participants", type=int, default=29)
    simulate.add_argument("--inattentive", type=int, default=2)
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--out", required=True)
    simulate.add_argument(
        "--follow", metavar="METRIC", help="ratings follow this metric of --against RUN on --study's items"
    )
    simulate.add_argument("--study", help="with --follow: the study whose questions are answered")
    simulate.add_argument("--against", metavar="RUN", help="with --follow: the run the study was built from")
    simulate.add_argument("--weight", type=float, default=2.0, help="with --follow: how strongly (default 2)")
    simulate.set_defaults(func=_run(cmd_simulate))


def main(argv=None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m bench.commands.listening")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["listening", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
