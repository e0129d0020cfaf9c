"""What listwise runs add to `harness report` and `harness compare`: a per-item score from each
order (100 for first, 0 for last), the judge's position behaviour, and a position table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from harness.reports.diagnostics import diagnostic_row
from harness.reports.rundata import mean_per_item, ok_verdicts
from harness.reports.view import ReportSection, ReportView
from harness_plugins.listwise.verdicts import labels_for

if TYPE_CHECKING:
    from harness.reports.rundata import RunData


def placements(run: RunData) -> pd.DataFrame:
    """One row per (valid order, model): item_id, model, category, label, position (1 = best),
    size, score (100 first ... 0 last)."""
    rows = []
    for v in ok_verdicts(run).itertuples():
        ranking, shown = list(v.ranking), list(v.models)
        size = len(ranking)
        for position, model in enumerate(ranking, start=1):
            rows.append({"item_id": v.item_id, "model": model, "category": getattr(v, "category", None),
                         "label": labels_for(size)[shown.index(model)], "position": position, "size": size,
                         "score": 100.0 * (size - position) / (size - 1)})
    return pd.DataFrame(rows, columns=["item_id", "model", "category", "label", "position", "size", "score"])


class ListwiseView(ReportView):
    verdict_columns: ClassVar[frozenset[str]] = frozenset({"models", "order", "ranking"})
    card_headline: ClassVar[tuple[str, ...]] = ("order",)
    distribution_note: ClassVar[str] = "per-item placement of each model (100 = ranked first, 0 = last)"

    def score_label(self, run: RunData) -> str:
        return "rating (Plackett-Luce, Elo scale)" if not run.ranking.empty else "score"

    def item_scores(self, run: RunData) -> pd.DataFrame:
        frame = placements(run)
        if frame.empty:
            return pd.DataFrame(columns=["item_id", "model", "category", "score"])
        return mean_per_item(frame[["item_id", "model", "category", "score"]])

    def ranking_note(self, run: RunData) -> str:
        return "first %: share of the model's orders it topped; mean position: 1 = best"

    def diagnostics(self, run: RunData) -> list[dict[str, Any]]:
        frame = placements(run)
        firsts = frame[(frame["position"] == 1) & (frame["size"] == frame["size"].max())] if not frame.empty else frame
        if firsts.empty:
            return []
        k = int(frame["size"].max())
        return [diagnostic_row("position", f"ranked first when shown as {label}",
                               float((firsts["label"] == label).mean()), len(firsts),
                               f"share of orders topped by the answer in position {label}; {1 / k:.2f} is unbiased")
                for label in labels_for(k)]

    def sections(self, run: RunData) -> list[ReportSection]:
        frame = placements(run)
        if frame.empty:
            return []
        k = int(frame["size"].max())
        full = frame[frame["size"] == k]
        table = full.groupby("label").agg(
            ranked_first=("position", lambda s: float((s == 1).mean())), mean_position=("position", "mean"),
            n=("position", "size")).reindex(labels_for(k)).reset_index()
        return [ReportSection(
            id="listwise-positions", title="Position bias (listwise)", table=table,
            note=(f"how often the answer shown in each label position was ranked first (unbiased: {1 / k:.2f}) "
                  f"and its mean position (unbiased: {(k + 1) / 2:.1f}); every tuple is shown in rotations, "
                  "so each model visits the positions alike"))]
