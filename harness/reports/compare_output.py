"""`harness compare`'s outputs: compare.html, compare.md, compare_*.csv and the terminal summary.

harness.reports.compare computes a comparison and knows nothing of files; this module reads the
runs, asks it, and writes what it found.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console
from rich.table import Table

from harness import __version__
from harness.reports.compare import Comparison, compare_runs, read_runs
from harness.reports.markdown import md_list, md_table
from harness.reports.page import document, esc, format_value, section, table
from harness.reports.report import output_directory, write_output
from harness.running.completeness import of_manifest
from harness.store import frame_to_csv

if TYPE_CHECKING:
    from harness.registry import Registry

FORMATS = ("html", "md", "csv")


def build_comparison(paths: list[str] | tuple[str, ...], *, out: str | Path | None = None,
                     formats: tuple[str, ...] = FORMATS, n_rounds: int = 1000,
                     registry: Registry | None = None) -> Comparison:
    """Compare the runs and, with `out`, write the chosen formats there."""
    comparison = compare_runs(read_runs(paths, registry), n_rounds=n_rounds)
    if out:
        comparison.files = write_outputs(comparison, Path(out), formats)
    return comparison


def runs_frame(comparison: Comparison) -> pd.DataFrame:
    rows = []
    for label, run in zip(comparison.labels, comparison.runs):
        rows.append({
            "run": label, "directory": str(run.directory), "task": run.name, "protocol": run.protocol,
            "judge": run.judge_label, "items": int(run.verdicts["item_id"].nunique()), "verdicts": len(run.verdicts),
            "status": "; ".join(of_manifest(run.manifest)["problems"]) or "complete",
        })
    return pd.DataFrame(rows)


def summary_lines(comparison: Comparison) -> list[str]:
    lines = [f"{len(comparison.shared_items)} items judged in every run"]
    if comparison.unit_kind:
        lines.append(f"unit of agreement: {comparison.unit_kind}; {len(comparison.units)} units judged in 2+ runs")
        lines.append(f"Krippendorff's alpha ({comparison.level}) over all runs: {format_value(comparison.alpha)}")
    for label, run in zip(comparison.labels, comparison.runs):
        lines += [f"run {label} ({run.directory}) {problem}" for problem in of_manifest(run.manifest)["problems"]]
    return [*lines, *comparison.notes]


def write_outputs(comparison: Comparison, target: Path, formats: tuple[str, ...]) -> list[Path]:
    output_directory(target)
    files: list[Path] = []
    if "csv" in formats:
        for name, frame in (("compare_runs.csv", runs_frame(comparison)),
                            ("compare_agreement.csv", comparison.agreement),
                            ("compare_rank_correlation.csv", comparison.correlations),
                            ("compare_ranks.csv", comparison.ranks),
                            ("compare_rank_swaps.csv", comparison.swaps),
                            ("compare_disagreements.csv", comparison.disagreements)):
            path = target / name
            write_output(path, frame_to_csv(frame))
            files.append(path)
    if "md" in formats:
        path = target / "compare.md"
        write_output(path, markdown(comparison))
        files.append(path)
    if "html" in formats:
        path = target / "compare.html"
        write_output(path, html(comparison))
        files.append(path)
    return files


def markdown(comparison: Comparison) -> str:
    return "".join([
        f"# Comparison of {len(comparison.runs)} runs\n\n",
        md_table(runs_frame(comparison)),
        "\n", md_list(summary_lines(comparison)),
        "\n## Agreement between runs\n\n",
        md_table(comparison.agreement),
        "\n## Ranking correlation\n\n",
        md_table(comparison.correlations),
        "\n## Ranks\n\n",
        md_table(comparison.ranks),
        "\n## Order changes and their significance\n\n",
        md_table(comparison.swaps),
        "\n## Items where the runs disagree most\n\n",
        md_table(comparison.disagreements),
        f"\n_Written by harness {__version__}._\n",
    ])


def html(comparison: Comparison) -> str:
    summary = '<ul class="statements">' + "".join(f"<li>{esc(s)}</li>" for s in summary_lines(comparison)) + "</ul>"
    verdicts = comparison.swaps["verdict"] if not comparison.swaps.empty else []
    sections = [
        ("runs", "Runs", section("runs", "Runs", table(runs_frame(comparison)) + summary)),
        ("agreement", "Agreement", section(
            "agreement", "Agreement between runs", table(comparison.agreement),
            "percent agreement and Cohen's kappa on units both runs judged (quadratic weights for ordered "
            "values); Krippendorff's alpha above covers all runs at once")),
        ("correlation", "Rank correlation", section(
            "correlation", "Ranking correlation", table(comparison.correlations),
            "Kendall's tau-b and Spearman's rho between the runs' model scores, with two-sided p-values "
            "(exact permutation p-values up to 9 models, none below 3)")),
        ("ranks", "Ranks", section("ranks", "Ranks", table(comparison.ranks),
                                   "rank change: rank in the first run minus rank in the last (positive = moved up)")),
        ("swaps", "Order changes", section(
            "swaps", "Order changes and their significance",
            table(comparison.swaps, row_class=["sig" if v.startswith("reversal") else "" for v in verdicts]),
            "pairs of models the two runs order differently, with each run's Holm-adjusted p-value for that pair")),
        ("disagreements", "Disagreements", section(
            "disagreements", "Items where the runs disagree most", table(comparison.disagreements),
            "share of the item's units on which the runs do not all give the same value, then the mean spread")),
    ]
    return document(f"Comparison of {len(comparison.runs)} runs", " · ".join(comparison.labels), sections)


def print_summary(comparison: Comparison, console: Console) -> None:
    for line in summary_lines(comparison):
        console.print(line, markup=False, highlight=False)
    if not comparison.agreement.empty and comparison.unit_kind:
        grid = Table(title="agreement")
        for column in ("run_1", "run_2", "units", "percent_agreement", "cohens_kappa"):
            grid.add_column(column, justify="right" if column not in ("run_1", "run_2") else "left")
        for row in comparison.agreement.itertuples(index=False):
            grid.add_row(esc_rich(row.run_1), esc_rich(row.run_2), str(row.units),
                         _pct(row.percent_agreement), format_value(row.cohens_kappa))
        console.print(grid)
    ranks = Table(title="ranks")
    for column in comparison.ranks.columns:
        ranks.add_column(str(column))
    for row in comparison.ranks.itertuples(index=False):
        ranks.add_row(*(esc_rich(format_value(v)) for v in row))
    console.print(ranks)
    for row in comparison.correlations.itertuples(index=False):
        console.print(f"{row.run_1} vs {row.run_2}: Kendall tau {format_value(row.kendall_tau)}, "
                      f"Spearman {format_value(row.spearman)} over {row.n} models", markup=False, highlight=False)
    for row in comparison.swaps.itertuples(index=False):
        console.print(f"{row[2]} ahead in {row.run_1}, {row[3]} ahead in {row.run_2}: {row.verdict}",
                      markup=False, highlight=False)
    for path in comparison.files:
        print(f"wrote {path}")  # plain: rich would wrap a long path


def esc_rich(value: object) -> str:
    """Model and run names may hold [brackets] that rich would read as markup."""
    from rich.markup import escape

    return escape(str(value))


def _pct(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"
