"""Is model X really better than model Y? Pairwise tests with multiple-comparison correction.

A leaderboard of m models invites m(m-1)/2 comparisons; testing each at 5% would flag some
difference by chance alone, so p-values are adjusted (Holm 1979 by default: as strict as
Bonferroni on the family-wise error rate but uniformly more powerful).

Uncertainty comes from resampling *items*, as everywhere in harness: battles and scores of one
instruction are correlated. Every pair sees the same bootstrap draws (a paired bootstrap), so a
difference's interval reflects that both models answered the same instructions.

p-values of the bootstrap test use the shift method (Efron & Tibshirani 1993, ch. 16): under the
null the centred bootstrap distribution d* - d stands in for the sampling distribution of d, and
p = (1 + #{|d* - d| >= |d|}) / (B + 1). The +1 keeps p > 0, as a finite resample cannot prove more.

Below `MIN_ITEMS` items a pair gets its difference and interval but no p-value: a resample cannot
show more variety than the items have, so the bootstrap test rejects a true null far more often
than it claims (about 10% at 10 items, 17-30% at 3-5; about 7% from 20 items on, for a nominal
5%: bench/significance_min_items.py, docs/statistics.md).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from harness.stats._normal import norm
from harness.stats.bootstrap import item_bootstrap_counts
from harness.stats.bradley_terry import (
    _to_rating,
    _validated,
    battle_models,
    bootstrap_bradley_terry,
    fit_bradley_terry,
    item_wins,
)
from harness.stats.bt_prior import PRIOR_TIES, laplace_sd, perfect_records, shared_ties
from harness.stats.errors import StatsInputError
from harness.stats.intervals import column_quantiles, zero_width

COLUMNS = ["model_1", "model_2", "diff", "ci_low", "ci_high", "p_value", "p_adjusted", "significant", "items"]
#: Fewest items behind a pair for a p-value (see the module docstring and docs/statistics.md).
MIN_ITEMS = 20
CORRECTIONS = ("holm", "bonferroni", "none")


# --------------------------------------------------------------------------------------------
# Multiple-comparison corrections
# --------------------------------------------------------------------------------------------


def bonferroni(p_values) -> np.ndarray:
    """min(1, m * p), m = number of non-NaN p-values; NaN stays NaN."""
    p = _as_p_array(p_values)
    m = int(np.isfinite(p).sum())
    return np.minimum(1.0, p * m)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment (Holm 1979), in the input order; NaN stays NaN.

    With p sorted ascending, p_adj(k) = max_{j <= k} min(1, (m - j + 1) p(j)) (1-based k): reject
    H(k) at level alpha exactly when Holm's sequential procedure would.
    """
    p = _as_p_array(p_values)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="mergesort")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def adjust(p_values, correction: str) -> np.ndarray:
    """Apply the named correction: "holm", "bonferroni" or "none"."""
    if correction == "holm":
        return holm(p_values)
    if correction == "bonferroni":
        return bonferroni(p_values)
    if correction == "none":
        return _as_p_array(p_values).copy()
    raise StatsInputError(f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}")


def _as_p_array(p_values) -> np.ndarray:
    p = np.asarray(p_values, dtype=float).reshape(-1)
    bad = np.isfinite(p) & ((p < 0.0) | (p > 1.0))
    if bad.any():
        raise StatsInputError("p-values must lie in [0, 1]")
    return p


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------


def _check_options(n_rounds: int, alpha: float, correction: str, ci: float) -> None:
    if n_rounds < 1:
        raise StatsInputError("n_rounds must be at least 1")
    if not 0.0 < alpha < 1.0:
        raise StatsInputError("alpha must be strictly between 0 and 1")
    if not 0.0 < ci < 1.0:
        raise StatsInputError("ci must be strictly between 0 and 1")
    if correction not in CORRECTIONS:
        raise StatsInputError(f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}")


def shift_p_values(observed: np.ndarray, boot: np.ndarray) -> np.ndarray:
    """Two-sided bootstrap p-values, one per column of `boot` (rounds x tests); NaN rounds skipped."""
    valid = np.isfinite(boot)
    extreme = (np.abs(boot - observed) >= np.abs(observed) - 1e-12 * np.abs(observed)) & valid
    return (1.0 + extreme.sum(axis=0)) / (1.0 + valid.sum(axis=0))


