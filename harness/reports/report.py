"""`harness report RUN`: one run as report.html (self-contained), report.md and report_*.csv."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from harness import __version__
from harness.errors import BadInput
from harness.reports.analysis import Analysis, analyse, unresolvable_pairs
from harness.reports.calibration import html_section as calibration_html
from harness.reports.calibration import markdown_section as calibration_markdown
from harness.reports.category_section import FALLBACK_NOTE as CATEGORY_FALLBACK_NOTE
from harness.reports.category_section import NOTE as CATEGORY_NOTE
from harness.reports.category_section import PANEL_FALLBACK_NOTE, category_scores
from harness.reports.diagnostics import judge_diagnostics
from harness.reports.markdown import md_list, md_table, md_text
from harness.reports.page import document, esc, section, table
from harness.reports.panel_section import panel_html, panel_markdown
from harness.reports.reading import read_run
from harness.reports.rundata import RunData
from harness.reports.sampling import sample_verdicts
from harness.reports.svg import forest_plot, heatmap, heatmap_is_image, histograms
from harness.reports.verdict_cards import cards_section
from harness.running.completeness import notes, of_manifest
from harness.stats.significance import MIN_ITEMS
from harness.store import frame_to_csv

if TYPE_CHECKING:
    from harness.registry import Registry
    from harness.reports.view import ReportSection

FORMATS = ("html", "md", "csv")


@dataclass
class ReportResult:
    run: RunData
    analysis: Analysis
    diagnostics: pd.DataFrame
    files: list[Path]


def write_output(path: Path, text: str) -> None:
    """One output file written, or one line saying why it cannot be (a directory or a dangling
    link of that name in --out, a read-only folder): bad input, exit 2, not an internal error."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"--out {path.parent}: cannot write {path.name} ({exc.strerror or exc})") from None


def output_directory(target: Path) -> Path:
    """Create the folder the files go to, or say in one line why it cannot be."""
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--out {target}: cannot create the directory ({exc.strerror})") from None
    return target


def build_report(run_dir: str | Path, *, out: str | Path | None = None, sample: int = 200,
                 formats: tuple[str, ...] = FORMATS, n_rounds: int = 1000,
                 registry: Registry | None = None) -> ReportResult:
    """Read the run (its protocol's view from `registry`, default: the plugins loaded here),
    analyse it and write the chosen formats."""
    if sample < 0:
        raise BadInput("--sample must be 0 or more")
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise BadInput(f"--format {unknown[0]!r}: choose html, md or csv")
    run = read_run(run_dir, registry)
    analysis = analyse(run, n_rounds=n_rounds)
    diagnostics = judge_diagnostics(run)
    target = output_directory(Path(out) if out else run.directory)
    files: list[Path] = []
    if "csv" in formats:
        files += write_csvs(target, analysis, diagnostics, categories=category_scores(run))
    if "md" in formats:
        path = target / "report.md"
        write_output(path, markdown_report(run, analysis, diagnostics))
        files.append(path)
    if "html" in formats:
        path = target / "report.html"
        write_output(path, html_report(run, analysis, diagnostics, sample))
        files.append(path)
    return ReportResult(run=run, analysis=analysis, diagnostics=diagnostics, files=files)


# --------------------------------------------------------------------------------------------
# Tables shared by every format
# --------------------------------------------------------------------------------------------


def category_pivot(analysis: Analysis) -> pd.DataFrame:
    """category x model, each cell the mean per-item score; a last row with the item counts."""
    cats = analysis.categories
    if cats.empty:
        return pd.DataFrame()
    pivot = cats.pivot_table(index="category", columns="model", values="score", aggfunc="first")
    counts = cats.groupby("category")["n"].max()
    pivot.insert(0, "items", counts)
    order = [m for m in analysis.ranking["model"] if m in pivot.columns]
    rest = [c for c in pivot.columns if c not in order and c != "items"]
    return pivot[["items", *order, *rest]].reset_index()


