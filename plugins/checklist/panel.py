"""A checklist panel: each response's pass rate averaged over the judges that scored it, then the
item bootstrap as for one judge; agreement on each YES/NO answer to the same question about the
same response (nominal)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from harness.models import Verdict
from harness.protocol import Aggregate, Task
from harness.protocol.panel_view import PanelLabels, PanelView
from harness.protocol.pooling import Pooled, kept_apart, noted, ranked
from harness_plugins.checklist.aggregate import answered_questions, response_pass_rates


class ChecklistPanelView(PanelView):
    def pool(self, task: Task, verdicts: dict[str, list[Verdict]], by_judge: dict[str, Aggregate]) -> Pooled:
        return mean_pass_rate_pool(task, task.aggregate(kept_apart(verdicts)), verdicts)

    def labels(self, verdicts: dict[str, list[Verdict]], pooled: Aggregate) -> PanelLabels:
        rows: list[tuple[str, str, str]] = []
        for judge, vs in verdicts.items():
            rows += [(judge, f"{a.item_id}||{a.model}||{a.question}", "YES" if a.yes else "NO")
                     for a in answered_questions(vs).itertuples()]
        return PanelLabels(pd.DataFrame(rows, columns=["judge", "unit", "label"]), "nominal")


def checklist_pass_rates(verdicts: dict[str, list[Verdict]]) -> pd.DataFrame:
    """Per (judge, item, model): the response's pass rate (0-100) and expected pass rate."""
    frames = [response_pass_rates(answered_questions(vs)).assign(judge=judge) for judge, vs in verdicts.items()]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["judge", "item_id", "model", "pass_rate", "expected_pass_rate"])
    return pd.concat(frames, ignore_index=True)


def mean_pass_rate_pool(task: Task, base: Aggregate, verdicts: dict[str, list[Verdict]]) -> Pooled:
    """`base` (the protocol's aggregate over every judge) with each model's score the item
    bootstrap of its responses' pass rates averaged over the judges."""
    from harness.stats.bootstrap import model_score_frame

    rates = checklist_pass_rates(verdicts)
    responses = rates.groupby(["item_id", "model"], as_index=False)[["pass_rate", "expected_pass_rate"]].mean()
    models = list(base.scores["model"])
    config = task.config
    pooled = model_score_frame(responses, models, value="pass_rate",
                               n_rounds=int(getattr(config, "n_bootstrap", 1000)), seed=int(getattr(config, "seed", 0)))
    scores = base.scores.set_index("model")
    for column in ("score", "ci_low", "ci_high", "n"):
        scores[column] = pooled[column]
    scores["n"] = scores["n"].fillna(0).astype(int)
    scores["pass_rate"] = scores["score"]
    if "expected_pass_rate" in scores:
        scores["expected_pass_rate"] = responses.groupby("model")["expected_pass_rate"].mean() if len(responses) else np.nan
    scores = scores.reset_index().sort_values(["score", "model"], ascending=[False, True], na_position="last")
    scores = scores[list(base.scores.columns)].reset_index(drop=True)
    summary = noted(base.summary, "averaging each response's pass rate over the judges")
    return Pooled(replace(base, scores=scores, ranking=ranked(scores), summary=summary), "mean_pass_rate")
