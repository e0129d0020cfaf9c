"""What the listing commands and a finished run print for people (rich tables on stdout)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.by_category import summary_lines as category_lines
from harness.errors import BadInput
from harness.plugins import LoadedPlugins
from harness.registry import Registry
from harness.tasks import find_task_files, read_task_file

if TYPE_CHECKING:
    from harness.running.result import RunResult


def _console() -> Console:
    return Console(soft_wrap=False, width=None if Console().is_terminal else 150)


def list_tasks(directory: Path | None, plugins: LoadedPlugins) -> int:
    """The task files of `directory`; by default ./tasks (a checkout) or, outside the repository,
    the current directory."""
    if directory is None:
        directory = Path("tasks") if Path("tasks").is_dir() else Path(".")
    if not directory.is_dir():
        raise BadInput(f"{directory}: no such directory")
    known = Registry.collect(plugins.manager).task_kinds
    table = Table(title=f"task files in {directory}")
    for column in ("file", "name", "protocol", "judge", "dataset", "description"):
        table.add_column(column)
    for path in find_task_files(directory):
        try:
            spec = read_task_file(path)
        except BadInput as exc:
            table.add_row(escape(path.name), "", "", "", "", f"[red]invalid: {escape(str(exc))}[/red]")
            continue
        protocol = spec.protocol if spec.protocol in known else f"{spec.protocol} (not loaded)"
        judge = ", ".join(e if isinstance(e, str) else e.spec for e in spec.judge_entries)
        cells = (path.name, spec.name, protocol, judge, spec.dataset.path, spec.description)
        table.add_row(*(escape(cell) for cell in cells))  # user text, never rich markup
    if not table.rows:
        print(f"no task files (*.yaml, *.yml) in {directory.resolve()}; name their directory: harness tasks DIR")
        return 0
    _console().print(table)
    return 0


def list_plugins(plugins: LoadedPlugins) -> int:
    table = Table(title="plugins")
    for column in ("name", "source", "hooks", "status"):
        table.add_column(column)
    for info in plugins.plugins:
        status = f"[red]skipped: {escape(info.error)}[/red]" if info.error else ("built-in" if info.builtin else "loaded")
        table.add_row(escape(info.name), escape(info.source), "\n".join(info.hooks), status)
    console = _console()
    console.print(table)
    registry = Registry.collect(plugins.manager)
    console.print("protocols: " + escape(", ".join(sorted(registry.task_kinds))))
    console.print("judge backends: " + escape(", ".join(sorted(registry.judges))))
    console.print("metrics: " + escape(", ".join(registry.metrics) or "none"))
    console.print("reporters: " + escape(", ".join(registry.reporters) or "none"))
    console.print("import formats: " + escape(", ".join(sorted(registry.importers)) or "none"))
    console.print("commands: " + escape(", ".join(registry.commands) or "none"))
    return 0


def list_judges(plugins: LoadedPlugins) -> int:
    """Each judge backend with the options it accepts, their defaults and what they do."""
    from harness.judges.options import describe, options_model

    registry = Registry.collect(plugins.manager)
    console = _console()
    for backend in sorted(registry.judges):
        factory = registry.judges[backend]
        model = options_model(factory)
        title = f"{backend} (plugin {registry.owner('judge backend', backend)})"
        if model is None:
            console.print(f"{escape(title)}: declares no options model; every option is passed to the backend")
            continue
        table = Table(title=title, title_justify="left")
        for column in ("option", "default", "what it does"):
            table.add_column(column)
        for name, default, text in describe(model):
            table.add_row(escape(name), escape(default), escape(text))
        console.print(table)
        if model.model_config.get("extra") == "allow":
            console.print(escape(f"  {backend}: any other option is passed through ({(model.__doc__ or '').strip()})"))
    return 0


def _interval(row: Any, value: str, low: str, high: str, digits: int) -> str:
    """`value [low, high]` with `digits` decimals, more where the two ends would print alike
    (a narrow interval is never shown as [x, x]); the value alone where the interval is missing
    or a point by the rule the exported CSVs follow (harness.stats.intervals.zero_width), so the
    table never shows an interval scores.csv leaves out."""
    from harness.stats.intervals import apart_digits, zero_width

    if value not in row or _missing(row[value]):
        return "-"
    ends = (row.get(low), row.get(high))
    if _missing(ends[0]) or _missing(ends[1]) or bool(zero_width(ends[0], ends[1])):
        return f"{row[value]:.{digits}f}"
    shown = apart_digits(ends[0], ends[1], digits)
    return f"{row[value]:.{shown}f} [{ends[0]:.{shown}f}, {ends[1]:.{shown}f}]"


def _missing_rank(value: Any) -> bool:
    """No rank: a model the numbers do not cover (pandas' NA, NaN or None)."""
    import pandas as pd

    return bool(pd.isna(value))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def print_run_result(result: RunResult) -> None:
    """The ranking with intervals, the protocol's columns, and the facts its protocol adds."""
    console = _console()
    aggregate = result.aggregate
    scores = aggregate.scores.set_index("model")
    table = Table(title=f"{result.loaded.spec.name}: {aggregate.title}")
    headers = ("rank", "model", f"{aggregate.rank_label} [CI]", *aggregate.columns, "n", "invalid")
    for column in headers:
        # a model's name wraps rather than ending in "…": two long names sharing a prefix looked alike
        table.add_column(escape(column), justify="left" if column == "model" else "right",
                         overflow="fold" if column == "model" else "ellipsis")
    digits = 0 if aggregate.ranking["score"].abs().max() >= 500 else 1  # Elo-scale ratings: whole numbers
    for _, row in aggregate.ranking.iterrows():
        extra = scores.loc[row["model"]] if row["model"] in scores.index else {}
        cells = [
            _interval(extra, column, *(("ci_low", "ci_high") if column == "score"
                                       else aggregate.intervals.get(column, ("", ""))), 1)
            for column in aggregate.columns.values()
        ]
        table.add_row(
            "-" if _missing_rank(row["rank"]) else str(row["rank"]), escape(str(row["model"])), _interval(row, "score", "ci_low", "ci_high", digits),
            *cells, str(row["n"]), str(int(extra.get("invalid", 0)) if len(extra) else 0),
        )
    console.print(table)
    summary = result.aggregate.summary
    counts = result.manifest.get("counts", {})
    facts = [f"verdicts ok {counts.get('ok', 0)}, invalid {counts.get('invalid', 0)}, failed {counts.get('failed', 0)}"
             + (f", pending {counts['pending']} (partial: the numbers leave them out)" if counts.get("pending") else "")]
    facts += result.loaded.task.summary_facts(summary)
    console.print("; ".join(facts))
    for line in [*panel_lines(result.manifest), *category_lines(result.manifest)]:
        console.print(escape(line))
    if "score_note" in summary:
        console.print(summary["score_note"])
    for note in summary.get("notes") or []:  # what explains a number shown: said where the user looks
        print("harness: note: " + " ".join(str(note).split()), file=sys.stderr)
    if (warning := few_items_warning(result.manifest)) is not None:
        # stdout: stderr is for errors; one line, as a script greps it (the terminal wraps it)
        console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"run directory: {result.directory}")