#: What an empty interval means, wherever intervals are printed (harness.stats.intervals).
NO_INTERVAL = "'-' or empty: no interval, as every resample gave the same value (one item, all items alike) or the rating is the anchor's"


def no_statement(analysis: Analysis) -> str:
    """What to say when no difference is listed: none was significant, or none could be tested."""
    pairs = analysis.pairs
    if not pairs.empty and pairs["p_value"].isna().all():
        return f"no difference was tested: significance needs at least {MIN_ITEMS} items per pair"
    if tested := unresolvable_pairs(pairs, analysis.rounds, analysis.alpha):
        return (f"no difference can be called significant: {analysis.rounds:,} bootstrap rounds cannot resolve the "
                f"p-values Holm's correction needs over {tested:,} pairs (see the warning)")
    return "no difference is significant at 5% after correction"


def significant_statements(analysis: Analysis) -> list[str]:
    pairs = analysis.pairs
    if pairs.empty:
        return []
    return list(pairs.loc[pairs["significant"].astype(bool), "statement"])


#: The most pairs (and significant statements) the pages list; report_pairs.csv has every one.
PAGE_PAIRS = 200


def page_statements(analysis: Analysis) -> list[str]:
    """The significant statements the pages list: all, or the first PAGE_PAIRS and a count of the rest."""
    statements = significant_statements(analysis)
    if len(statements) <= PAGE_PAIRS:
        return statements
    return [*statements[:PAGE_PAIRS],
            f"... and {len(statements) - PAGE_PAIRS:,} more significant differences in report_pairs.csv"]


def page_pairs(analysis: Analysis) -> tuple[pd.DataFrame, str]:
    """The pairs the pages show, and what their note adds: every pair up to PAGE_PAIRS; beyond,
    each model against the next in the ranking (the comparisons a ranking rests on, every model
    in them), since 100 models make 4,950 pairs, megabytes of page no one reads row by row."""
    pairs = analysis.pairs
    if len(pairs) <= PAGE_PAIRS or not {"model_1", "model_2"} <= set(pairs.columns):
        return pairs, ""
    ranking = analysis.ranking
    if "score" in ranking.columns:  # by score: a table sorted by interval rank lists ties in any order
        ranking = ranking.sort_values("score", ascending=False, kind="stable")
    order = [str(m) for m in ranking["model"]]
    neighbours = {frozenset(pair) for pair in zip(order, order[1:])}
    keep = [frozenset((str(a), str(b))) in neighbours for a, b in zip(pairs["model_1"], pairs["model_2"])]
    shown = pairs[keep]
    return shown, (f"; {len(shown):,} of {len(pairs):,} pairs shown: each model against the next in the ranking; "
                   "every pair is in report_pairs.csv")


def win_rate_rows(win_rates: pd.DataFrame) -> pd.DataFrame:
    """The win-rate matrix with its row models as a first column, named `model` unless a model
    is itself called that (its column would clash: the report died with an internal error)."""
    if win_rates.empty:
        return pd.DataFrame()
    label = "model" if "model" not in win_rates.columns else "row model"
    return win_rates.rename_axis(label).reset_index()


def write_csvs(target: Path, analysis: Analysis, diagnostics: pd.DataFrame, *,
               categories: pd.DataFrame | None = None) -> list[Path]:
    """The report's tables as CSV; `categories`: the Categories table the pages show (the run's
    scores_by_category.csv, every model in every category), else the per-item means."""
    outputs = {
        "report_ranking.csv": analysis.ranking,
        "report_pairs.csv": analysis.pairs,
        "report_categories.csv": analysis.categories if categories is None else categories,
        "report_win_rates.csv": win_rate_rows(analysis.win_rates),
        "report_diagnostics.csv": diagnostics,
    }
    files = []
    for name, frame in outputs.items():
        path = target / name
        write_output(path, frame_to_csv(frame))
        files.append(path)
    return files


