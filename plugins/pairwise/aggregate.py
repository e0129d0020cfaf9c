"""Pairwise numbers: WB-Reward with item-bootstrap intervals, Bradley-Terry ranking, and the
judge's position behaviour (consistency across orders, first-position win rate)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.models import Verdict
from harness.stats.bootstrap import bootstrap_group_means
from harness.stats.bradley_terry import bradley_terry_table
from harness_plugins.pairwise.config import PairwiseConfig
from harness_plugins.pairwise.verdicts import (
    REWARD_A,
    adjust_distribution,
    apply_length_rule,
    expected_reward_a,
)

MIRROR = {"A>>B": "B>>A", "A>B": "B>A", "A=B": "A=B", "B>A": "A>B", "B>>A": "A>>B"}
OUTCOME_COLUMNS = {100: "win_much", 50: "win", 0: "tie", -50: "lose", -100: "lose_much"}
SCORE_COLUMNS = [
    "model", "score", "ci_low", "ci_high", "n", "wb_reward", "expected_reward", "win_rate",
    "win_much", "win", "tie", "lose", "lose_much", "invalid", "failed",
]


def judged_battles(verdicts: list[Verdict], config: PairwiseConfig) -> pd.DataFrame:
    """One row per parsed verdict, the length rule applied, rewards from position A's side."""
    rows = []
    for v in verdicts:
        if v.status != "ok":
            continue
        d = v.data
        level = apply_length_rule(d["level"], d["len_a"], d["len_b"], config.length_k)
        probs = d.get("probs")
        expected = (
            expected_reward_a(adjust_distribution(probs, d["len_a"], d["len_b"], config.length_k))
            if probs else np.nan
        )
        rows.append({
            "item_id": v.item_id, "request_id": v.request_id, "model_a": d["model_a"], "model_b": d["model_b"],
            "raw_level": d["level"], "level": level, "reward_a": REWARD_A[level], "expected_a": expected,
        })
    return pd.DataFrame(rows, columns=["item_id", "request_id", "model_a", "model_b", "raw_level", "level", "reward_a", "expected_a"])


def per_model_rows(battles: pd.DataFrame) -> pd.DataFrame:
    """Each battle twice, once from each model's side."""
    side_a = pd.DataFrame({
        "item_id": battles["item_id"], "model": battles["model_a"],
        "reward": battles["reward_a"], "expected": battles["expected_a"],
    })
    side_b = pd.DataFrame({
        "item_id": battles["item_id"], "model": battles["model_b"],
        "reward": -battles["reward_a"], "expected": -battles["expected_a"],
    })
    return pd.concat([side_a, side_b], ignore_index=True)


def bradley_terry_battles(battles: pd.DataFrame, strong_weight: float) -> pd.DataFrame:
    score_a = np.sign(battles["reward_a"].to_numpy()) * 0.5 + 0.5
    weight = np.where(battles["reward_a"].abs().to_numpy() == 100, strong_weight, 1.0)
    return pd.DataFrame({
        "item_id": battles["item_id"], "model_a": battles["model_a"], "model_b": battles["model_b"],
        "score_a": score_a, "weight": weight,
    })


def position_stats(battles: pd.DataFrame) -> dict[str, Any]:
    """How the judge treats positions: agreement across the two orders and first-position wins."""
    n = len(battles)
    stats: dict[str, Any] = {"judged": n}
    if n == 0:
        return stats
    raw = battles["raw_level"]
    stats["first_position_win_rate"] = round(float(raw.isin(["A>>B", "A>B"]).mean()), 6)
    stats["second_position_win_rate"] = round(float(raw.isin(["B>>A", "B>A"]).mean()), 6)
    stats["tie_rate"] = round(float((raw == "A=B").mean()), 6)
    pair = battles["request_id"].str.rsplit("::", n=1).str[0]
    order = battles["request_id"].str.rsplit("::", n=1).str[1]
    forward = raw[order == "ab"].set_axis(pair[order == "ab"])
    reverse = raw[order == "ba"].set_axis(pair[order == "ba"]).map(MIRROR)
    both = forward.to_frame("forward").join(reverse.to_frame("reverse"), how="inner")
    stats["pairs_with_both_orders"] = len(both)
    if len(both):
        sign = lambda s: s.map(lambda lvl: int(np.sign(REWARD_A[lvl])))  # noqa: E731
        stats["position_consistency"] = round(float((both["forward"] == both["reverse"]).mean()), 6)
        stats["position_consistency_winner"] = round(float((sign(both["forward"]) == sign(both["reverse"])).mean()), 6)
    return stats


def problem_counts(verdicts: list[Verdict], status: str) -> pd.Series:
    models = [m for v in verdicts if v.status == status for m in (v.data["model_a"], v.data["model_b"])]
    return pd.Series(models, dtype=object).value_counts()


def aggregate_pairwise(verdicts: list[Verdict], config: PairwiseConfig):
    from harness.protocol import Aggregate

    battles = judged_battles(verdicts, config)
    sides = per_model_rows(battles)
    models = sorted({m for v in verdicts for m in (v.data["model_a"], v.data["model_b"])})
    reward = bootstrap_group_means(
        sides, item="item_id", group="model", value="reward", n_rounds=config.n_bootstrap, seed=config.seed
    ).set_index("model")
    scores = pd.DataFrame({"model": models}).set_index("model")
    scores["score"] = reward["mean"]
    scores["ci_low"] = reward["ci_low"]
    scores["ci_high"] = reward["ci_high"]
    scores["n"] = reward["n"]
    scores["wb_reward"] = reward["mean"]
    scores["expected_reward"] = sides.groupby("model")["expected"].mean()
    outcome = sides.groupby("model")["reward"]
    scores["win_rate"] = outcome.apply(lambda r: 100.0 * ((r > 0).sum() + 0.5 * (r == 0).sum()) / len(r))
    for value, column in OUTCOME_COLUMNS.items():
        scores[column] = sides[sides["reward"] == value].groupby("model").size()
    scores["invalid"] = problem_counts(verdicts, "invalid")
    scores["failed"] = problem_counts(verdicts, "failed")
    count_columns = ["n", *OUTCOME_COLUMNS.values(), "invalid", "failed"]
    scores[count_columns] = scores[count_columns].fillna(0).astype(int)
    scores = scores.reset_index().sort_values(["score", "model"], ascending=[False, True], na_position="last")
    ranking = bradley_terry_table(
        bradley_terry_battles(battles, config.strong_weight),
        n_bootstrap=config.n_bootstrap,
        seed=config.seed,
        anchor=config.baselines[0] if config.baselines else None,
    )
    summary = {
        "verdicts": {s: sum(v.status == s for v in verdicts) for s in ("ok", "invalid", "failed")},
        "length_k": config.length_k,
        "baselines": config.baselines,
        **position_stats(battles),
    }
    return Aggregate(scores=scores[SCORE_COLUMNS].reset_index(drop=True), ranking=ranking, summary=summary)
