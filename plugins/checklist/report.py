"""What the checklist protocol shows in `harness report` and `harness compare`: pass rates per
item, the judge's unsure answers, questions as comparison units, the questions on verdict cards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from harness.reports.rundata import mean_per_item, ok_verdicts
from harness.reports.view import UNIT_COLUMNS, ReportView

if TYPE_CHECKING:
    from harness.reports.rundata import RunData

#: P(YES) this close to a coin flip marks an answer the judge was unsure of.
UNSURE = (0.35, 0.65)


class ChecklistView(ReportView):
    verdict_columns: ClassVar[frozenset[str]] = frozenset({"model", "question"})
    card_headline: ClassVar[tuple[str, ...]] = ("answer", "p_yes")

    def score_label(self, run: RunData) -> str:
        return "pass rate (%)"

    def item_scores(self, run: RunData) -> pd.DataFrame:
        """% of the item's questions answered YES for the model."""
        judged = question_answers(run)
        if judged.empty:
            return super().item_scores(run)
        return mean_per_item(pd.DataFrame({
            "item_id": judged["item_id"], "model": judged["model"], "category": judged["category"],
            "score": 100.0 * (judged["answer"] == "YES").astype(float),
        }))

    def disagreements(self, run: RunData) -> np.ndarray:
        """Answers whose P(YES) is close to a coin flip."""
        if "p_yes" not in run.verdicts.columns:
            return super().disagreements(run)
        p = pd.to_numeric(run.verdicts["p_yes"], errors="coerce")
        return ((p > UNSURE[0]) & (p < UNSURE[1])).to_numpy()

    def comparison_units(self, runs: list[RunData]) -> tuple[str, str, list[pd.DataFrame]]:
        """Each question on each answer, when the runs share questions; else each answer's score."""
        frames = [question_units(r) for r in runs]
        keys = [set(f["unit"]) for f in frames]
        if all(len(f) for f in frames) and set.intersection(*keys):
            return "checklist question on one answer: 1 = YES, 0 = NO", "nominal", frames
        return super().comparison_units(runs)

    def card_texts(self, record: dict[str, Any]) -> list[tuple[str, str]]:
        texts = []
        if record.get("question"):
            texts.append(("checklist question", str(record["question"])))
        if isinstance(record.get("questions"), list):
            texts.append(("generated checklist", "\n".join(map(str, record["questions"]))))
        return texts

    def card_text_fields(self) -> tuple[str, ...]:
        return ("question", "questions")


def question_answers(run: RunData) -> pd.DataFrame:
    """One row per checklist question answered YES or NO (item_id, model, category, question,
    answer), from both modes' verdicts: `each` stores one `question` and `answer` per verdict,
    `all` the lists `questions` and `answers` of the item's checklist (mode `all`, the default,
    had no per-item scores, pairs or comparison units at all)."""
    frame = ok_verdicts(run)
    columns = ["item_id", "model", "category", "question", "answer"]
    parts = []
    if {"model", "question", "answer"} <= set(frame.columns):
        parts.append(frame[frame["answer"].isin(["YES", "NO"])].reindex(columns=columns))
    if {"model", "questions", "answers"} <= set(frame.columns):
        lists = frame[[isinstance(a, list) and isinstance(q, list) and len(a) == len(q)
                       for a, q in zip(frame["answers"], frame["questions"])]]
        if len(lists):
            long = lists.reindex(columns=["item_id", "model", "category", "questions", "answers"]).explode(
                ["questions", "answers"]).rename(columns={"questions": "question", "answers": "answer"})
            parts.append(long[long["answer"].isin(["YES", "NO"])][columns])
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)


def question_units(run: RunData) -> pd.DataFrame:
    frame = question_answers(run)
    if frame.empty:
        return pd.DataFrame(columns=UNIT_COLUMNS)
    unit = frame["item_id"] + "::" + frame["model"].astype(str) + "::" + frame["question"].astype(str)
    out = pd.DataFrame({"unit": unit, "item_id": frame["item_id"], "value": (frame["answer"] == "YES").astype(float)})
    return out.groupby(["unit", "item_id"], as_index=False)["value"].mean()
