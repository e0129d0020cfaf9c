"""Judge bias diagnostics from pairwise battles: position, length, and self-preference.

LLM judges prefer the answer shown first (or second), prefer longer answers, and prefer answers
from their own model family (Zheng et al. 2023, "Judging LLM-as-a-Judge"; Panickssery et al.
2024). Each diagnostic is a proportion with a Wilson interval, so a reader can tell a real bias
from noise: an unbiased judge has a first-position win rate of 0.5 and, when length carries no
quality signal, P(longer wins) of 0.5.

Battles are rows with item_id, model_a (the answer shown FIRST), model_b, and either `score_a`
in [0, 1] (1 = A won, 0.5 = tie) or a five-level `level` ("A>>B" ... "B>>A") as the pairwise
plugin writes it; length diagnostics also need len_a and len_b. `battles_from_verdicts` turns a
pairwise run's verdicts (harness.load_run(dir).verdicts) into that frame.

Proportions are computed over verdicts; verdicts on one item are correlated, so the Wilson
interval is somewhat narrow when items carry many battles.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from harness.stats._input import require_columns, wilson_interval
from harness.stats.errors import StatsInputError
from harness.stats.preference import SHARE_A, position_consistency

__all__ = [
    "battles_from_verdicts",
    "bias_report",
    "length_bias",
    "model_family",
    "position_bias",
    "same_family",
    "self_preference",
]


def _score_a(battles: pd.DataFrame) -> np.ndarray:
    """Score of the first-shown answer per battle, from `score_a` or the five-level `level`."""
    if "score_a" in battles.columns:
        score = pd.to_numeric(battles["score_a"], errors="coerce").to_numpy(dtype=float)
    elif "level" in battles.columns:
        unknown = set(battles["level"].dropna()) - set(SHARE_A)
        if unknown:
            raise StatsInputError(f"unknown verdict level(s) {sorted(map(str, unknown))}")
        score = battles["level"].map(SHARE_A).to_numpy(dtype=float)
    else:
        raise StatsInputError("battles need a score_a column (0-1) or a level column (A>>B ... B>>A)")
    finite = score[np.isfinite(score)]
    if np.any((finite < 0) | (finite > 1)):
        raise StatsInputError("score_a must lie in [0, 1]")
    return score


def _proportion(successes: float, n: int, confidence: float) -> dict[str, float]:
    low, high = wilson_interval(successes, n, confidence)
    return {"rate": successes / n if n else math.nan, "ci_low": low, "ci_high": high, "n": int(n)}


def battles_from_verdicts(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Pairwise verdicts (as `harness.load_run(dir).verdicts`) -> battles with score_a.

    Keeps status "ok" rows; score_a comes from the parsed level (the judge's decision, not its
    probabilities), since position and length bias are about what the judge decides.
    """
    require_columns(verdicts, ("item_id", "model_a", "model_b", "level"), "the verdicts table")
    rows = verdicts[verdicts["status"] == "ok"] if "status" in verdicts.columns else verdicts
    keep = [c for c in ("item_id", "judge", "model_a", "model_b", "order", "level", "len_a", "len_b") if c in rows.columns]
    battles = rows.loc[:, keep].reset_index(drop=True)
    battles["score_a"] = _score_a(battles)
    return battles


def position_bias(battles: pd.DataFrame, *, confidence: float = 0.95) -> dict[str, Any]:
    """How often the first-shown answer wins, and how often a pair's verdict survives swapping.

    first_position_win_rate: share of decisive verdicts won by position A (ties excluded), with
    a Wilson interval; first_position_score: mean score of A with ties as half (n = all verdicts).
    consistency: over (item, pair) judged in both orders, the share where both orders name the
    same winning model (or both tie).
    """
    require_columns(battles, ("item_id", "model_a", "model_b"), "battles")
    score = _score_a(battles)
    valid = np.isfinite(score)
    decisive = valid & (score != 0.5)
    result: dict[str, Any] = {
        "first_position_win_rate": _proportion(float((score[decisive] > 0.5).sum()), int(decisive.sum()), confidence),
        "first_position_score": float(score[valid].mean()) if valid.any() else math.nan,
        "n": int(valid.sum()),
        "tie_rate": float((score[valid] == 0.5).mean()) if valid.any() else math.nan,
    }
    consistency = position_consistency(pd.DataFrame({
        "item_id": battles["item_id"].to_numpy(), "model_a": battles["model_a"].to_numpy(),
        "model_b": battles["model_b"].to_numpy(), "score_a": np.where(valid, score, np.nan),
    }))
    agree, pairs = (consistency.same_winner, consistency.pairs) if consistency else (0, 0)
    result["consistency"] = _proportion(float(agree), pairs, confidence)
    return result