def _result(pairs, diff, boot, p_value, alpha, correction, ci, items, min_items) -> pd.DataFrame:
    """The table; pairs resting on fewer than `min_items` items get no p-value (and are left out
    of the correction), zero-width intervals none either (intervals.py)."""
    tail = (1.0 - ci) / 2.0
    items = np.asarray(items, dtype=np.int64)
    p_value = np.where(items >= min_items, np.asarray(p_value, dtype=float), np.nan)
    if boot.shape[1]:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: no shared items
            low, high = column_quantiles(boot, [tail, 1.0 - tail])
    else:
        low = high = np.zeros(0)
    p_adj = adjust(p_value, correction)
    frame = pd.DataFrame(
        {
            "model_1": pd.Series([a for a, _ in pairs], dtype=object),
            "model_2": pd.Series([b for _, b in pairs], dtype=object),
            "diff": np.asarray(diff, dtype=float),
            "ci_low": low,
            "ci_high": high,
            "p_value": np.asarray(p_value, dtype=float),
            "p_adjusted": p_adj,
            "significant": np.asarray(p_adj < alpha, dtype=bool),
            "items": items,
        }
    )
    point = zero_width(frame["ci_low"].to_numpy(), frame["ci_high"].to_numpy())
    frame.loc[point, ["ci_low", "ci_high"]] = np.nan
    return frame[COLUMNS]


def _ordered_pairs(models: list[str], score: np.ndarray) -> list[tuple[int, int]]:
    """All pairs (i, j) with i ranked above j: higher score first, then model name."""
    order = sorted(range(len(models)), key=lambda k: (-score[k], models[k]))
    return [(order[x], order[y]) for x in range(len(order)) for y in range(x + 1, len(order))]


# --------------------------------------------------------------------------------------------
# Bradley-Terry differences from battles
# --------------------------------------------------------------------------------------------


def pairwise_significance(
    battles: pd.DataFrame,
    *,
    n_rounds: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    correction: str = "holm",
    ci: float = 0.95,
    scale: float = 400.0,
    base: float = 10.0,
    prior_ties: float = PRIOR_TIES,
    min_items: int = MIN_ITEMS,
) -> pd.DataFrame:
    """Every pair of models (model_1 ranked above model_2 by Bradley-Terry score): the Elo-scale
    rating difference, its item-bootstrap interval, a two-sided bootstrap p-value, the adjusted
    p-value and whether it is below `alpha`.

    `battles` has columns item_id, model_a, model_b, score_a and optional weight, as for
    `bradley_terry_table`. The bootstrap refits BT on each resample of items, so all pairs come
    from the same rounds. Deterministic for a given seed. The fit has the same weak prior as
    `bradley_terry_table` (`prior_ties`); for a pair with a model that never lost or never won
    (whose bootstrap rounds all repeat its record), the interval is at least the prior's Laplace
    interval and the p-value at least its normal-approximation p-value.
    """
    _check_options(n_rounds, alpha, correction, ci)
    if len(battles) == 0:
        return _result([], [], np.zeros((n_rounds, 0)), [], alpha, correction, ci, [], min_items)
    try:
        models = battle_models(_validated(battles))
    except ValueError as exc:
        raise StatsInputError(str(exc)) from None
    wins, _ = item_wins(battles, models)
    total = wins.total()
    prior = shared_ties(total, prior_ties)
    nats = fit_bradley_terry(total + prior)
    theta = _to_rating(nats, scale, base, 0.0)
    boot = _to_rating(bootstrap_bradley_terry(wins, n_rounds=n_rounds, seed=seed, start=nats, prior=prior),
                      scale, base, 0.0)
    pairs = _ordered_pairs(models, theta)
    i = np.array([p[0] for p in pairs], dtype=int)
    j = np.array([p[1] for p in pairs], dtype=int)
    diff = theta[i] - theta[j]
    boot_diff = boot[:, i] - boot[:, j]
    p_value = shift_p_values(diff, boot_diff)
    names = [(models[a], models[b]) for a, b in pairs]
    judged = wins.judged()  # items x models
    items = (judged[:, i] & judged[:, j]).sum(axis=0)
    perfect = perfect_records(total)
    blind = np.flatnonzero(perfect[i] | perfect[j]) if prior_ties > 0 and len(pairs) else np.zeros(0, dtype=int)
    if blind.size == 0:
        return _result(names, diff, boot_diff, p_value, alpha, correction, ci, items, min_items)
    eye = np.eye(len(models))
    sd = laplace_sd(total + prior, nats, eye[i[blind]] - eye[j[blind]]) * scale / np.log(base)
    with np.errstate(divide="ignore", invalid="ignore"):
        normal_p = np.where(sd > 0, 2.0 * norm.sf(np.abs(diff[blind]) / sd), 1.0)
    p_value[blind] = np.maximum(p_value[blind], normal_p)
    table = _result(names, diff, boot_diff, p_value, alpha, correction, ci, items, min_items)
    half = norm.ppf(0.5 + ci / 2.0) * sd
    table.loc[blind, "ci_low"] = np.fmin(table.loc[blind, "ci_low"].to_numpy(), diff[blind] - half)
    table.loc[blind, "ci_high"] = np.fmax(table.loc[blind, "ci_high"].to_numpy(), diff[blind] + half)
    return table


# --------------------------------------------------------------------------------------------
# Mean differences of per-item scores
# --------------------------------------------------------------------------------------------