def _overview(run: RunData) -> list[tuple[str, str]]:
    counts = run.verdicts["status"].value_counts()
    models = sorted({str(m) for m in run.ranking.get("model", pd.Series(dtype=object))}) or sorted(
        {str(m) for c in ("model", "model_a", "model_b") if c in run.verdicts for m in run.verdicts[c].dropna()})
    return [
        ("run directory", str(run.directory)),
        ("task", run.name),
        ("protocol", run.protocol),
        ("judge", run.judge_label),
        ("models", ", ".join(models)),
        ("items", str(run.verdicts["item_id"].nunique())),
        ("verdicts", ", ".join(f"{k} {int(v)}" for k, v in counts.items())),
        ("numbers", completeness_text(run.manifest)),
        ("texts", "from the task's dataset" if run.items else run.items_note),
        *_import_rows(run.manifest),
    ]


def completeness_text(manifest: dict) -> str:
    """Complete, or why not: pending and failed requests, unusable verdicts, models without score."""
    record = of_manifest(manifest)
    return "; ".join([*record["problems"], *notes(record)]) or (
        f"complete: every one of {record.get('requests')} requests has a verdict")


def warning_lines(manifest: dict) -> list[str]:
    """What the reader must see before any number (empty for a complete run): what the numbers
    lack, and an aggregate restricted to some categories (`harness aggregate --category`)."""
    from harness.by_category import FILTER_KEY

    record = of_manifest(manifest)
    restricted = ([f"restricted to category {', '.join(map(str, manifest[FILTER_KEY]))}: the numbers cover only "
                   "its items (`harness aggregate` without --category covers them all)"]
                  if manifest.get(FILTER_KEY) else [])
    return [*restricted, *record["problems"], *notes(record)]


