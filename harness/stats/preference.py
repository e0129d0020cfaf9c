"""The five-level preference scale of a judge that compares two answers, defined once.

A verdict on answers A (shown first) and B is one of `A>>B`, `A>B`, `A=B`, `B>A`, `B>>A`
(Arena-Hard's labels). This module says what each level is worth (WildBench's WB-Reward and the
share of the win), how a verdict reads with the answers swapped (mirroring), WildBench's length
rule, and how consistent a judge is across the two presentation orders. The pairwise protocol,
its importers, the report and the bias statistics all use these definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

LEVELS: tuple[str, ...] = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
#: Reward of position A for each level (WildBench WB-Reward); position B gets the negative.
REWARD_A: dict[str, int] = {"A>>B": 100, "A>B": 50, "A=B": 0, "B>A": -50, "B>>A": -100}
#: Share of the win that goes to position A (ties half).
SHARE_A: dict[str, float] = {"A>>B": 1.0, "A>B": 1.0, "A=B": 0.5, "B>A": 0.0, "B>>A": 0.0}
#: The same verdict with the answers swapped.
MIRROR: dict[str, str] = {"A>>B": "B>>A", "A>B": "B>A", "A=B": "A=B", "B>A": "A>B", "B>>A": "A>>B"}
#: Levels where the answer shown first (A) or second (B) wins.
A_WINS: tuple[str, ...] = ("A>>B", "A>B")
B_WINS: tuple[str, ...] = ("B>>A", "B>A")
STRONG: tuple[str, ...] = ("A>>B", "B>>A")
#: The levels WildBench's length rule can turn into a tie.
SLIGHT: tuple[str, ...] = ("A>B", "B>A")


def winner(level: str) -> int:
    """+1 when A wins, -1 when B wins, 0 for a tie."""
    reward = REWARD_A[level]
    return (reward > 0) - (reward < 0)


def apply_length_rule(level: str, len_a: float, len_b: float, k: int) -> str:
    """WildBench: a 'slightly better' verdict becomes a tie when the winner is > K chars longer
    (k < 0: off)."""
    if k < 0:
        return level
    if level == "A>B" and len_a - len_b > k:
        return "A=B"
    if level == "B>A" and len_b - len_a > k:
        return "A=B"
    return level


def adjust_distribution(probs: dict[str, float], len_a: float, len_b: float, k: int) -> dict[str, float]:
    """The length rule applied to a distribution over levels: moved mass goes to the tie."""
    adjusted = dict(probs)
    if k < 0:
        return adjusted
    # apply_length_rule's test for each slight level, written out: this runs once per verdict
    for level, longer_by in zip(SLIGHT, (len_a - len_b, len_b - len_a)):
        if longer_by > k:
            adjusted["A=B"] = adjusted.get("A=B", 0.0) + adjusted.get(level, 0.0)
            adjusted[level] = 0.0
    return adjusted


def expected_reward_a(probs: dict[str, float]) -> float:
    """WB-Reward of position A under a distribution over levels (unnormalised weights as given)."""
    return sum(p * REWARD_A[level] for level, p in probs.items())


def battle_mass(probs: dict[str, float], strong_weight: float) -> tuple[float, float]:
    """(score_a, weight) of one verdict in the Bradley-Terry fit: a "much better" level counts
    as `strong_weight` battles (Arena-Hard), others as one; under a distribution each level
    counts with its probability. The ranking and the report's pair differences both use this,
    so the two always come from the same battles."""
    wins = losses = 0.0
    for level, p in probs.items():
        w = p * (strong_weight if level in STRONG else 1.0)
        wins += w * SHARE_A[level]
        losses += w * (1.0 - SHARE_A[level])
    total = wins + losses
    return (wins / total if total > 0 else 0.5), total


def expected_share_a(probs: dict[str, float]) -> float:
    """Position A's share of the win under a distribution over levels, normalised."""
    return sum(p * SHARE_A[level] for level, p in probs.items()) / (sum(probs.values()) or 1.0)


# --------------------------------------------------------------------------------------------
# Both presentation orders
# --------------------------------------------------------------------------------------------

BOTH_ORDERS_COLUMNS = ["item_id", "model_a", "model_b", "forward", "reverse"]


