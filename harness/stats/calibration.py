"""Calibrating judge probabilities against human labels, and measuring how calibrated they are.

A judge's P(A wins) is only useful as a probability if, among pairs where it says 0.7, the human
prefers A about 70% of the time. Two standard post-hoc maps learn that correction from human
labels: Platt scaling (Platt 1999; here a logistic regression on the logit of the judge
probability, q = sigmoid(a * logit(p) + b)) and isotonic regression by pool-adjacent-violators
(Zadrozny & Elkan 2002), a monotone step fit that assumes nothing about the shape.

A map fitted and scored on the same labels looks better than it is, so `calibration_report`
scores "after" on out-of-fold predictions: each fold is mapped by a fit on the other folds.
Rows of one item (both presentation orders, several judges) share a fold via `groups`.

Outcomes may be soft (a human tie is 0.5): Brier score, log loss (cross-entropy) and both maps
accept targets in [0, 1].

pandas and scipy.special load inside the functions that use them: a run that applies no
calibration map still imports this module (through harness.calibrate), and should not pay for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from harness.stats.errors import StatsInputError

if TYPE_CHECKING:
    import pandas as pd

Method = Literal["isotonic", "platt"]
EPS = 1e-6  # probabilities are clipped to [EPS, 1-EPS] before logit / log, so 0 and 1 stay finite

__all__ = [
    "IsotonicMap",
    "PlattMap",
    "brier_score",
    "calibration_report",
    "cross_validated_probabilities",
    "expected_calibration_error",
    "fit_isotonic",
    "fit_platt",
    "log_loss",
    "reliability_table",
]


def _probabilities(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if not np.all(np.isfinite(array)):
        raise StatsInputError(f"{name} has missing or infinite values")
    if np.any((array < 0) | (array > 1)):
        raise StatsInputError(f"{name} must lie in [0, 1]")
    return array


def _pair(prob: Any, outcome: Any) -> tuple[np.ndarray, np.ndarray]:
    p, y = _probabilities(prob, "probabilities"), _probabilities(outcome, "outcomes")
    if p.shape != y.shape:
        raise StatsInputError(f"probabilities and outcomes differ in length ({p.size} vs {y.size})")
    return p, y


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------


def brier_score(prob: Any, outcome: Any) -> float:
    """Mean squared difference between probability and outcome (Brier 1950); lower is better."""
    p, y = _pair(prob, outcome)
    return float(np.mean((p - y) ** 2)) if p.size else math.nan


def log_loss(prob: Any, outcome: Any) -> float:
    """Mean cross-entropy -[y log p + (1-y) log(1-p)], p clipped to [1e-6, 1-1e-6]."""
    p, y = _pair(prob, outcome)
    if not p.size:
        return math.nan
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def reliability_table(prob: Any, outcome: Any, *, n_bins: int = 10) -> pd.DataFrame:
    """Equal-width bins of the probability: n, mean probability and mean outcome per bin.

    Bin b holds p in [b/n_bins, (b+1)/n_bins), the last bin includes 1. Empty bins are left out.
    """
    if n_bins < 1:
        raise StatsInputError("n_bins must be at least 1")
    p, y = _pair(prob, outcome)
    import pandas as pd

    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "p": p, "y": y})
    table = frame.groupby("bin").agg(n=("p", "size"), mean_probability=("p", "mean"), mean_outcome=("y", "mean"))
    table.insert(0, "low", table.index / n_bins)
    table.insert(1, "high", (table.index + 1) / n_bins)
    return table.reset_index(drop=True)


def expected_calibration_error(prob: Any, outcome: Any, *, n_bins: int = 10) -> float:
    """ECE: sum over equal-width bins of (bin share) * |mean outcome - mean probability|."""
    table = reliability_table(prob, outcome, n_bins=n_bins)
    if table.empty:
        return math.nan
    weights = table["n"] / table["n"].sum()
    return float((weights * (table["mean_outcome"] - table["mean_probability"]).abs()).sum())


# --------------------------------------------------------------------------------------------
# Maps
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IsotonicMap:
    """A non-decreasing map from judge probability to calibrated probability.

    `knots` are the sorted distinct training probabilities, `values` the pooled outcome means
    there; between knots the map interpolates linearly, outside it is constant.
    """

    knots: np.ndarray
    values: np.ndarray

    def __call__(self, prob: Any) -> np.ndarray:
        return np.interp(_probabilities(prob, "probabilities"), self.knots, self.values)


@dataclass(frozen=True)
class PlattMap:
    """q = sigmoid(slope * logit(p) + intercept); slope 1, intercept 0 is the identity."""

    slope: float
    intercept: float

    def __call__(self, prob: Any) -> np.ndarray:
        from scipy.special import expit, logit

        p = np.clip(_probabilities(prob, "probabilities"), EPS, 1 - EPS)
        return expit(self.slope * logit(p) + self.intercept)


def _pool_adjacent_violators(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit of y (already in x order)."""
    means: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for value, weight in zip(y.tolist(), w.tolist(), strict=True):
        means.append(value)
        weights.append(weight)
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            total = weights[-2] + weights[-1]
            merged = (means[-2] * weights[-2] + means[-1] * weights[-1]) / total
            size = sizes[-2] + sizes[-1]
            del means[-1], weights[-1], sizes[-1]
            means[-1], weights[-1], sizes[-1] = merged, total, size
    return np.repeat(means, sizes)