def _import_rows(manifest: dict) -> list[tuple[str, str]]:
    """Where an imported run came from (`harness import` records it in run.json)."""
    info = manifest.get("import")
    if not isinstance(info, dict):
        return []
    sources = info.get("sources")
    count = len(sources) if isinstance(sources, list) else 0
    return [("imported", f"{info.get('format', '?')} judgments from {count} file(s)")]


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def markdown_report(run: RunData, analysis: Analysis, diagnostics: pd.DataFrame) -> str:
    overview = pd.DataFrame(_overview(run), columns=["", "value"])
    warnings = warning_lines(run.manifest)
    pairs, pairs_more = page_pairs(analysis)
    parts = [
        f"# Report: {run.name}\n\n",
        *(["".join(f"> **Warning:** {md_text(line)}\n>\n" for line in warnings), "\n"] if warnings else []),
        md_table(overview),
        f"\n## Ranking\n\nScore: {analysis.score_label}; interval: {run.view.interval_label(run)} ({NO_INTERVAL}); "
        "rank 1 + the number of models whose interval lies entirely above.\n\n",
        f"{note}\n\n" if (note := run.view.ranking_note(run)) else "",
        "".join(f"**Warning:** {note}\n\n" for note in analysis.notes),
        md_table(analysis.ranking),
        "\n### Significant differences\n\n",
        md_list(page_statements(analysis) or [no_statement(analysis)]),
        f"\n## All pairs\n\n{analysis.pairs_note}{pairs_more}\n\n",
        md_table(pairs),
        f"\n## Win rates\n\n{analysis.win_rates_note}\n\n",
        (f"{len(analysis.win_rates)} models: the matrix is in report_win_rates.csv\n" if heatmap_is_image(analysis.win_rates)
         else md_table(win_rate_rows(analysis.win_rates))),
        f"\n## Categories\n\n{_category_note(run)}.\n\n",
        md_table(_category_table(run, analysis)),
        *(f"\n## {own.title}\n\n{own.note}\n\n" + md_table(own.table) for own in run.view.sections(run)),
        "\n## Judge diagnostics\n\n",
        md_table(diagnostics[["group", "metric", "value", "n"]] if not diagnostics.empty else diagnostics),
        panel_markdown(run),
        calibration_markdown(run),
        f"\n_Written by harness {__version__}. Browse sampled verdicts in report.html._\n",
    ]
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def html_report(run: RunData, analysis: Analysis, diagnostics: pd.DataFrame, sample: int) -> str:
    overview = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _overview(run))
    statements = page_statements(analysis)
    statement_html = ('<ul class="statements">' + "".join(f"<li>{esc(s)}</li>" for s in statements) + "</ul>"
                      if statements else f'<p class="muted">{esc(no_statement(analysis))}</p>')
    # as report.md: the run's warnings atop the page, the analysis's (few items, untestable pairs)
    # under the ranking they qualify
    analysis_warnings = "".join(f'<p class="warning"><strong>Warning:</strong> {esc(note)}</p>'
                                for note in analysis.notes)
    ranking = analysis.ranking
    pairs, pairs_more = page_pairs(analysis)
    sig = pairs["significant"].astype(bool) if not pairs.empty else []
    by_model = {m: scores.to_numpy(float) for m, scores in analysis.item_scores.groupby("model", sort=False)["score"]}
    distributions = {m: by_model[m] for m in ranking["model"] if m in by_model}  # one pass, not one per model
    warnings = "".join(f'<p class="warning"><strong>Warning:</strong> {esc(line)}</p>'
                       for line in warning_lines(run.manifest))
    sections = [
        ("overview", "Overview", section("overview", "Overview", f"{warnings}<table>{overview}</table>")),
        ("ranking", "Ranking", section(
            "ranking", "Ranking",
            analysis_warnings + table(ranking) + "<h3>Significant differences</h3>" + statement_html
            + forest_plot(ranking, label=analysis.score_label),
            f"score: {analysis.score_label}; interval: {run.view.interval_label(run)} ({NO_INTERVAL}); rank: 1 + the number of models "
            "whose interval lies entirely above. " + (f"{note}. " if (note := run.view.ranking_note(run)) else "")
            + "Click a column to sort.")),
        ("pairs", "Pairs", section("pairs", "All pairs", table(pairs, row_class=["sig" if s else "" for s in sig]),
                                   analysis.pairs_note + pairs_more + "; significant rows are green")),
        ("win-rates", "Win rates", section("win-rates", "Win rates", heatmap(analysis.win_rates) or
                                           '<p class="muted">no head-to-head data</p>', analysis.win_rates_note + (
            f"; {len(analysis.win_rates)} models: colour only (blue: the row model wins more), "
            "each value is in report_win_rates.csv" if heatmap_is_image(analysis.win_rates) else ""))),
        ("distributions", "Distributions", section(
            "distributions", "Score distributions", histograms(distributions) or '<p class="muted">no scores</p>',
            run.view.distribution_note)),
        ("categories", "Categories", section("categories", "Categories", table(_category_table(run, analysis)),
                                             _category_note(run))),
        *(_own_section(own) for own in run.view.sections(run)),
        ("diagnostics", "Judge", section("diagnostics", "Judge diagnostics", table(diagnostics),
                                         "position and length bias, unusable outputs, calls, cache, tokens and cost")),
        *([panel] if (panel := panel_html(run)) else []),
        ("verdicts", "Verdicts", section("verdicts", "Verdicts",
                                         cards_section(sample_verdicts(run, sample), run.items, len(run.verdicts),
                                                       run.view))),
    ]
    calibrated = calibration_html(run)
    if calibrated is not None:
        sections.insert(2, calibrated)
    subtitle = f"{run.protocol} · judge {run.judge_label} · harness {__version__}"
    return document(f"Report: {run.name}", subtitle, sections)


def _category_table(run: RunData, analysis: Analysis) -> pd.DataFrame:
    found = category_scores(run)
    return found if found is not None else category_pivot(analysis)


def _category_note(run: RunData) -> str:
    if category_scores(run) is not None:
        return CATEGORY_NOTE
    return PANEL_FALLBACK_NOTE if isinstance(run.manifest.get("panel"), dict) else CATEGORY_FALLBACK_NOTE


def _own_section(own: ReportSection) -> tuple[str, str, str]:
    """A protocol's own section, as the page lists its sections: (anchor, menu title, html)."""
    return own.id, own.title, section(own.id, own.title, table(own.table), own.note)
