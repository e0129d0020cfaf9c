"""What answer matching shows in `harness report` and `harness compare`, written by this package
through the protocol's report view (harness itself knows nothing of it): accuracy per item, the
answers the judge was unsure of, and a section counting matches per model."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from harness.reports.rundata import mean_per_item, ok_verdicts
from harness.reports.view import ReportSection, ReportView

if TYPE_CHECKING:
    from harness.reports.rundata import RunData

#: P(MATCH) this close to a coin flip marks an answer the judge was unsure of.
UNSURE = (0.35, 0.65)
SECTION_COLUMNS = ["model", "answers", "matched", "mismatched", "unreadable", "failed", "mean P(MATCH) %"]


class AnswerMatchView(ReportView):
    verdict_columns: ClassVar[frozenset[str]] = frozenset({"model", "match"})
    card_headline: ClassVar[tuple[str, ...]] = ("verdict", "p_match")
    distribution_note: ClassVar[str] = "per-item accuracy of each model (100 = the answer matched the reference)"

    def score_label(self, run: RunData) -> str:
        return "accuracy (%)"

    def item_scores(self, run: RunData) -> pd.DataFrame:
        frame = ok_verdicts(run)
        if not {"model", "match"} <= set(frame.columns):
            return super().item_scores(run)
        return mean_per_item(pd.DataFrame({
            "item_id": frame["item_id"], "model": frame["model"], "category": frame["category"],
            "score": 100.0 * frame["match"].eq(True).astype(float),
        }))

    def disagreements(self, run: RunData) -> np.ndarray:
        if "p_match" not in run.verdicts.columns:
            return super().disagreements(run)
        p = pd.to_numeric(run.verdicts["p_match"], errors="coerce")
        return ((p > UNSURE[0]) & (p < UNSURE[1])).to_numpy()

    def sections(self, run: RunData) -> list[ReportSection]:
        return [ReportSection("answer-match", "Answer matching", match_counts(run),
                              "answers per model the judge found matching the reference, not matching, or "
                              "answered unreadably (not scored); mean P(MATCH) from logprobs where given")]


def match_counts(run: RunData) -> pd.DataFrame:
    verdicts = run.verdicts
    if "model" not in verdicts.columns or verdicts.empty:
        return pd.DataFrame(columns=SECTION_COLUMNS)
    rows = []
    for model, group in verdicts.groupby(verdicts["model"].astype(str), sort=True):
        ok = group[group["status"] == "ok"]
        matched = ok["match"].eq(True) if "match" in ok else pd.Series(False, index=ok.index)
        p = pd.to_numeric(ok["p_match"], errors="coerce") if "p_match" in ok else pd.Series(dtype=float)
        rows.append({
            "model": model, "answers": len(group), "matched": int(matched.sum()),
            "mismatched": int((~matched).sum()), "unreadable": int((group["status"] == "invalid").sum()),
            "failed": int((group["status"] == "failed").sum()),
            "mean P(MATCH) %": round(100.0 * float(p.mean()), 1) if p.notna().any() else np.nan,
        })
    return pd.DataFrame(rows, columns=SECTION_COLUMNS)