def fit_isotonic(prob: Any, outcome: Any) -> IsotonicMap:
    """Isotonic regression of outcome on probability by pool-adjacent-violators."""
    p, y = _pair(prob, outcome)
    if p.size == 0:
        raise StatsInputError("cannot fit a calibration map on no data")
    knots, inverse = np.unique(p, return_inverse=True)
    sums = np.bincount(inverse, weights=y)
    counts = np.bincount(inverse).astype(float)
    values = _pool_adjacent_violators(sums / counts, counts)
    return IsotonicMap(knots=knots, values=values)


def fit_platt(prob: Any, outcome: Any, *, ridge: float = 1e-3) -> PlattMap:
    """Logistic regression of outcome on logit(p) by maximum likelihood.

    A small L2 penalty on the slope (in units of observations) keeps the fit finite when the
    logits separate the outcomes perfectly.
    """
    from scipy.special import expit, logit

    p, y = _pair(prob, outcome)
    if p.size == 0:
        raise StatsInputError("cannot fit a calibration map on no data")
    z = logit(np.clip(p, EPS, 1 - EPS))

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        slope, intercept = params
        eta = slope * z + intercept
        q = expit(eta)
        # -[y log q + (1-y) log(1-q)] = log(1 + e^eta) - y * eta, written stably.
        value = np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * ridge * slope**2
        residual = q - y
        return float(value), np.array([np.sum(residual * z) + ridge * slope, np.sum(residual)])

    from scipy.optimize import minimize  # a third of a second to import: only when a map is fitted

    result = minimize(loss, x0=np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return PlattMap(slope=float(result.x[0]), intercept=float(result.x[1]))


def _fit(method: Method, p: np.ndarray, y: np.ndarray) -> IsotonicMap | PlattMap:
    if method == "isotonic":
        return fit_isotonic(p, y)
    if method == "platt":
        return fit_platt(p, y)
    raise StatsInputError(f"calibration method must be 'isotonic' or 'platt', not {method!r}")


def _fold_ids(n: int, folds: int, groups: Any, seed: int) -> np.ndarray:
    """Fold number per row; rows of one group always share a fold."""
    rng = np.random.default_rng(seed)
    if groups is None:
        keys = np.arange(n)
    else:
        import pandas as pd

        keys = pd.factorize(pd.Series(list(groups)))[0]
        if keys.size != n:
            raise StatsInputError(f"groups has {keys.size} entries for {n} probabilities")
    distinct = np.unique(keys)
    if folds < 2 or folds > distinct.size:
        raise StatsInputError(f"folds must be between 2 and the number of groups ({distinct.size}), not {folds}")
    order = rng.permutation(distinct)
    fold_of_key = np.empty(distinct.size, dtype=int)
    fold_of_key[np.searchsorted(distinct, order)] = np.arange(distinct.size) % folds
    return fold_of_key[np.searchsorted(distinct, keys)]


def cross_validated_probabilities(
    prob: Any, outcome: Any, *, method: Method = "isotonic", folds: int = 5, groups: Any = None, seed: int = 0
) -> np.ndarray:
    """Out-of-fold calibrated probabilities: row i is mapped by a fit that never saw row i."""
    p, y = _pair(prob, outcome)
    fold = _fold_ids(p.size, folds, groups, seed)
    out = np.empty_like(p)
    for k in range(folds):
        test = fold == k
        mapping = _fit(method, p[~test], y[~test])
        out[test] = mapping(p[test])
    return out


def calibration_report(
    prob: Any,
    outcome: Any,
    *,
    methods: tuple[Method, ...] = ("isotonic", "platt"),
    folds: int = 5,
    n_bins: int = 10,
    groups: Any = None,
    seed: int = 0,
) -> pd.DataFrame:
    """ECE, Brier score and log loss of the raw judge probabilities and of each map.

    One row per method ("raw" first) with columns method, n, ece, brier, log_loss, mean_probability,
    mean_outcome. Mapped rows are scored on out-of-fold predictions (`folds`-fold cross-validation,
    grouped by `groups` when given), so they show what the map does on labels it was not fit on.
    """
    p, y = _pair(prob, outcome)
    rows = [_scores("raw", p, y, n_bins)]
    for method in methods:
        mapped = cross_validated_probabilities(p, y, method=method, folds=folds, groups=groups, seed=seed)
        rows.append(_scores(method, mapped, y, n_bins))
    import pandas as pd

    return pd.DataFrame(rows)


def _scores(method: str, p: np.ndarray, y: np.ndarray, n_bins: int) -> dict[str, Any]:
    return {
        "method": method,
        "n": int(p.size),
        "ece": expected_calibration_error(p, y, n_bins=n_bins),
        "brier": brier_score(p, y),
        "log_loss": log_loss(p, y),
        "mean_probability": float(p.mean()) if p.size else math.nan,
        "mean_outcome": float(y.mean()) if y.size else math.nan,
    }
