"""What the rubric protocol shows in `harness report`: its score's name, and the verdicts where
the judge's expected score (from logprobs) lies far from the score it wrote."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from harness.reports.view import ReportView

if TYPE_CHECKING:
    from harness.reports.rundata import RunData

#: |score - expected score| from which the judge counts as unsure of its score.
UNSURE_GAP = 1.0


class RubricView(ReportView):
    verdict_columns: ClassVar[frozenset[str]] = frozenset({"model", "score"})
    card_headline: ClassVar[tuple[str, ...]] = ("score", "expected")

    def score_label(self, run: RunData) -> str:
        if _rasch(run):
            return "fair score (many-facet Rasch model over the judge panel, each judge's severity removed)"
        return "mean rubric score"

    def interval_label(self, run: RunData) -> str:
        return "ability +-1.96 SE of the Rasch fit, on the score scale" if _rasch(run) else super().interval_label(run)

    def disagreements(self, run: RunData) -> np.ndarray:
        verdicts = run.verdicts
        if not {"score", "expected"} <= set(verdicts.columns):
            return super().disagreements(run)
        score = pd.to_numeric(verdicts["score"], errors="coerce")
        gap = (score - pd.to_numeric(verdicts["expected"], errors="coerce")).abs()
        return (gap >= UNSURE_GAP).to_numpy()


def _rasch(run: RunData) -> bool:
    """Whether the run's scores are a judge panel's Rasch fair scores (plugins/rubric/panel.py)."""
    return bool(((run.manifest or {}).get("summary") or {}).get("rasch"))
