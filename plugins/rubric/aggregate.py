"""Rubric numbers: per-model mean score with an item-bootstrap interval, the expected score under
the judge's logprobs, WB-Score columns, a per-category table, and an interval ranking."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.models import Verdict
from harness.protocol import Aggregate
from harness.stats.bootstrap import model_score_frame
from harness.stats.bradley_terry import interval_ranks
from harness_plugins.rubric.config import Rubric, RubricConfig

BASE_COLUMNS = ["model", "score", "ci_low", "ci_high", "n", "expected_score", "invalid", "failed"]
WB_COLUMNS = ["wb_score", "wb_score_adjusted"]
RANKING_COLUMNS = ["model", "rank", "score", "ci_low", "ci_high", "n"]


def judged_scores(verdicts: list[Verdict]) -> pd.DataFrame:
    """One row per parsed verdict: item, model, category, score, expected score (NaN without logprobs)."""
    rows = [
        {
            "item_id": v.item_id,
            "model": v.data["model"],
            "category": v.data.get("category") or "(none)",
            "score": float(v.data["score"]),
            "expected": float(v.data["expected"]) if v.data.get("expected") is not None else np.nan,
        }
        for v in verdicts
        if v.status == "ok"
    ]
    return pd.DataFrame(rows, columns=["item_id", "model", "category", "score", "expected"])


def aggregate_rubric(verdicts: list[Verdict], config: RubricConfig, rubric: Rubric) -> Aggregate:
    judged = judged_scores(verdicts)
    models = sorted({v.data["model"] for v in verdicts})
    scores = model_score_frame(judged, models, value="score", n_rounds=config.n_bootstrap, seed=config.seed)
    scores["expected_score"] = judged.groupby("model")["expected"].mean()
    for status in ("invalid", "failed"):
        counts = pd.Series([v.data["model"] for v in verdicts if v.status == status], dtype=object).value_counts()
        scores[status] = counts
    scores[["n", "invalid", "failed"]] = scores[["n", "invalid", "failed"]].fillna(0).astype(int)
    columns = list(BASE_COLUMNS)
    shown = {"E[score]": "expected_score"}
    if config.preset == "wb_score":
        scores["wb_score"] = scores["score"]
        scores["wb_score_adjusted"] = (scores["score"] - 5.0) * 2.0
        columns[5:5] = WB_COLUMNS
        shown = {"WB-Score adj.": "wb_score_adjusted", **shown}
    scores = scores.reset_index().sort_values(["score", "model"], ascending=[False, True], na_position="last")
    scores = scores[columns].reset_index(drop=True)

    ranking = scores[["model", "score", "ci_low", "ci_high", "n"]].copy()
    low = ranking["ci_low"].fillna(ranking["score"]).to_numpy(dtype=float)
    high = ranking["ci_high"].fillna(ranking["score"]).to_numpy(dtype=float)
    ranked = ranking["score"].notna().to_numpy()
    ranks = pd.array([pd.NA] * len(ranking), dtype="Int64")  # a model with no score is unranked, as pairwise's
    if ranked.any():
        ranks[ranked] = interval_ranks(low[ranked], high[ranked])
    ranking["rank"] = ranks
    ranking = ranking[RANKING_COLUMNS].reset_index(drop=True)

    categories = (
        judged.groupby(["model", "category"])["score"].mean().round(6).unstack("category")
        if not judged.empty else pd.DataFrame()
    )
    summary = {
        "verdicts": {s: sum(v.status == s for v in verdicts) for s in ("ok", "invalid", "failed")},
        "scale": [rubric.min_score, rubric.max_score],
        "preset": config.preset,
        "rubric": {"criterion": rubric.criterion, "scores": {lv.label: lv.description for lv in rubric.levels}},
        "categories": {
            str(model): {str(c): float(x) for c, x in row.items() if pd.notna(x)}
            for model, row in categories.iterrows()
        },
        "score_note": (
            f"score: mean rubric score ({rubric.min_score}-{rubric.max_score}) per model; "
            "E(score): expected score under the judge's logprobs"
            + ("; WB-Score adjusted = (score - 5) * 2" if config.preset == "wb_score" else "")
        ),
    }
    return Aggregate(
        scores=scores, ranking=ranking, summary=summary,
        title="ranking (mean rubric score, 95% bootstrap CI over items)", rank_label="score",
        columns=shown,
    )
