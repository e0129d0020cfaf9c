"""Merge the columns that plugin metrics compute into a run's scores table.

A metric (registered through `harness_register_metrics`) sees the verdicts, the protocol's
scores and the manifest, and returns rows keyed by `model`. Metrics only ever ADD columns: a
metric that returns a column scores.csv already has (from the protocol or an earlier metric)
would silently change a published number, so that is an error naming the plugin.

During `harness run` (`keep_going=True`) a failing metric is skipped instead: the run's own files
are still written without its columns, the failure is listed in run.json (`metric_failures`) and
the run ends as failed (exit 1) naming the metric and its plugin, since all its judge calls were
paid for.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.bulk_reads import flat_records_frame
from harness.errors import BadInput

if TYPE_CHECKING:
    from harness.models import Verdict
    from harness.registry import Registry


def verdicts_frame(verdicts: Iterable[Verdict]) -> pd.DataFrame:
    """Verdicts as a metric sees them: one row each, `data` fields as columns.

    The same shape `harness.load_run(dir).verdicts` has, so a metric behaves identically on a
    fresh run and on `harness aggregate` of a stored one.
    """
    return flat_records_frame(verdict.model_dump(mode="json") for verdict in verdicts)


def apply_metrics(
    registry: Registry, verdicts: pd.DataFrame | None, scores: pd.DataFrame, manifest: dict[str, Any],
    *, keep_going: bool = False,
) -> pd.DataFrame:
    """`scores` with every registered metric's columns appended (left join on `model`).

    Metrics run in registration order and each sees the scores as the previous ones left them.
    Models a metric does not mention get NaN; rows for models not in `scores` are dropped. A
    failing metric raises BadInput, or with `keep_going` is left out and described in
    `manifest["metric_failures"]`.
    """
    merged = scores.copy()
    if verdicts is None:  # no metric asks for the verdicts' frame when none is registered
        verdicts = pd.DataFrame()
    for name, metric in registry.metrics.items():
        owner = registry.owner("metric", name)
        where = f"metric {name!r} of plugin {owner!r}"
        try:
            try:
                rows = metric(verdicts.copy(), merged.copy(), manifest)
            except BadInput:
                raise
            except Exception as exc:
                raise BadInput(f"{where} failed: {type(exc).__name__}: {exc} (skip it with --block-plugin {owner})") from None
            if rows is not None:
                merged = _merge(merged, rows, where)
        except BadInput as exc:
            if not keep_going:
                raise
            manifest.setdefault("metric_failures", []).append(str(exc))
    return merged


def _merge(scores: pd.DataFrame, rows: Any, where: str) -> pd.DataFrame:
    if not isinstance(rows, pd.DataFrame):
        raise BadInput(f"{where} returned {type(rows).__name__}, not a DataFrame or None")
    if not all(isinstance(c, str) for c in rows.columns):  # MultiIndex tuples, numbers: no CSV header
        raise BadInput(f"{where} returned columns that are not names (text)")
    if rows.columns.duplicated().any():  # each would be written twice over, as scores.csv headers
        raise BadInput(f"{where} returned the column {rows.columns[rows.columns.duplicated()][0]!r} twice")
    if "model" not in rows.columns:
        raise BadInput(f"{where} returned no 'model' column")
    if rows["model"].duplicated().any():
        raise BadInput(f"{where} returned more than one row for a model")
    unknown = sorted({str(m) for m in rows["model"]} - {str(m) for m in scores["model"]})
    if unknown or not all(isinstance(m, str) for m in rows["model"]):
        raise BadInput(f"{where} returned model names that are not the run's ({', '.join(unknown[:3]) or 'not text'})")
    new = [c for c in rows.columns if c != "model"]
    clash = sorted(str(c) for c in new if c in scores.columns)
    if clash:
        raise BadInput(f"{where} returns column(s) {', '.join(clash)} that scores.csv already has; "
                       "a metric may only add columns")
    if not new:
        return scores
    return scores.merge(rows[["model", *new]], on="model", how="left", validate="one_to_one")
