"""Render an analysis record (bench/listening/analysis.py) as the paper's Fig. 4 (diverging stacked
bars, PNG + CSV), Table 8-style pair tests and Bradley-Terry strengths (markdown, LaTeX, CSV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.storage import atomic_write_json, atomic_write_text
from bench.listening.analysis import CATEGORIES, SCALES

COLOURS = ("#1b7837", "#7fbf7b", "#d9d9d9", "#af8dc3", "#762a83")


def frames(record: dict) -> dict[str, pd.DataFrame]:
    summary = record["summary"]["scales"]
    pairs = pd.DataFrame(
        [
            {"scale": scale, **pair, "median_preference_a": pair["median"]}
            for scale in SCALES
            for pair in record["details"].get(scale, {}).get("pairs", [])
        ]
    )
    if not pairs.empty:
        pairs = pairs[["scale", "a", "b", "n", "median_preference_a", "p", "p_bonferroni", "p_holm"]]
    strengths = pd.DataFrame(
        [
            {"scale": scale, "system": system, **value}
            for scale in SCALES
            for system, value in summary[scale]["bradley_terry"].items()
        ]
    )
    tests = pd.DataFrame(
        [
            {
                "scale": scale,
                "kruskal_H": summary[scale]["kruskal"]["H"],
                "kruskal_p": summary[scale]["kruskal"]["p"],
                "fleiss_kappa": summary[scale]["fleiss_kappa"],
                "fleiss_kappa_oriented": summary[scale].get("fleiss_kappa_oriented"),
            }
            for scale in SCALES
        ]
    )
    distribution = pd.DataFrame(record["distribution"])
    return {"pairs": pairs, "strengths": strengths, "tests": tests, "distribution": distribution}


def _fmt(value, digits=3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:.{digits}f}"
    return str(value)


def _table(frame: pd.DataFrame, latex: bool) -> str:
    header = list(frame.columns)
    rows = [[_fmt(v) for v in row] for row in frame.itertuples(index=False)]
    if latex:

        def escape(t):
            return t.replace("_", r"\_").replace("%", r"\%")

        lines = [
            r"\begin{tabular}{" + "l" * len(header) + "}",
            r"\toprule",
            " & ".join(escape(h) for h in header) + r" \\",
            r"\midrule",
        ]
        lines += [" & ".join(escape(c) for c in row) + r" \\" for row in rows]
        return "\n".join(lines + [r"\bottomrule", r"\end{tabular}"])
    return "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        + ["| " + " | ".join(row) + " |" for row in rows]
    )


def _git(value) -> str:
    if isinstance(value, dict):
        return f"{str(value.get('revision'))[:10]}{' (uncommitted changes)' if value.get('dirty') else ''}"
    return str(value)


def _provenance_lines(record: dict) -> list[str]:
    prov = record["provenance"]
    env = prov["environment"]
    lines = [
        f"answers: `{prov.get('answers')}` (sha256 {str(prov.get('answers_sha256'))[:12]})",
        f"git revision: {_git(env.get('git'))}",
        "packages: " + ", ".join(f"{k} {v}" for k, v in sorted(env["packages"].items()) if v),
    ]
    study = prov.get("study")
    if study:
        run = study["run"]
        lines += [
            (
                f"study {study['study_id']}: systems {', '.join(study['systems'])}, seed {study['seed']}, "
                f"stimuli at {study['loudness']['target_lufs']} LUFS ({study['loudness']['standard']})"
            ),
            (
                f"run `{run['path']}` (sha256 {run['sha256'][:12]}), dataset {run['dataset']['name']} "
                f"(manifest {run['dataset']['manifest_hash'][:12]}), vocoder {run['vocoder']}, "
                f"git {_git(run['git'])}"
            ),
        ]
    method = record["method"]
    lines.append(
        f"Bradley-Terry: choix ilsr_pairwise (alpha {method['bt_alpha']}), 95 % percentile intervals "
        f"from {method['bootstrap']} bootstrap resamples of participants (seed {method['seed']})"
    )
    return lines


def render(record: dict, latex: bool = False) -> str:
    tables = frames(record)
    people = record["summary"]["participants"]
    if latex:
        parts = [
            r"% listening study analysis (python -m bench listening analyze)",
            f"% participants: {people['total']} total, {people['excluded']} excluded, {people['kept']} kept",
        ]
        for name in ("tests", "pairs", "strengths"):
            parts += [f"% {name}", _table(tables[name], latex=True)]
        parts += ["% " + line for line in _provenance_lines(record)]
        return "\n".join(parts) + "\n"
    parts = [
        "# Listening study analysis",
        "",
        (
            f"Participants: {people['total']}, excluded for failing the attention check: "
            f"{people['excluded']}, kept: {people['kept']}."
        ),
        "",
        "## Kruskal-Wallis across ordered pairs and Fleiss' kappa",
        "",
        _table(tables["tests"], False),
        "",
        (
            "fleiss_kappa: the standard statistic on the ratings as given (category = the option chosen); "
            "fleiss_kappa_oriented: each rating first oriented to the question's alphabetical system "
            "order, i.e. agreement on the systems rather than on the display positions, which each "
            "participant heard in their own random order."
        ),
        "",
        "## Pairwise Wilcoxon signed-rank tests (positive preference favours a)",
        "",
        _table(tables["pairs"], False) if not tables["pairs"].empty else "(no pairs)",
        "",
        "## Bradley-Terry log-strengths with 95 % bootstrap intervals",
        "",
        _table(tables["strengths"], False) if not tables["strengths"].empty else "(none)",
        "",
        "![Fig. 4](fig4.png)",
        "",
    ]
    if record.get("against"):
        parts += against_markdown(record["against"]) + [""]
    parts += ["## Provenance", ""]
    parts += [f"- {line}" for line in _provenance_lines(record)]
    return "\n".join(parts) + "\n"


def against_frames(against: dict) -> dict[str, pd.DataFrame]:
    """The metrics-against-listeners record (bench/listening/against.py) as two tables."""
    answers = pd.DataFrame(
        [
            {"scale": scale, "metric": metric, **value}
            for scale, metrics in against["answers"].items()
            for metric, value in metrics.items()
        ]
    )
    systems = pd.DataFrame(
        [
            {"scale": scale, "metric": metric, "rho": v["rho"], "p": v["p"], "n_systems": len(v["systems"])}
            for scale, metrics in against["systems"].items()
            for metric, v in metrics.items()
        ]
    )
    return {"answers": answers, "systems": systems}


def against_markdown(against: dict) -> list[str]:
    tables, method = against_frames(against), against["method"]
    return [
        "## Automatic metrics against the listeners",
        "",
        (
            f"Run `{against['run']['path']}` (sha256 {against['run']['sha256'][:12]}). Per answer: Kendall's "
            "tau-b of the rating (5 = the second blend much better) and the metric's difference, "
            f"{method['difference']}; {method['interval']}. Positive: listeners agree with the metric."
        ),
        "",
        _table(tables["answers"], False) if not tables["answers"].empty else "(no metric)",
        "",
        "Per system: Spearman's rho of the Bradley-Terry strength and the blending entry (oriented, "
        f"positive = agreement). Caveat: {method['caveat']}.",
        "",
        _table(tables["systems"], False) if not tables["systems"].empty else "(no metric)",
    ]


def figure(distribution: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(SCALES), figsize=(11, 0.5 + 0.45 * max(1, len(distribution) // 2)), sharey=True, squeeze=False
    )
    for ax, scale in zip(axes[0], SCALES):
        rows = distribution[distribution.scale == scale] if not distribution.empty else distribution
        labels = [f"{a} vs {b}" for a, b in zip(rows.get("a", []), rows.get("b", []))]
        if len(rows):
            shares = rows[list(CATEGORIES)].to_numpy(float) / rows["n"].to_numpy(float)[:, None] * 100
            left = -(shares[:, 0] + shares[:, 1] + shares[:, 2] / 2)
            y = np.arange(len(rows))
            for j, (name, colour) in enumerate(zip(CATEGORIES, COLOURS)):
                ax.barh(y, shares[:, j], left=left, color=colour, label=name, edgecolor="white")
                left = left + shares[:, j]
            ax.set_yticks(y, labels)
            ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlim(-100, 100)
        ax.set_xlabel("% of ratings (left: a preferred)")
        ax.set_title(f"{scale}")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    if handles:
        fig.legend(handles, names, loc="lower center", ncol=5, fontsize="small", frameon=False)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)


def write_report(record: dict, out: str | Path) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = frames(record)
    paths = {
        "md": out / "report.md",
        "tex": out / "report.tex",
        "json": out / "analysis.json",
        "fig4_png": out / "fig4.png",
        "fig4_csv": out / "fig4.csv",
        "pairs_csv": out / "pairs.csv",
        "strengths_csv": out / "bradley_terry.csv",
    }
    atomic_write_text(paths["md"], render(record))
    atomic_write_text(paths["tex"], render(record, latex=True))
    atomic_write_json(paths["json"], record)
    atomic_write_text(paths["fig4_csv"], tables["distribution"].to_csv(index=False))
    atomic_write_text(paths["pairs_csv"], tables["pairs"].to_csv(index=False))
    atomic_write_text(paths["strengths_csv"], tables["strengths"].to_csv(index=False))
    figure(tables["distribution"], paths["fig4_png"])
    if record.get("against"):
        extra = against_frames(record["against"])
        for name, frame in (
            ("against_answers_csv", extra["answers"]),
            ("against_systems_csv", extra["systems"]),
        ):
            paths[name] = out / f"{name[: -len('_csv')]}.csv"
            atomic_write_text(paths[name], frame.to_csv(index=False))
    return paths
