"""Agreement between raters: judge vs judge, judge vs human, a judge vs itself.

Raw agreement overstates reliability when one label dominates, so alongside it we report
chance-corrected coefficients: Cohen's kappa (Cohen 1960; weighted form, Cohen 1968) for two
raters, and Krippendorff's alpha for any number of raters with missing values and a metric
matching the scale (nominal, ordinal, interval, ratio). Rankings are compared with Kendall's tau
and Spearman's rho.

Every function takes plain sequences, numpy arrays or pandas objects and returns floats (or a
small dict of floats), so `harness compare` and notebooks can call them directly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from harness.stats._input import paired
from harness.stats.errors import StatsInputError

Weights = Literal["linear", "quadratic"] | None
Level = Literal["nominal", "ordinal", "interval", "ratio"]

__all__ = [
    "accuracy_with_ties",
    "cohens_kappa",
    "krippendorff_alpha",
    "percent_agreement",
    "rank_correlation",
]


def percent_agreement(a: Any, b: Any) -> float:
    """Share of pairs with equal labels (0-1), over the pairs where neither label is missing."""
    left, right = paired(a, b)
    if len(left) == 0:
        return math.nan
    return float(np.mean(left.to_numpy() == right.to_numpy()))


def cohens_kappa(a: Any, b: Any, *, labels: Sequence[Any] | None = None, weights: Weights = None) -> float:
    """Cohen's kappa between two raters, optionally weighted for ordered labels.

    kappa = 1 - sum(w * O) / sum(w * E), where O is the observed joint distribution of labels, E
    the product of its margins (what chance agreement would give) and w the disagreement weight:
    1 off the diagonal (unweighted), |i-j|/(K-1) (linear) or ((i-j)/(K-1))^2 (quadratic), with i, j
    the positions of the labels in `labels` (default: the sorted observed labels). Pairs with a
    missing label are dropped. Returns NaN when chance disagreement is zero (both raters used a
    single, identical label), where kappa is undefined.
    """
    left, right = paired(a, b)
    if len(left) == 0:
        return math.nan
    categories = list(labels) if labels is not None else _sorted_labels(set(left) | set(right))
    index = {label: i for i, label in enumerate(categories)}
    unknown = (set(left) | set(right)) - set(index)
    if unknown:
        raise StatsInputError(f"labels {sorted(map(str, unknown))} are not in the given labels {categories}")
    k = len(categories)
    observed = np.zeros((k, k))
    np.add.at(observed, (left.map(index).to_numpy(int), right.map(index).to_numpy(int)), 1.0)
    observed /= observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    w = _disagreement_weights(k, weights)
    chance = float((w * expected).sum())
    if chance == 0.0:
        return math.nan
    return float(1.0 - (w * observed).sum() / chance)


def _sorted_labels(labels: set[Any]) -> list[Any]:
    """Labels in sorted order, or in a stable text order when they do not compare (mixed types)."""
    try:
        return sorted(labels)
    except TypeError:
        return sorted(labels, key=lambda v: (type(v).__name__, str(v)))


def _disagreement_weights(k: int, weights: Weights) -> np.ndarray:
    i, j = np.indices((k, k))
    if weights is None:
        return (i != j).astype(float)
    if k < 2:
        return np.zeros((k, k))
    if weights == "linear":
        return np.abs(i - j) / (k - 1)
    if weights == "quadratic":
        return ((i - j) / (k - 1)) ** 2
    raise StatsInputError(f"weights must be None, 'linear' or 'quadratic', not {weights!r}")


def krippendorff_alpha(ratings: Any, *, level: Level = "nominal") -> float:
    """Krippendorff's alpha for a (raters x units) table with NaN/None for missing ratings.

    alpha = 1 - D_o / D_e, computed from the coincidence matrix o (Krippendorff 2011, "Computing
    Krippendorff's alpha-reliability"): each unit with m >= 2 ratings adds every ordered pair of
    its values with weight 1/(m-1); D_o averages the squared distance delta^2 over o and D_e over
    all pairs of pairable values. Units with fewer than two ratings carry no information and
    drop out. delta^2 by level: nominal 0/1; ordinal (sum of n_g for g from c to k, minus
    (n_c+n_k)/2)^2; interval (c-k)^2; ratio ((c-k)/(c+k))^2. NaN when there is no variation.
    """
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise StatsInputError(f"level must be nominal, ordinal, interval or ratio, not {level!r}")
    table = pd.DataFrame(np.asarray(ratings, dtype=object) if not isinstance(ratings, pd.DataFrame) else ratings)
    if table.ndim != 2 or table.shape[0] < 1:
        raise StatsInputError("ratings must be a 2-D table of shape (raters, units)")
    long = table.stack(future_stack=True).dropna()
    if level != "nominal":
        try:
            long = long.astype(float)
        except (TypeError, ValueError) as exc:
            raise StatsInputError(f"{level} alpha needs numeric ratings: {exc}") from None
    if long.empty:
        return math.nan
    values = np.array(_sorted_labels(set(long.tolist())), dtype=object if level == "nominal" else float)
    index = {v: i for i, v in enumerate(values.tolist())}
    units = long.index.get_level_values(1).to_numpy()
    unit_codes, unit_index = np.unique(units.astype(str) if units.dtype == object else units, return_inverse=True)
    counts = np.zeros((len(unit_codes), len(values)))
    np.add.at(counts, (unit_index, long.map(index).to_numpy(int)), 1.0)
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    if counts.shape[0] == 0:
        return math.nan
    scaled = counts / (m - 1)[:, None]
    coincidence = scaled.T @ counts - np.diag(scaled.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    delta2 = _squared_distances(values, n_c, level)
    observed = (coincidence * delta2).sum() / n
    expected = (np.outer(n_c, n_c) * delta2).sum() / (n * (n - 1))
    if expected == 0.0:
        return math.nan
    return float(1.0 - observed / expected)


def _squared_distances(values: np.ndarray, n_c: np.ndarray, level: Level) -> np.ndarray:
    k = len(values)
    if level == "nominal":
        return 1.0 - np.eye(k)
    v = values.astype(float)
    if level == "interval":
        return (v[:, None] - v[None, :]) ** 2
    if level == "ratio":
        total = v[:, None] + v[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(total == 0, 0.0, (v[:, None] - v[None, :]) / total)
        return d**2
    cumulative = np.concatenate([[0.0], np.cumsum(n_c)])  # cumulative[i] = n_0 + ... + n_{i-1}
    lo, hi = np.minimum.outer(np.arange(k), np.arange(k)), np.maximum.outer(np.arange(k), np.arange(k))
    between = cumulative[hi + 1] - cumulative[lo]  # n_lo + ... + n_hi
    return (between - (n_c[lo] + n_c[hi]) / 2.0) ** 2


def accuracy_with_ties(judge: Any, human: Any, *, tie_label: Any = "tie") -> dict[str, float]:
    """Judge-vs-human accuracy on pairwise preferences when either side may call a tie.

    Convention (stated because papers differ): a pair scores 1 when the labels match, 0.5 when
    exactly one side says tie (a tie is half right against a win, as a tie is half a win in
    Bradley-Terry), and 0 when they pick opposite winners.

    Returns
      accuracy           half-credit score averaged over all pairs
      exact              share of identical labels over all pairs (ties a class of their own,
                         the MT-Bench "with tie" agreement)
      accuracy_non_tie   half-credit score over the pairs where the human did not tie
                         (a judge tie there counts 0.5)
      accuracy_decisive  exact agreement over pairs where neither side tied (MT-Bench "w/o tie")
      n, n_non_tie, n_decisive, judge_tie_rate, human_tie_rate
    """
    j, h = paired(judge, human, ("judge", "human"))
    jv, hv = j.to_numpy(), h.to_numpy()
    judge_tie, human_tie = jv == tie_label, hv == tie_label
    same = jv == hv
    credit = np.where(same, 1.0, np.where(judge_tie ^ human_tie, 0.5, 0.0))
    non_tie, decisive = ~human_tie, ~human_tie & ~judge_tie

    def mean(x: np.ndarray) -> float:
        return float(x.mean()) if x.size else math.nan

    return {
        "accuracy": mean(credit),
        "exact": mean(same.astype(float)),
        "accuracy_non_tie": mean(credit[non_tie]),
        "accuracy_decisive": mean(same[decisive].astype(float)),
        "n": int(len(jv)),
        "n_non_tie": int(non_tie.sum()),
        "n_decisive": int(decisive.sum()),
        "judge_tie_rate": mean(judge_tie.astype(float)),
        "human_tie_rate": mean(human_tie.astype(float)),
    }


#: Up to this many pairs, rank-correlation p-values are exact: every permutation of one list is
#: enumerated (9! = 362,880). Above it the usual approximations (Spearman's t, Kendall's normal
#: with ties) are within a few percent. Fewer than 3 pairs give no p-value: every ordering of
#: two values is perfectly (anti)correlated, so there is nothing to test.
EXACT_MAX_N = 9
MIN_N_FOR_P = 3


def rank_correlation(x: Any, y: Any) -> dict[str, float]:
    """Kendall's tau-b and Spearman's rho between two score lists, with their two-sided p-values.

    Two pandas Series are aligned on their index (e.g. scores per model from two runs), keeping
    the labels both have; anything else is paired by position. Pairs with a missing value drop.
    p-values are exact permutation p-values up to `EXACT_MAX_N` pairs (with 3 models the
    smallest possible is 1/3, never the 0 an asymptotic formula gives), NaN below `MIN_N_FOR_P`.
    """
    if isinstance(x, pd.Series) and isinstance(y, pd.Series):
        x, y = x.align(y, join="inner")
    left, right = paired(x, y, ("x", "y"))
    n = len(left)
    if n < 2:
        return {"kendall_tau": math.nan, "kendall_p": math.nan, "spearman": math.nan, "spearman_p": math.nan, "n": n}
    a, b = left.to_numpy(float), right.to_numpy(float)
    with warnings.catch_warnings():  # constant input: the NaN result says it, no stderr noise
        warnings.simplefilter("ignore")
        tau = sps.kendalltau(a, b)
        rho = sps.spearmanr(a, b)
        tau_p, rho_p = float(tau.pvalue), float(rho.pvalue)
        if n < MIN_N_FOR_P:
            tau_p = rho_p = math.nan
        elif n <= EXACT_MAX_N:
            tau_p, rho_p = exact_rank_p_values(a, b, float(tau.statistic), float(rho.statistic))
    return {
        "kendall_tau": float(tau.statistic),
        "kendall_p": tau_p,
        "spearman": float(rho.statistic),
        "spearman_p": rho_p,
        "n": n,
    }


def exact_rank_p_values(a: np.ndarray, b: np.ndarray, tau: float, rho: float) -> tuple[float, float]:
    """Two-sided permutation p-values of Kendall's tau-b and Spearman's rho: the share of all
    n! orderings of `b` whose |statistic| reaches the observed one (ties kept as midranks).
    NaN when either list is constant (the statistics are undefined)."""
    if not (math.isfinite(tau) and math.isfinite(rho)):
        return math.nan, math.nan
    import itertools

    n = len(a)
    ra, rb = sps.rankdata(a), sps.rankdata(b)
    perms = np.array(list(itertools.permutations(range(n))), dtype=np.int8)
    shuffled = rb[perms]  # (n!, n)
    ca, cb = ra - ra.mean(), shuffled - shuffled.mean(axis=1, keepdims=True)
    rhos = (cb @ ca) / math.sqrt((ca @ ca) * float(cb[0] @ cb[0]))
    i, j = np.triu_indices(n, 1)
    sa = np.sign(ra[j] - ra[i])
    sb = np.sign(shuffled[:, j] - shuffled[:, i])
    taus = (sb @ sa) / math.sqrt(float(np.abs(sa).sum()) * float(np.abs(sb[0]).sum()))
    tol = 1e-9
    return (float(np.mean(np.abs(taus) >= abs(tau) - tol)), float(np.mean(np.abs(rhos) >= abs(rho) - tol)))
