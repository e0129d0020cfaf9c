"""A pairwise panel: Bradley-Terry over every judge's battles (the protocol's own aggregate over
the verdicts of all judges, each judge's requests kept apart so both orders of a pair pair up per
judge; WB-Reward and win rates are averages over all judges' battles). Judges are compared on
the winner of each ordered battle (A, tie, B; nominal), each judge with the other judges'
majority (leave-one-out, so a judge never agrees with itself, ties counting half), and each
judge's position bias is shown beside it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from harness.models import Verdict
from harness.panel.agreement import rounded
from harness.protocol import Aggregate, Task
from harness.protocol.panel_view import PanelLabels, PanelView
from harness.protocol.pooling import Pooled, kept_apart, noted
from harness.stats.agreement import accuracy_with_ties, cohens_kappa
from harness.stats.preference import LEVELS, winner

#: The label of a battle's winner, by harness.stats.preference.winner, and its share of the win.
WINNER = {1: "A", 0: "tie", -1: "B"}
SHARE = {"A": 1.0, "tie": 0.5, "B": 0.0}
POSITION_FACTS = ("first_position_win_rate", "second_position_win_rate", "tie_rate", "position_consistency",
                  "position_consistency_winner", "pairs_with_both_orders")


class PairwisePanelView(PanelView):
    def pool(self, task: Task, verdicts: dict[str, list[Verdict]], by_judge: dict[str, Aggregate]) -> Pooled:
        base = task.aggregate(kept_apart(verdicts))
        return Pooled(replace(base, summary=noted(base.summary, "Bradley-Terry over every judge's battles")),
                      "bradley_terry")

    def labels(self, verdicts: dict[str, list[Verdict]], pooled: Aggregate) -> PanelLabels:
        rows = [(judge, v.request_id, WINNER[winner(v.data["level"])]) for judge, vs in verdicts.items() for v in vs
                if v.status == "ok" and v.data.get("level") in LEVELS]
        return PanelLabels(pd.DataFrame(rows, columns=["judge", "unit", "label"]), "nominal")

    def judge_facts(self, aggregate: Aggregate) -> dict[str, Any]:
        return {"position": {k: aggregate.summary[k] for k in POSITION_FACTS if k in aggregate.summary}}

    def agreement_with_pool(self, labels: PanelLabels, judge: str) -> dict[str, Any]:
        """The judge against the rest of the panel's majority on the same ordered battles."""
        frame = labels.labels
        mine = frame[frame["judge"] == judge].set_index("unit")["label"]
        others = frame[frame["judge"] != judge]
        if mine.empty or others.empty:
            return {"n": 0}
        share = others.assign(share=others["label"].map(SHARE)).groupby("unit")["share"].mean()
        pool = share.map(lambda s: "A" if s > 0.5 else "B" if s < 0.5 else "tie")
        mine, pool = mine.align(pool, join="inner")
        if mine.empty:
            return {"n": 0}
        scores = accuracy_with_ties(mine.to_numpy(object), pool.to_numpy(object))
        return {"accuracy": rounded(scores["accuracy"]), "exact": rounded(scores["exact"]),
                "kappa": rounded(cohens_kappa(mine.to_numpy(object), pool.to_numpy(object))), "n": int(scores["n"])}