def few_items_warning(manifest: dict[str, Any]) -> str | None:
    """Under MIN_ITEMS judged items the numbers stand, but no difference may be called significant.
    The items judged (an ok verdict), not the dataset's: a budgeted or partial run of a large dataset
    may rest on a handful, and a run stopped after one item of six rests on one (a run written
    before they were recorded: the dataset's)."""
    from harness.stats.significance import MIN_ITEMS

    dataset = (manifest.get("dataset") or {}).get("items")
    judged = (manifest.get("completeness") or {}).get("items_judged", dataset)
    if not isinstance(judged, int) or judged <= 0 or judged >= MIN_ITEMS:
        return None
    of = f" of {dataset}" if isinstance(dataset, int) and dataset > judged else ""
    return (f"only {judged}{of} item(s) judged: intervals (and the ranks drawn from them) are rough, and "
            f"`harness report` calls no difference significant below {MIN_ITEMS} items (docs/statistics.md)")


def panel_lines(manifest: dict[str, Any]) -> list[str]:
    """One line per judge of a panel: its verdicts, severity or position bias, agreement."""
    panel = manifest.get("panel")
    if not isinstance(panel, dict) or not isinstance(panel.get("judges"), list) or len(panel["judges"]) < 2:
        return []
    lines = []
    for judge in panel["judges"]:
        counts = judge.get("counts") or {}
        facts = [f"ok {counts.get('ok', 0)}, invalid {counts.get('invalid', 0)}, failed {counts.get('failed', 0)}"]
        if judge.get("severity_points") is not None:
            facts.append(f"severity {judge['severity_points']:+.2f} points")
        first = (judge.get("position") or {}).get("first_position_win_rate")
        if first is not None:
            facts.append(f"first position wins {first:.0%}")
        accuracy = (judge.get("agreement_with_pool") or {}).get("accuracy")
        if accuracy is not None:
            facts.append(f"agrees with the pool {accuracy:.0%}")
        lines.append(f"judge {judge.get('judge')}: " + "; ".join(facts))
    alpha = (panel.get("agreement") or {}).get("krippendorff_alpha")
    if alpha is not None:
        lines.append(f"inter-judge agreement: Krippendorff's alpha {alpha:.2f}")
    return lines


def report_completeness(manifest: dict[str, Any]) -> bool:
    """The notes (answers missing from the dataset) and the reasons the numbers cannot stand, one
    line each on stderr, besides partial runs (said by the caller); True when the numbers cannot stand."""
    from harness.running.completeness import notes, of_manifest

    record = of_manifest(manifest)
    for line in notes(record):
        print("harness: note: " + " ".join(line.split()), file=sys.stderr)
    unusable = [line for line in record["problems"] if not line.startswith("partial:")]
    for line in unusable:
        print("harness: " + " ".join(line.split()), file=sys.stderr)
    return bool(unusable)
