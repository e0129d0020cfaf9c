"""The report's Categories section: scores_by_category.csv (the protocol's score per category,
with its item-bootstrap interval, every model in every category) when the run has one; the
mean per-item score pivot otherwise (a run written before the file existed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from harness.by_category import MIN_ITEMS, SCORES_BY_CATEGORY_FILE
from harness.running.result_tables import read_result_table

if TYPE_CHECKING:
    from harness.reports.rundata import RunData

NOTE = (f"the protocol's score on each category's items, 95% bootstrap interval over those items; a category "
        f"with fewer than {MIN_ITEMS} items has a rough interval and no significance is claimed from it")
FALLBACK_NOTE = "mean per-item score of each model in each category (no scores_by_category.csv: run `harness aggregate`)"
#: A panel's run has no per-category table (docs/leaderboard.md): aggregating again gives none.
PANEL_FALLBACK_NOTE = ("mean per-item score of each model in each category, over every judge of the panel (a panel's "
                       "run has no scores_by_category.csv: judge the task with one judge for per-category scores)")


def category_scores(run: RunData) -> pd.DataFrame | None:
    """The run's scores_by_category.csv, or None when it has none."""
    path = run.directory / SCORES_BY_CATEGORY_FILE
    if not path.is_file():
        return None
    table = read_result_table(path, required=("category", "model"), key=("category", "model"))
    table["note"] = table["note"].astype(object).fillna("") if "note" in table.columns else ""
    return table