def score_matrix(scores: pd.DataFrame) -> pd.DataFrame:
    """items x models matrix of mean scores (NaN where a model has no score on an item)."""
    missing = [c for c in ("item_id", "model", "score") if c not in scores.columns]
    if missing:
        raise StatsInputError(f"scores is missing column(s) {missing}")
    if scores["item_id"].isna().any() or scores["model"].isna().any():
        raise StatsInputError("scores has missing item_id or model values")
    values = pd.to_numeric(scores["score"], errors="coerce")
    if (scores["score"].notna() & values.isna()).any():
        raise StatsInputError("score must be numeric")
    frame = scores.assign(score=values.astype(float))
    frame = frame[frame["score"].notna()]
    matrix = frame.pivot_table(index="item_id", columns="model", values="score", aggfunc="mean")
    matrix = matrix.sort_index(axis=0).sort_index(axis=1)
    matrix.columns = [str(c) for c in matrix.columns]
    return matrix


def paired_score_significance(
    scores: pd.DataFrame,
    *,
    n_rounds: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    correction: str = "holm",
    method: str = "bootstrap",
    ci: float = 0.95,
    min_items: int | None = None,
) -> pd.DataFrame:
    """Every pair of models (model_1 with the higher mean score first) on the items both have
    a score for: mean per-item difference, item-bootstrap interval of it, a two-sided p-value,
    the adjusted p-value and whether it is below `alpha`.

    `scores` has columns item_id, model, score (a model scored twice on an item counts with its
    mean). `method="bootstrap"` tests with the shift bootstrap; `"permutation"` with a paired
    sign-flip test (exchangeable under the null that the two models' scores on an item are
    interchangeable). The interval always comes from the item bootstrap. A pair with no shared
    items gets NaN values and is left out of the correction; `items` counts the shared items,
    and a pair with fewer than `min_items` gets no p-value either (default: `MIN_ITEMS` for the
    bootstrap; none for the permutation test, whose p-value is valid at any size).
    """
    _check_options(n_rounds, alpha, correction, ci)
    if method not in ("bootstrap", "permutation"):
        raise StatsInputError(f"method must be 'bootstrap' or 'permutation', got {method!r}")
    matrix = score_matrix(scores)
    models = list(matrix.columns)
    values = matrix.to_numpy(dtype=float)
    means = np.nanmean(values, axis=0) if values.size else np.zeros(len(models))
    pairs = _ordered_pairs(models, means)
    if not pairs:
        return _result([], [], np.zeros((n_rounds, 0)), [], alpha, correction, ci, [], min_items)
    i = np.array([p[0] for p in pairs], dtype=int)
    j = np.array([p[1] for p in pairs], dtype=int)
    delta = values[:, i] - values[:, j]  # items x pairs, NaN where not shared
    shared = np.isfinite(delta)
    delta0 = np.where(shared, delta, 0.0)
    mask = shared.astype(float)
    n_shared = mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = delta0.sum(axis=0) / n_shared
        draws = item_bootstrap_counts(values.shape[0], n_rounds, seed).astype(float)
        boot = (draws @ delta0) / (draws @ mask)
    if method == "bootstrap":
        p_value = shift_p_values(diff, boot)
    else:
        p_value = sign_flip_p_values(delta0, n_shared, diff, n_rounds, seed)
    p_value = np.where(n_shared > 0, p_value, np.nan)
    if min_items is None:
        min_items = MIN_ITEMS if method == "bootstrap" else 0
    names = [(models[a], models[b]) for a, b in pairs]
    return _result(names, diff, boot, p_value, alpha, correction, ci, n_shared, min_items)


def sign_flip_p_values(
    delta0: np.ndarray, n_shared: np.ndarray, observed: np.ndarray, n_rounds: int, seed: int
) -> np.ndarray:
    """Paired permutation test: flip the sign of each item's difference at random.

    Under H0 (the two scores of an item are exchangeable) every sign pattern is equally likely;
    p = (1 + #{|mean of flipped| >= |observed|}) / (R + 1). Rounds are processed in blocks so
    memory stays bounded on large inputs.
    """
    rng = np.random.default_rng(seed + 1)
    n_items = delta0.shape[0]
    hits = np.zeros(delta0.shape[1])
    block = max(1, min(n_rounds, 2_000_000 // max(n_items, 1)))
    done = 0
    with np.errstate(invalid="ignore", divide="ignore"):
        while done < n_rounds:
            size = min(block, n_rounds - done)
            signs = rng.integers(0, 2, size=(size, n_items)) * 2.0 - 1.0
            flipped = (signs @ delta0) / n_shared
            hits += (np.abs(flipped) >= np.abs(observed) - 1e-12 * np.abs(observed)).sum(axis=0)
            done += size
    return (1.0 + hits) / (1.0 + n_rounds)
