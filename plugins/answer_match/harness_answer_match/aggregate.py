"""Per-model accuracy (share of answers the judge found matching the reference) with an
item-bootstrap interval, the expected accuracy under the judge's P(MATCH), and a ranking."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.models import Verdict
from harness.protocol import Aggregate
from harness.stats.bootstrap import model_score_frame
from harness.stats.bradley_terry import interval_ranks
from harness_answer_match.config import AnswerMatchOptions

SCORE_COLUMNS = ["model", "score", "ci_low", "ci_high", "n", "matched", "expected_accuracy", "invalid", "failed"]
RANKING_COLUMNS = ["model", "rank", "score", "ci_low", "ci_high", "n"]


def aggregate_answer_match(verdicts: list[Verdict], config: AnswerMatchOptions) -> Aggregate:
    judged = pd.DataFrame(
        [
            {
                "item_id": v.item_id,
                "model": v.data["model"],
                "match": 100.0 if v.data["match"] else 0.0,
                "p_match": 100.0 * v.data["p_match"] if v.data.get("p_match") is not None else np.nan,
            }
            for v in verdicts if v.status == "ok"
        ],
        columns=["item_id", "model", "match", "p_match"],
    )
    models = sorted({v.data["model"] for v in verdicts})
    scores = model_score_frame(judged, models, value="match", n_rounds=config.n_bootstrap, seed=config.seed)
    scores["matched"] = (judged.groupby("model")["match"].sum() / 100.0)
    scores["expected_accuracy"] = judged.groupby("model")["p_match"].mean()
    for status in ("invalid", "failed"):
        scores[status] = pd.Series([v.data["model"] for v in verdicts if v.status == status], dtype=object).value_counts()
    counts = ["n", "matched", "invalid", "failed"]
    scores[counts] = scores[counts].fillna(0).astype(int)
    scores = scores.reset_index().sort_values(["score", "model"], ascending=[False, True], na_position="last")
    scores = scores[SCORE_COLUMNS].reset_index(drop=True)

    ranking = scores[["model", "score", "ci_low", "ci_high", "n"]].copy()
    ranked = ranking["score"].notna().to_numpy()
    ranks = np.full(len(ranking), ranked.sum() + 1, dtype=int)
    if ranked.any():
        low = ranking["ci_low"].fillna(ranking["score"]).to_numpy(dtype=float)
        high = ranking["ci_high"].fillna(ranking["score"]).to_numpy(dtype=float)
        ranks[ranked] = interval_ranks(low[ranked], high[ranked])
    ranking["rank"] = ranks
    summary = {
        "verdicts": {s: sum(v.status == s for v in verdicts) for s in ("ok", "invalid", "failed")},
        "judged": len(judged),
        "matched": int((judged["match"] > 0).sum()),
        "score_note": "score: accuracy in % (answers the judge found matching the reference); "
                      "E(acc): mean judge P(MATCH) in %",
    }
    return Aggregate(
        scores=scores, ranking=ranking[RANKING_COLUMNS].reset_index(drop=True), summary=summary,
        title="ranking (answer-match accuracy %, 95% bootstrap CI over items)", rank_label="accuracy",
        columns={"E(acc)": "expected_accuracy"},
    )
