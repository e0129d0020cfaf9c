"""One ranking from many tasks: Borda count, Kemeny-Young consensus and the mean score.

Scores from different tasks live on different scales (a win rate, a 1-10 rubric, a pass rate),
so averaging them mixes units; rank-based methods do not. Borda (1781) gives each model, on each
task, one point per model it beats (half a point per tie) and sums them. Kemeny-Young (Kemeny
1959; Young & Levenglick 1978) picks the order that disagrees with the fewest task-level pairwise
preferences; it is the maximum-likelihood consensus under Condorcet's noise model, but NP-hard,
so it is solved exactly by dynamic programming over subsets (O(2^m m^2), not m!) up to
MAX_EXACT models, and approximately (Borda start + local search, flagged) beyond.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.stats.errors import StatsInputError

MAX_EXACT = 10
COLUMNS = ["model", "borda", "kemeny_rank", "mean_score"]


def _score_matrix(results: pd.DataFrame) -> pd.DataFrame:
    """tasks x models matrix where larger is better (ranks are negated); NaN where absent."""
    if "task" not in results.columns or "model" not in results.columns:
        raise StatsInputError("results need columns task and model, plus score or rank")
    if "score" in results.columns:
        value, sign = "score", 1.0
    elif "rank" in results.columns:
        value, sign = "rank", -1.0
    else:
        raise StatsInputError("results need a score column (higher is better) or a rank column (1 is best)")
    numbers = pd.to_numeric(results[value], errors="coerce")
    if numbers.isna().any() or results["task"].isna().any() or results["model"].isna().any():
        raise StatsInputError(f"results have missing or non-numeric {value}, task or model values")
    if results.duplicated(["task", "model"]).any():
        raise StatsInputError("results list a model twice for one task")
    frame = results.assign(_v=sign * numbers.astype(float))
    matrix = frame.pivot(index="task", columns="model", values="_v")
    matrix.columns = [str(c) for c in matrix.columns]
    return matrix.sort_index(axis=1)


def preference_matrix(values: np.ndarray) -> np.ndarray:
    """P[i, j] = number of tasks where model i is ahead of model j (a tie counts half; a task
    missing either model does not count). `values` is tasks x models, larger is better."""
    x = values[:, :, None]
    y = values[:, None, :]
    both = np.isfinite(x) & np.isfinite(y)
    with np.errstate(invalid="ignore"):
        ahead = np.where(both, (x > y) + 0.5 * (x == y), 0.0)
    pref = ahead.sum(axis=0)
    np.fill_diagonal(pref, 0.0)
    return pref


def borda_points(values: np.ndarray) -> np.ndarray:
    """Sum over tasks of the number of models each model beats there (ties half)."""
    return preference_matrix(values).sum(axis=1)


def kemeny_cost(order, pref: np.ndarray) -> float:
    """Disagreements of an order (best first) with the tasks: sum of P[later, earlier]."""
    order = list(order)
    return float(sum(pref[order[j], order[i]] for i in range(len(order)) for j in range(i + 1, len(order))))


def kemeny_exact(pref: np.ndarray, tie_order: np.ndarray | None = None) -> list[int]:
    """An optimal Kemeny order (best first) by dynamic programming over subsets.

    best[S] = least cost of placing the models in S, in some order, at the top; putting model k
    next adds sum_{i in S} P[k, i] (tasks that preferred k over each model placed above it).
    Ties between optimal orders are broken deterministically, trying models in `tie_order`
    (e.g. Borda order) first.
    """
    m = pref.shape[0]
    if m > MAX_EXACT:
        raise StatsInputError(f"exact Kemeny supports at most {MAX_EXACT} models, got {m}; pass approximate=True")
    if m == 0:
        return []
    candidates = list(tie_order) if tie_order is not None else list(range(m))
    full = (1 << m) - 1
    best = np.full(1 << m, np.inf)
    choice = np.full(1 << m, -1, dtype=np.int64)
    best[0] = 0.0
    # added[S, k] = sum of P[k, i] over i in S, built one bit at a time.
    added = np.zeros((1 << m, m))
    for s in range(1, 1 << m):
        low = (s & -s).bit_length() - 1
        added[s] = added[s & (s - 1)] + pref[:, low]
    for s in range(1 << m):
        if not np.isfinite(best[s]):
            continue
        for k in candidates:
            if s >> k & 1:
                continue
            t = s | (1 << k)
            cost = best[s] + added[s, k]
            if cost < best[t] - 1e-9:
                best[t], choice[t] = cost, k
    # Walk back from the full set: choice[S] is the model placed last within S.
    order, s = [], full
    while s:
        k = int(choice[s])
        order.append(k)
        s &= ~(1 << k)
    return order[::-1]


def kemeny_local_search(pref: np.ndarray, start: list[int]) -> list[int]:
    """Approximate Kemeny: from `start`, move single models to better positions until no move
    lowers the cost (a local optimum under insertion moves)."""
    order = list(start)
    improved = True
    while improved:
        improved = False
        for pos in range(len(order)):
            k = order[pos]
            rest = order[:pos] + order[pos + 1 :]
            costs = [kemeny_cost(rest[:q] + [k] + rest[q:], pref) for q in range(len(rest) + 1)]
            q = int(np.argmin(costs))
            if costs[q] < kemeny_cost(order, pref) - 1e-9:
                order = rest[:q] + [k] + rest[q:]
                improved = True
    return order


def aggregate_rankings(results: pd.DataFrame, *, approximate: bool = False) -> pd.DataFrame:
    """Columns model, borda, kemeny_rank, mean_score (and mean_rank when given ranks), sorted by
    kemeny_rank.

    `results` has one row per (task, model) with a `score` (higher is better) or a `rank`
    (1 is best). borda: points summed over tasks (see `borda_points`). kemeny_rank: position in
    the Kemeny-Young consensus order; exact up to MAX_EXACT models, above that an error unless
    `approximate=True` (Borda start + insertion local search; the frame's attrs["kemeny"] says
    "exact" or "approximate"). mean_score: the plain mean over the tasks a model appears in
    (NaN when only ranks are given).
    """
    matrix = _score_matrix(results)
    models = list(matrix.columns)
    values = matrix.to_numpy(dtype=float)
    pref = preference_matrix(values)
    borda = pref.sum(axis=1)
    tie_order = sorted(range(len(models)), key=lambda k: (-borda[k], models[k]))
    if len(models) <= MAX_EXACT:
        order, how = kemeny_exact(pref, np.array(tie_order)), "exact"
    elif approximate:
        order, how = kemeny_local_search(pref, tie_order), "approximate"
    else:
        raise StatsInputError(
            f"exact Kemeny supports at most {MAX_EXACT} models, got {len(models)}; "
            "pass approximate=True for a local-search approximation"
        )
    kemeny_rank = np.empty(len(models), dtype=np.int64)
    kemeny_rank[order] = np.arange(1, len(models) + 1)
    table = pd.DataFrame(
        {
            "model": pd.Series(models, dtype=object),
            "borda": borda,
            "kemeny_rank": kemeny_rank,
            "mean_score": np.nanmean(values, axis=0) if "score" in results.columns else np.nan,
        }
    )
    if "score" not in results.columns:
        table["mean_rank"] = -np.nanmean(values, axis=0)
    table = table.sort_values("kemeny_rank", kind="mergesort").reset_index(drop=True)
    table.attrs["kemeny"] = how
    return table
