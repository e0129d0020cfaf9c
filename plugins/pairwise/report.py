"""What the pairwise protocol shows in `harness report` and `harness compare`.

Everything starts from the battles: parsed verdicts from position A's side, the run's length
rule (and, with `soft`, the judge's distribution) applied as the aggregation applies them.
Imported runs may carry a soft preference `score_a` instead of a level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from harness.reports.diagnostics import diagnostic_row
from harness.reports.rundata import mean_per_item, number, ok_verdicts
from harness.reports.view import ReportView
from harness.stats import win_rate_matrix
from harness.stats.preference import (
    A_WINS,
    B_WINS,
    REWARD_A,
    SHARE_A,
    STRONG,
    adjust_distribution,
    apply_length_rule,
    inconsistent_pairs,
    pair_key,
    position_consistency,
)
from harness.stats.preference_columns import distribution_values
from harness.stats.significance import pairwise_significance
from harness_plugins.pairwise.aggregate import design_prior_ties, distinct_models
from harness_plugins.pairwise.config import PairwiseConfig

if TYPE_CHECKING:
    from harness.reports.rundata import RunData

BATTLE_COLUMNS = ["item_id", "request_id", "model_a", "model_b", "level", "score_a", "reward_a", "len_a", "len_b",
                  "category", "bt_score_a", "bt_weight"]


def battles(run: RunData) -> pd.DataFrame:
    """Parsed verdicts from position A's side: item_id, request_id, model_a, model_b, level,
    score_a (share of the win, ties half), reward_a (-100..100), len_a, len_b, category, and
    bt_score_a, bt_weight: the verdict as the ranking's Bradley-Terry fit counts it (a "much
    better" verdict weighs the run's `strong_weight` battles), so pair differences match it.

    With the run's `soft` option and logprobs, score_a and reward_a are expectations under the
    judge's distribution, as the aggregation computes them. Vectorised and cached: a report asks
    for it several times, and runs have 100,000 verdicts.
    """
    if "battles" not in run.cache:
        run.cache["battles"] = _battles(run)
    return run.cache["battles"]


def _battles(run: RunData) -> pd.DataFrame:
    frame = ok_verdicts(run)
    if not {"model_a", "model_b"} <= set(frame.columns) or frame.empty:
        return pd.DataFrame(columns=BATTLE_COLUMNS)
    frame = frame[frame["model_a"].notna() & frame["model_b"].notna() & (frame["model_a"] != frame["model_b"])]
    length_k = recorded_length_k(run.config)
    nan = pd.Series(np.nan, index=frame.index)
    len_a = pd.to_numeric(frame["len_a"], errors="coerce") if "len_a" in frame else nan
    len_b = pd.to_numeric(frame["len_b"], errors="coerce") if "len_b" in frame else nan
    level = frame["level"].astype(object) if "level" in frame else pd.Series(None, index=frame.index, dtype=object)
    known = level.isin(list(REWARD_A))
    if length_k >= 0:  # the aggregate's rule, verdict by verdict (unknown lengths compare false)
        ruled = [apply_length_rule(lvl, a, b, length_k) if ok else lvl
                 for lvl, a, b, ok in zip(level, len_a, len_b, known, strict=True)]
        level = pd.Series(ruled, index=frame.index, dtype=object)
    score_a = level.map(SHARE_A).astype(float)
    reward_a = level.map(REWARD_A).astype(float)
    strong_weight = number(run.config.get("strong_weight")) or PairwiseConfig.model_fields["strong_weight"].default
    bt_score_a = score_a.copy()
    bt_weight = level.map(lambda lvl: strong_weight if lvl in STRONG else 1.0).astype(float)
    if run.config.get("soft") and "probs" in frame:
        score_a, reward_a, bt_score_a, bt_weight = _soft_masses(
            frame["probs"], known, len_a, len_b, length_k, strong_weight, (score_a, reward_a, bt_score_a, bt_weight))
    if "score_a" in frame:  # an importer's soft preference, where no level was given
        given = pd.to_numeric(frame["score_a"], errors="coerce")
        use = ~known & given.notna()
        score_a = score_a.mask(use, given.clip(0.0, 1.0))
        bt_score_a = bt_score_a.mask(use, given.clip(0.0, 1.0))
        bt_weight = bt_weight.mask(use, 1.0)
        reward_a = reward_a.mask(use, 200.0 * given.clip(0.0, 1.0) - 100.0)
        level = level.mask(use & (given > 0.5), "A>B").mask(use & (given < 0.5), "B>A").mask(use & (given == 0.5), "A=B")
    keep = score_a.notna()
    out = pd.DataFrame({
        "item_id": frame["item_id"].astype(str), "request_id": frame["request_id"].astype(object),
        "model_a": frame["model_a"].astype(str), "model_b": frame["model_b"].astype(str), "level": level,
        "score_a": score_a.clip(0.0, 1.0), "reward_a": reward_a, "len_a": len_a, "len_b": len_b,
        "category": frame["category"], "bt_score_a": bt_score_a.clip(0.0, 1.0), "bt_weight": bt_weight,
    })
    return out[keep.to_numpy()].reset_index(drop=True)[BATTLE_COLUMNS]


def _soft_masses(
    probs: pd.Series, known: pd.Series, len_a: pd.Series, len_b: pd.Series, length_k: int, strong_weight: float,
    hard: tuple[pd.Series, pd.Series, pd.Series, pd.Series],
) -> tuple[pd.Series, ...]:
    """score_a, reward_a, bt_score_a, bt_weight with the judge's distribution where a verdict
    has one (`hard`'s values elsewhere); computed as columns (harness.stats.preference_columns),
    then one Series each, because setting pandas cells one by one cost seconds on 50,000 verdicts."""
    columns = [series.to_numpy(dtype=float, copy=True) for series in hard]
    rows, adjusted = [], []
    for position, (dist, ok, a, b) in enumerate(zip(probs.tolist(), known.tolist(), len_a.tolist(), len_b.tolist(),
                                                     strict=True)):
        if ok and isinstance(dist, dict) and dist:
            rows.append(position)
            # with the rule off the lengths are not read (two conversions per verdict spared)
            adjusted.append(_adjusted(dist, number(a), number(b), length_k) if length_k >= 0 else
                            _adjusted(dist, None, None, length_k))
    values = distribution_values(adjusted, strong_weight)  # the scalar functions' floats, as columns
    columns[0][rows] = values.share_a
    columns[1][rows] = values.reward_a / np.where(values.total == 0, 1.0, values.total)
    columns[2][rows], columns[3][rows] = values.bt_score_a, values.bt_weight
    return tuple(pd.Series(values, index=series.index) for values, series in zip(columns, hard, strict=True))


def recorded_length_k(options: dict[str, Any]) -> int:
    """The length rule's K from run.json's options, read as the aggregate reads it: a missing or
    unreadable value is the option's default (off); 0 is a K like any other."""
    value = number(options.get("length_k"))
    return int(PairwiseConfig.model_fields["length_k"].default) if value is None else int(value)


def _adjusted(probs: dict[str, float], len_a: float | None, len_b: float | None, k: int) -> dict[str, float]:
    """The judge's distribution over the known levels, the length rule applied where both
    lengths are known."""
    out = {lvl: float(p) for lvl, p in probs.items() if lvl in REWARD_A}
    return out if len_a is None or len_b is None or k < 0 else adjust_distribution(out, len_a, len_b, k)


def longer_wins_rate(frame: pd.DataFrame) -> tuple[float, int] | None:
    """P(the longer answer wins) over decisive verdicts between answers of different length."""
    if frame.empty or frame["len_a"].isna().all():
        return None
    lens = frame.dropna(subset=["len_a", "len_b"])
    lens = lens[(lens["len_a"] != lens["len_b"]) & (lens["level"] != "A=B")]
    if lens.empty:
        return None
    a_won = lens["level"].isin(A_WINS)
    a_longer = lens["len_a"] > lens["len_b"]
    return float((a_won == a_longer).mean()), len(lens)


def position_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """First-position win rate and agreement of a pair's two orders (one swapped)."""
    if frame.empty:
        return []
    n = len(frame)
    rows = [
        diagnostic_row("position", "first-position win rate", float(frame["level"].isin(A_WINS).mean()), n,
                       "share of verdicts won by the answer shown first; 0.5 is unbiased"),
        diagnostic_row("position", "second-position win rate", float(frame["level"].isin(B_WINS).mean()), n, ""),
        diagnostic_row("position", "tie rate", float((frame["level"] == "A=B").mean()), n, ""),
    ]
    consistency = position_consistency(frame[["item_id", "model_a", "model_b", "level"]])
    if consistency is not None:
        rows.append(diagnostic_row("position", "position consistency", consistency.exact, consistency.pairs,
                                   "same verdict after swapping the answers (5 levels)"))
        rows.append(diagnostic_row("position", "winner consistency", consistency.winner, consistency.pairs,
                                   "same winner (or tie) after swapping"))
    return rows


def length_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    found = longer_wins_rate(frame)
    if found is None:
        return []
    value, n = found
    return [diagnostic_row("length", "P(longer answer wins)", value, n,
                           "decisive verdicts between answers of different length; 0.5 means no length preference")]


class PairwiseView(ReportView):
    verdict_columns: ClassVar[frozenset[str]] = frozenset({"model_a", "model_b"})
    card_headline: ClassVar[tuple[str, ...]] = ("level", "score_a")
    distribution_note: ClassVar[str] = "per-item scores of each model (mean reward over that item's battles)"

    def score_label(self, run: RunData) -> str:
        return "rating (Bradley-Terry, Elo scale)" if not run.ranking.empty else "score"

    def item_scores(self, run: RunData) -> pd.DataFrame:
        """Mean reward (-100..100) over the item's battles, from the model's side."""
        b = battles(run)
        if b.empty:
            return pd.DataFrame(columns=["item_id", "model", "category", "score"])
        sides = pd.concat([
            pd.DataFrame({"item_id": b["item_id"], "model": b["model_a"], "category": b["category"], "score": b["reward_a"]}),
            pd.DataFrame({"item_id": b["item_id"], "model": b["model_b"], "category": b["category"], "score": -b["reward_a"]}),
        ], ignore_index=True)
        return mean_per_item(sides)

    def ranking_extras(self, scores: pd.DataFrame) -> pd.DataFrame:
        """The ranking's score is the Bradley-Terry rating; scores.csv's score is the reward. Its
        `wb_reward` (the parsed verdicts' WB-Reward) is the same number unless the run scored the
        judge's logprobs (`soft`), so it is shown only when it differs (`ranking_note` says why)."""
        if "score" not in scores.columns:
            return scores
        # a plugin metric's own `reward` column keeps its values under a name of its own (the two
        # columns of one name made the report die with an internal error, for every later report)
        scores = scores.rename(columns={"reward": "reward (metric)"}).rename(columns={"score": "reward"})
        if "wb_reward" in scores.columns and np.allclose(scores["reward"], scores["wb_reward"], atol=1e-9, equal_nan=True):
            scores = scores.drop(columns="wb_reward")
        return scores

    def ranking_note(self, run: RunData) -> str:
        soft = bool(run.config.get("soft"))
        return ("reward: WB-Reward (-100..100) from each model's side"
                + (", expected under the judge's logprobs (soft); wb_reward: the same from the parsed verdicts alone, "
                   "E[score] over the verdicts with logprobs only" if soft else " (scores.csv's score and wb_reward)")
                + "; win rate: ties half")

    def significance(self, run: RunData, scores: pd.DataFrame, *, n_rounds: int, seed: int,
                     alpha: float) -> tuple[pd.DataFrame, str]:
        b = battles(run)
        if b.empty or len(distinct_models(b)) < 2:
            return pd.DataFrame(), "no parsed pairwise verdicts"
        bt = b[["item_id", "model_a", "model_b", "bt_score_a", "bt_weight"]]
        frame = pairwise_significance(bt.rename(columns={"bt_score_a": "score_a", "bt_weight": "weight"}),
                                      n_rounds=n_rounds, seed=seed, alpha=alpha,
                                      prior_ties=design_prior_ties(number(run.config.get("prior_ties"))))
        return frame, (f"difference of Bradley-Terry ratings (Elo scale), 95% item-bootstrap interval, "
                       f"bootstrap p-value, Holm-adjusted over {len(frame)} pairs")

    def win_rates(self, run: RunData, scores: pd.DataFrame) -> tuple[pd.DataFrame, str]:
        b = battles(run)
        if b.empty:
            return pd.DataFrame(), ""
        return (win_rate_matrix(b[["item_id", "model_a", "model_b", "score_a"]]),
                "share of the row model's wins against the column model over both orders, ties half")

    def diagnostics(self, run: RunData) -> list[dict[str, Any]]:
        return position_rows(battles(run)) + length_rows(battles(run))

    def disagreements(self, run: RunData) -> np.ndarray:
        """Both verdicts of every pair whose winner changes when the answers swap places."""
        verdicts = run.verdicts
        flipped = inconsistent_pairs(battles(run))
        if not flipped or not {"model_a", "model_b"} <= set(verdicts.columns):
            return np.zeros(len(verdicts), dtype=bool)
        keys = (pair_key(i, a, b) for i, a, b in zip(verdicts["item_id"], verdicts["model_a"], verdicts["model_b"]))
        return np.fromiter((key in flipped for key in keys), dtype=bool, count=len(verdicts))

    def comparison_units(self, runs: list[RunData]) -> tuple[str, str, list[pd.DataFrame]]:
        return ("pair of answers on one item: 1 = the alphabetically first model won, 0 = the other, "
                "0.5 = tie (averaged over both orders)", "ordinal", [pair_units(r) for r in runs])


def pair_units(run: RunData) -> pd.DataFrame:
    b = battles(run)
    if b.empty:
        return pd.DataFrame(columns=["unit", "item_id", "value"])
    first = np.where(b["model_a"] < b["model_b"], b["model_a"], b["model_b"])
    second = np.where(b["model_a"] < b["model_b"], b["model_b"], b["model_a"])
    share_first = np.where(b["model_a"] < b["model_b"], b["score_a"], 1.0 - b["score_a"])
    frame = pd.DataFrame({"unit": b["item_id"] + "::" + first + " vs " + second, "item_id": b["item_id"],
                          "share": share_first})
    mean = frame.groupby(["unit", "item_id"], as_index=False)["share"].mean()
    mean["value"] = np.select([mean["share"] > 0.5 + 1e-9, mean["share"] < 0.5 - 1e-9], [1.0, 0.0], 0.5)
    return mean[["unit", "item_id", "value"]]