def both_orders(battles: pd.DataFrame, value: str = "level") -> pd.DataFrame:
    """Pairs of answers judged in both orders, matched by item and the two models (not by request
    id): item_id, model_a and model_b of one order, `forward` its verdict and `reverse` the other
    order's verdict seen from the same side (a mirrored level, or 1 - score_a), so equal values
    mean a consistent judge. `value` is `level` or `score_a`; the first verdict of a duplicated
    (item, A, B) counts."""
    import pandas as pd

    if battles.empty or value not in battles.columns:
        return pd.DataFrame(columns=BOTH_ORDERS_COLUMNS)
    rows = battles[battles[value].notna()]
    rows = rows.assign(item_id=_text(rows["item_id"]), model_a=_text(rows["model_a"]), model_b=_text(rows["model_b"]))
    rows = rows.drop_duplicates(["item_id", "model_a", "model_b"])
    first = rows[rows["model_a"] < rows["model_b"]]
    second = rows[rows["model_a"] > rows["model_b"]]
    swapped = second.rename(columns={"model_a": "model_b", "model_b": "model_a", value: "reverse"})
    joined = first.rename(columns={value: "forward"})[["item_id", "model_a", "model_b", "forward"]].merge(
        swapped[["item_id", "model_a", "model_b", "reverse"]], on=["item_id", "model_a", "model_b"], how="inner")
    if value == "level":
        joined["reverse"] = joined["reverse"].map(MIRROR)
    else:
        joined["reverse"] = 1.0 - joined["reverse"].astype(float)
    return joined[BOTH_ORDERS_COLUMNS].reset_index(drop=True)


def _text(column: pd.Series) -> pd.Series:
    """The column's values as text: an object column of strings as it is (a pairwise battle
    table's, the verdicts' own strings), anything else as astype(str) makes it. astype(str) would
    copy every text into pandas' Arrow strings: 60 MB more at a million battles, kept by Arrow's
    memory pool after they are dropped."""
    from pandas.api.types import infer_dtype

    if column.dtype == object and infer_dtype(column, skipna=False) == "string":
        return column
    return column.astype(str)


@dataclass(frozen=True)
class PositionConsistency:
    """Over `pairs` judged in both orders: the share with the same level (`exact`, NaN when only
    scores are known) and how many name the same winner or tie in both (`same_winner`)."""

    exact: float
    same_winner: int
    pairs: int

    @property
    def winner(self) -> float:
        return self.same_winner / self.pairs

def _winners(levels: pd.Series) -> Any:
    """winner() of every level (an array), worked out once per distinct level: a function mapped
    over half a million pairs took 0.3 s a column."""
    import numpy as np
    import pandas as pd

    codes, distinct = pd.factorize(levels, use_na_sentinel=False)
    return np.array([winner(level) for level in distinct], dtype=int)[codes]


def position_consistency(battles: pd.DataFrame) -> PositionConsistency | None:
    """How often the verdict survives swapping the answers; None when no pair has both orders.
    Reads the `level` column when there is one, else `score_a` (0-1, ties 0.5)."""
    import numpy as np

    by_level = "level" in battles.columns
    paired = both_orders(battles, "level" if by_level else "score_a")
    if paired.empty:
        return None
    if by_level:
        same_winner = _winners(paired["forward"]) == _winners(paired["reverse"])
        exact = float((paired["forward"] == paired["reverse"]).mean())
    else:
        forward, reverse = paired["forward"].astype(float), paired["reverse"].astype(float)
        same_winner = np.sign(forward - 0.5) == np.sign(reverse - 0.5)
        exact = float("nan")
    return PositionConsistency(exact=exact, same_winner=int(same_winner.sum()), pairs=len(paired))


def inconsistent_pairs(battles: pd.DataFrame) -> set[tuple[str, str, str]]:
    """(item_id, model, model) keys, models sorted, of pairs whose winner changes when the
    answers swap places."""
    paired = both_orders(battles)
    if paired.empty:
        return set()
    flipped = paired[_winners(paired["forward"]) != _winners(paired["reverse"])]
    return {pair_key(i, a, b) for i, a, b in zip(flipped["item_id"], flipped["model_a"], flipped["model_b"])}


def pair_key(item_id: object, model_a: object, model_b: object) -> tuple[str, str, str]:
    """One key for a pair of answers on an item, whichever was shown first."""
    first, second = sorted((str(model_a), str(model_b)))
    return str(item_id), first, second
