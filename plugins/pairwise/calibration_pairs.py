"""Pairwise judge verdicts set against human ones: the same item and model pair, in either order.

Rows are the judge's verdicts (one per presentation order), each with the judge's
P(the model shown first is better) and the human outcome for that same model: the mean over
the humans' labels of the pair (a win 1, a tie 0.5), turned to the judge's order.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness.models import Verdict
from harness.stats.preference import SHARE_A

#: P(A better) read from the verdict level alone, when no logprobs were stored: the five levels
#: evenly spaced, so an isotonic map can learn what each level is really worth.
LEVEL_PROBABILITY = {"A>>B": 1.0, "A>B": 0.75, "A=B": 0.5, "B>A": 0.25, "B>>A": 0.0}


def p_first(data: dict[str, Any]) -> tuple[float, str]:
    """The judge's P(position A better) with ties half, and where it came from."""
    probs = data.get("probs")
    if isinstance(probs, dict) and probs:
        total = sum(float(p) for p in probs.values())
        if total > 0:
            return sum(float(p) * SHARE_A.get(level, 0.5) for level, p in probs.items()) / total, "logprobs"
    return LEVEL_PROBABILITY[data["level"]], "level"


def judge_pair_rows(verdicts: list[Verdict]) -> pd.DataFrame:
    """One row per ok pairwise verdict: item, models, level, p (P(A better)), source, the sorted pair."""
    rows = []
    for v in verdicts:
        if v.status != "ok" or v.data.get("level") not in SHARE_A:
            continue
        p, source = p_first(v.data)
        a, b = str(v.data["model_a"]), str(v.data["model_b"])
        rows.append(
            {
                "item_id": v.item_id,
                "model_a": a,
                "model_b": b,
                "level": v.data["level"],
                "p": p,
                "source": source,
                "low": min(a, b),
                "high": max(a, b),
                "judge": v.judge,
            }
        )
    columns = ["item_id", "model_a", "model_b", "level", "p", "source", "low", "high", "judge"]
    return pd.DataFrame(rows, columns=columns)


def human_pair_outcomes(verdicts: list[Verdict]) -> pd.DataFrame:
    """Per (item, low, high) pair: the mean human outcome for `low` and how many labels it has."""
    rows = judge_pair_rows(verdicts)
    if rows.empty:
        return pd.DataFrame(columns=["item_id", "low", "high", "human_low", "labels"])
    share = rows["level"].map(SHARE_A)
    rows["outcome_low"] = np.where(rows["model_a"] == rows["low"], share, 1.0 - share)
    grouped = rows.groupby(["item_id", "low", "high"], sort=True)["outcome_low"]
    return grouped.agg(human_low="mean", labels="size").reset_index()


def match_pairs(judge: pd.DataFrame, human: pd.DataFrame) -> pd.DataFrame:
    """Judge rows whose pair the humans labelled, with `y`: the human outcome for position A."""
    merged = judge.merge(human, on=["item_id", "low", "high"], how="inner")
    merged["y"] = np.where(merged["model_a"] == merged["low"], merged["human_low"], 1.0 - merged["human_low"])
    return merged


def pair_label(outcome_low: float) -> str:
    """`low`, `high` or `tie` from an outcome for the lower-named model."""
    if math.isclose(outcome_low, 0.5):
        return "tie"
    return "low" if outcome_low > 0.5 else "high"


def judge_pair_labels(matched: pd.DataFrame) -> pd.Series:
    """The judge's winner per pair over its orders: the model every order picked, else a tie."""
    share = matched["level"].map(SHARE_A)
    winner = np.where(
        share == 0.5, "tie", np.where((share > 0.5) == (matched["model_a"] == matched["low"]), "low", "high")
    )
    frame = matched.assign(winner=winner)
    return frame.groupby(["item_id", "low", "high"], sort=True)["winner"].agg(
        lambda w: w.iloc[0] if w.nunique() == 1 else "tie"
    )