def length_bias(battles: pd.DataFrame, *, confidence: float = 0.95) -> dict[str, Any]:
    """P(the longer answer wins), over decisive verdicts between answers of different length.

    Ties and equal-length pairs are excluded and counted. 0.5 means length does not sway the
    verdict, if length carries no quality signal in the data; a much higher rate is a warning,
    not a proof (longer answers are sometimes better).
    """
    require_columns(battles, ("len_a", "len_b"), "battles")
    score = _score_a(battles)
    len_a = pd.to_numeric(battles["len_a"], errors="coerce").to_numpy(dtype=float)
    len_b = pd.to_numeric(battles["len_b"], errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(score) & np.isfinite(len_a) & np.isfinite(len_b)
    tie = known & (score == 0.5)
    same_length = known & ~tie & (len_a == len_b)
    used = known & ~tie & ~same_length
    longer_won = ((score > 0.5) & (len_a > len_b)) | ((score < 0.5) & (len_b > len_a))
    result = _proportion(float(longer_won[used].sum()), int(used.sum()), confidence)
    return {"longer_wins": result, "ties_excluded": int(tie.sum()), "equal_length_excluded": int(same_length.sum())}


def model_family(name: str) -> str:
    """The family of a model name: its leading alphabetic token, lower-cased.

    A provider prefix ("openai:", "vllm:") and an organisation ("meta-llama/") are dropped first:
    "openai:gpt-4o-mini" -> "gpt", "meta-llama/Llama-3-8B" -> "llama", "Qwen2-72B" -> "qwen".
    """
    base = str(name).split(":", 1)[-1].rsplit("/", 1)[-1]
    match = re.match(r"[A-Za-z]+", base)
    return match.group(0).lower() if match else ""


def same_family(judge: str, models: Iterable[str]) -> list[str]:
    """The models that share the judge's family (empty when the judge's family is unknown)."""
    family = model_family(judge)
    return [m for m in models if family and model_family(m) == family]


def self_preference(battles: pd.DataFrame, judge: str, *, confidence: float = 0.95) -> dict[str, Any]:
    """Does the judge favour models of its own family?

    head_to_head: in battles between a same-family model and another, the share of decisive
    verdicts the same-family model wins (Wilson interval; 0.5 = no preference, if the models are
    equally good, which only a second judge or human labels can confirm).
    same_family_score / other_score: mean score (ties half) of same-family models and of the
    other models over all their battles, for a quick side-by-side.
    """
    require_columns(battles, ("model_a", "model_b"), "battles")
    score = _score_a(battles)
    a, b = battles["model_a"].astype(str).to_numpy(), battles["model_b"].astype(str).to_numpy()
    own = set(same_family(judge, set(a) | set(b)))
    a_own, b_own = np.isin(a, list(own)), np.isin(b, list(own))
    valid = np.isfinite(score)
    mixed = valid & (a_own ^ b_own)
    own_score = np.where(a_own, score, 1.0 - score)  # the same-family side's score in mixed battles
    decisive = mixed & (score != 0.5)
    sides_score = np.concatenate([score[valid], 1.0 - score[valid]])
    sides_own = np.concatenate([a_own[valid], b_own[valid]])
    return {
        "judge_family": model_family(judge),
        "same_family_models": sorted(own),
        "head_to_head": _proportion(float((own_score[decisive] > 0.5).sum()), int(decisive.sum()), confidence),
        "same_family_score": float(sides_score[sides_own].mean()) if sides_own.any() else math.nan,
        "other_score": float(sides_score[~sides_own].mean()) if (~sides_own).any() else math.nan,
    }


def bias_report(battles: pd.DataFrame, *, judge: str | None = None, confidence: float = 0.95) -> dict[str, Any]:
    """Every diagnostic the battles allow: position always, length with lengths, self-preference
    when a judge name is given (or the battles carry a single `judge`)."""
    report: dict[str, Any] = {"position": position_bias(battles, confidence=confidence)}
    if {"len_a", "len_b"} <= set(battles.columns):
        report["length"] = length_bias(battles, confidence=confidence)
    if judge is None and "judge" in battles.columns and battles["judge"].nunique() == 1:
        judge = str(battles["judge"].iloc[0])
    if judge is not None:
        report["self_preference"] = self_preference(battles, judge, confidence=confidence)
    return report
