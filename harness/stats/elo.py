"""Online Elo: sequential K-factor updates in battle order, for comparison with arena leaderboards.

Bradley-Terry (harness.stats.bradley_terry) is the estimate to defend: it uses every battle
equally and does not depend on their order. Online Elo is what early Chatbot Arena tables and many
arenas still publish; its result depends on the order of battles and on K (recent battles weigh
more), so it is offered for comparison, optionally averaged over random shuffles of the order.

Update rule (Elo 1978): with expected score E_a = 1 / (1 + base^((R_b - R_a) / scale)) and actual
score S_a (1 win, 0.5 tie, 0 loss), R_a += K * w * (S_a - E_a) and R_b -= K * w * (S_a - E_a),
where w is the row's weight (1 when there is no weight column).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.stats.bradley_terry import _battle_counts, _validated, _weights, battle_models, leaderboard_frame
from harness.stats.errors import StatsInputError


def _check(battles: pd.DataFrame, k: float, scale: float, base: float) -> list[str]:
    if k <= 0.0:
        raise StatsInputError("k must be positive")
    if scale <= 0.0 or base <= 1.0:
        raise StatsInputError("scale must be positive and base greater than 1")
    try:
        return battle_models(_validated(battles))
    except ValueError as exc:
        raise StatsInputError(str(exc)) from None


def _run(a: np.ndarray, b: np.ndarray, s: np.ndarray, w: np.ndarray, m: int, k, scale, base, init):
    """One pass over the battles in the given order; returns the final ratings."""
    rating = [float(init)] * m
    log_base = math.log(base)
    for ia, ib, sa, wa in zip(a.tolist(), b.tolist(), s.tolist(), w.tolist()):
        expected = 1.0 / (1.0 + math.exp(log_base * (rating[ib] - rating[ia]) / scale))
        delta = k * wa * (sa - expected)
        rating[ia] += delta
        rating[ib] -= delta
    return np.array(rating)


def online_elo(
    battles: pd.DataFrame,
    *,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
) -> pd.Series:
    """Final Elo ratings after one pass over `battles` in row order, indexed by model (sorted).

    Columns as for Bradley-Terry: model_a, model_b, score_a in [0, 1], optional weight (item_id
    is checked but not used). The row order is the battle order: sort by time first if you have it.
    """
    models = _check(battles, k, scale, base)
    if not models:
        return pd.Series([], dtype=float, name="elo")
    index = pd.Index(models)
    a = index.get_indexer(battles["model_a"])
    b = index.get_indexer(battles["model_b"])
    s = battles["score_a"].to_numpy(dtype=float)
    ratings = _run(a, b, s, _weights(battles), len(models), k, scale, base, init)
    return pd.Series(ratings, index=index.rename("model"), name="elo")


def elo_table(
    battles: pd.DataFrame,
    *,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
    n_shuffles: int = 100,
    seed: int = 0,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Online Elo averaged over `n_shuffles` random battle orders: model, rank, score, ci_low,
    ci_high, n (the table shape of `bradley_terry_table`).

    score is the mean rating over the shuffles; ci_low/ci_high are percentiles of the ratings
    over shuffles: they show how much the ORDER moves the result, not sampling uncertainty.
    With n_shuffles=0 the given row order is used once and the interval collapses to the score.
    """
    models = _check(battles, k, scale, base)
    if n_shuffles < 0:
        raise StatsInputError("n_shuffles must be 0 or more")
    if not 0.0 < ci < 1.0:
        raise StatsInputError("ci must be strictly between 0 and 1")
    if not models:
        return pd.DataFrame(columns=["model", "rank", "score", "ci_low", "ci_high", "n"])
    index = pd.Index(models)
    a = index.get_indexer(battles["model_a"])
    b = index.get_indexer(battles["model_b"])
    s = battles["score_a"].to_numpy(dtype=float)
    w = _weights(battles)
    if n_shuffles == 0:
        runs = _run(a, b, s, w, len(models), k, scale, base, init)[None, :]
    else:
        rng = np.random.default_rng(seed)
        runs = np.empty((n_shuffles, len(models)))
        for r in range(n_shuffles):
            order = rng.permutation(len(a))
            runs[r] = _run(a[order], b[order], s[order], w[order], len(models), k, scale, base, init)
    tail = (1.0 - ci) / 2.0
    low, high = np.quantile(runs, [tail, 1.0 - tail], axis=0)
    table = leaderboard_frame(models, runs.mean(axis=0), low, high, _battle_counts(battles, models))
    table = table.sort_values(["score", "model"], ascending=[False, True], kind="mergesort")
    return table.reset_index(drop=True)
