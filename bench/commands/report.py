"""``python -m bench report RUN --out DIR [--study STUDY]``: the run's static report site
(bench/reports/site.py); with a listening study built from the run, its analysis against the run's
metrics (bench/listening/analysis.py, against.py) as a section of the index."""

from __future__ import annotations

import sys
from pathlib import Path


def _listening(args, run: Path) -> dict:
    from bench.listening.against import against_run
    from bench.listening.analysis import analyze, read_answers
    from bench.listening.study import Study

    study = Study(args.study)
    answers_path = Path(args.answers) if args.answers else study.folder / "answers.csv"
    if not args.answers:
        from bench.core.storage import atomic_write_text

        atomic_write_text(answers_path, study.export_csv()[0])
    answers = read_answers(answers_path)
    record = analyze(answers, bootstrap=args.bootstrap, seed=args.seed, systems=study.manifest["systems"])
    against = against_run(answers, record, study.manifest, run, resamples=args.bootstrap, seed=args.seed)
    return {"summary": record["summary"], "against": against}


def run(args) -> int:
    from bench.listening.errors import StudyError
    from bench.reports.results import default_run
    from bench.reports.site import build_site
    from bench.reports.site_items import SiteInputError

    run_path = Path(args.run) if args.run else default_run()
    try:
        listening = _listening(args, run_path) if args.study else None
        summary = build_site(
            run_path, args.out, args.cache, args.data, args.data_cache, args.worst, listening=listening
        )
    except (SiteInputError, StudyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"wrote {summary['index']} and {len(summary['pages'])} system page(s): {summary['files']} files, "
        f"{summary['bytes'] / 2**20:.2f} MiB ({summary['audio_files']} clips as {summary['audio_format']}); "
        "open index.html in a browser"
    )
    return 0


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "report", help="a static site of a run: table, per-band figure, worst items to hear"
    )
    parser.add_argument("run", nargs="?", help="the run's table1.json (default: your latest run)")
    parser.add_argument("--out", required=True, help="the site's folder (index.html is its page)")
    parser.add_argument("--cache", help="the run's cache folder (default results/cache)")
    parser.add_argument("--data", help="the audio folder, when the run used --data")
    parser.add_argument("--data-cache", help="where rendered / loaded datasets live (default datasets/cache)")
    parser.add_argument("--worst", type=int, default=3, help="items shown per system, task and metric")
    parser.add_argument("--study", help="a listening study built from this run: its analysis against the run")
    parser.add_argument("--answers", help="with --study: answers CSV (default: the study's own, exported)")
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="with --study: resamples over participants"
    )
    parser.add_argument("--seed", type=int, default=0, help="with --study: the bootstraps' seed")
    parser.set_defaults(func=run)
