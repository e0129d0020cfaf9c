"""Finish a run: its verdicts -> the protocol's aggregate, plugin metrics, calibration, every
model in every table, the exports, and run.json's counts, summary and completeness.

The one path both `harness run` (after judging) and `harness aggregate` (from the store) take,
so a recomputed run gets the files a run gets. A panel is aggregated as harness.panel.per_judge says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from harness.by_category import SCORES_BY_CATEGORY_FILE, write_scores_by_category
from harness.calibrate.apply import apply_calibration, resolve_calibration
from harness.errors import BadInput
from harness.metrics import apply_metrics, verdicts_frame
from harness.protocol.verdict_columns import columns_shared, kept_columns
from harness.running.completeness import assess, task_models, with_every_model
from harness.stats.memo import remembered_in

if TYPE_CHECKING:
    from pathlib import Path

    from harness.calibrate.apply import AppliedCalibration
    from harness.models import Verdict
    from harness.protocol import Aggregate, Task
    from harness.registry import Registry
    from harness.store import RunDirectory

STATUSES = ("ok", "invalid", "failed")


def run_calibration(
    requested: str | Path | None, directory: Path, identity: Callable[[], dict[str, Any]], registry: Registry,
    *, panel: bool, force: bool,
) -> AppliedCalibration | None:
    """The calibration to apply: the file asked for, or the one stored in the run directory
    (checked against the judge setup `identity()` gives); none for a panel, which has several
    judges."""
    if panel:
        if requested is not None:
            raise BadInput("--calibration: a panel run has several judges; calibrate and apply one judge's run")
        return None
    return resolve_calibration(requested, directory, identity(), registry, force=force)


def record_counts(manifest: dict[str, Any], verdicts: list[Verdict]) -> None:
    """run.json's `counts`: verdicts by status, and the requests of `manifest["requests"]` with none."""
    table = kept_columns(verdicts)  # one pass, not one per status; none when the statuses are gathered
    tally: Counter[str] = Counter(table.status if table is not None else (v.status for v in verdicts))
    counts = {status: tally[status] for status in STATUSES}
    counts["pending"] = max(0, int(manifest.get("requests") or 0) - sum(counts.values()))
    manifest["counts"] = counts


def finish_run(
    task: Task, registry: Registry, store: RunDirectory, manifest: dict[str, Any], verdicts: list[Verdict], *,
    calibration: AppliedCalibration | None, panel: tuple[dict[str, list[Verdict]], dict[str, int]] | None = None,
    keep_going: bool = False,
) -> Aggregate:
    """Aggregate `verdicts`, write the exports and put the summary and completeness into
    `manifest` (not yet saved). `panel`: each judge's verdicts and how many requests it was asked.
    `keep_going`: a failing plugin metric is left out and listed in `metric_failures`."""
    # the memo: kept for the report and the next aggregate; the columns: gathered once for every step
    with remembered_in(store.path, keep_only_used=True), columns_shared():
        return _finish(task, registry, store, manifest, verdicts, calibration=calibration, panel=panel,
                       keep_going=keep_going)


def _finish(
    task: Task, registry: Registry, store: RunDirectory, manifest: dict[str, Any], verdicts: list[Verdict], *,
    calibration: AppliedCalibration | None, panel: tuple[dict[str, list[Verdict]], dict[str, int]] | None,
    keep_going: bool,
) -> Aggregate:
    if panel is not None:
        from harness.panel.per_judge import write_panel

        by_judge, asked = panel
        aggregate = write_panel(task, registry, store, manifest, by_judge, asked, keep_going=keep_going)
        # a panel has no per-category table yet (docs/leaderboard.md): one left by an earlier
        # single-judge aggregation is that judge's, and shown as the panel's it misled
        (store.path / SCORES_BY_CATEGORY_FILE).unlink(missing_ok=True)
        manifest.pop("by_category", None)
    else:
        aggregate = task.aggregate(verdicts)
        # the verdicts' frame only when a plugin metric reads it: a million rows cost seconds
        frame = verdicts_frame(verdicts) if registry.metrics else None
        scores = apply_metrics(registry, frame, aggregate.scores, manifest, keep_going=keep_going)
        aggregate = replace(aggregate, scores=scores)
        aggregate = apply_calibration(aggregate, verdicts, calibration, task.config, store.path, manifest)
        aggregate = with_every_model(aggregate, task_models(manifest, verdicts))
        store.write_exports(verdicts, aggregate.scores, aggregate.ranking)
        write_scores_by_category(task, store, manifest, verdicts, task_models(manifest, verdicts))
        manifest["summary"] = aggregate.summary
    manifest["completeness"] = assess(manifest, aggregate.scores, task_models(manifest, verdicts), verdicts)
    return aggregate
