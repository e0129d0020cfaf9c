"""Pool a judge panel's verdicts into one result: scores.csv and ranking.csv of a panel run.

Each protocol's own `aggregate()` stays per judge (scores_by_judge.csv); how the judges are pooled
is the protocol's to say (`Task.panel_view()`, harness.protocol.panel_view). This module holds what every
way of pooling shares: the verdicts of all judges kept apart by judge, the note that says how a
score was pooled, and a ranking from pooled scores with intervals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.stats.bradley_terry import interval_ranks

if TYPE_CHECKING:
    import pandas as pd

    from harness.models import Verdict
    from harness.protocol.aggregate import Aggregate

#: The normal quantile of a two-sided 95% interval.
Z95 = 1.959963984540054
RANKING_COLUMNS = ["model", "rank", "score", "ci_low", "ci_high", "n"]


@dataclass
class Pooled:
    aggregate: Aggregate
    #: How the pooled score was made (for run.json and the report).
    method: str
    #: Per judge facts the pooling learned (rubric: severity), judge label -> facts.
    judges: dict[str, dict[str, Any]] = field(default_factory=dict)


def kept_apart(verdicts: dict[str, list[Verdict]]) -> list[Verdict]:
    """Every judge's verdicts in one list, request ids prefixed with the judge so they stay distinct."""
    return [v.model_copy(update={"request_id": f"{judge}||{v.request_id}"})
            for judge, vs in verdicts.items() for v in vs]


def noted(summary: dict[str, Any], how: str) -> dict[str, Any]:
    """The summary with its score note saying how the panel was pooled."""
    note = summary.get("score_note", "")
    return {**summary, "score_note": f"panel, pooled by {how}. {note}".strip()}


def ranked(scores: pd.DataFrame) -> pd.DataFrame:
    """ranking.csv from scores with intervals: rank 1 + the models whose interval lies above."""
    ranking = scores[scores["score"].notna()][["model", "score", "ci_low", "ci_high", "n"]].copy()
    low = ranking["ci_low"].fillna(ranking["score"]).to_numpy(float)
    high = ranking["ci_high"].fillna(ranking["score"]).to_numpy(float)
    ranking["rank"] = interval_ranks(low, high) if len(ranking) else []
    ranking = ranking.sort_values(["rank", "score", "model"], ascending=[True, False, True])
    ranking["rank"] = ranking["rank"].astype(int)
    return ranking[RANKING_COLUMNS].reset_index(drop=True)
