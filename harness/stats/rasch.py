"""Many-facet Rasch rating-scale model: model ability, item difficulty and judge severity on one scale.

Raw mean scores mix three things: how good the model is, how hard its items were, and how harsh
its judges were. When models are not all scored by the same judges on the same items (a panel
that splits the work, several samples of one judge, missing scores), raw means are not
comparable. The many-facet Rasch model (Linacre 1989, "Many-Facet Rasch Measurement") separates
the facets; with Andrich's (1978) rating-scale thresholds it handles ordinal 1..K scores:

    log P(X = k) / P(X = k-1) = theta_m - delta_i - lambda_j - tau_k,   k = 2..K

theta: model ability, delta: item difficulty, lambda: judge severity, tau: thresholds shared by
all items and judges. Identified by sum(delta) = sum(lambda) = sum(tau) = 0. Fitted by joint
maximum likelihood with a small ridge penalty (so a model with all-top scores gets a large but
finite ability) using L-BFGS with the analytic gradient.

The "fair score" (Linacre's fair average) is the expected score of a model on an average item
(delta = 0) under an average judge (lambda = 0): a score on the original 1..K scale, free of who
judged what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax
from scipy.stats import norm

from harness.stats._input import require_columns
from harness.stats.errors import StatsInputError

#: L2 penalty (in units of observations) on all parameters; keeps extreme-score facets finite
#: and barely moves well-measured ones.
RIDGE = 0.01

__all__ = ["RaschFit", "fit_rasch", "panel_scores"]


@dataclass(frozen=True)
class RaschFit:
    """Estimates of a many-facet rating-scale fit; every table carries n (observations)."""

    abilities: pd.DataFrame  # model, ability, se, fair_score, raw_mean, n (+ ci_low, ci_high)
    difficulties: pd.DataFrame  # item_id, difficulty, se, raw_mean, n
    severities: pd.DataFrame  # judge, severity, se, raw_mean, n
    thresholds: np.ndarray  # tau_2..tau_K, summing to zero
    categories: np.ndarray  # the score values 1..K (or low..high)
    log_likelihood: float
    converged: bool
    extras: dict[str, Any] = field(default_factory=dict)

    def expected_score(self, ability: Any, difficulty: Any = 0.0, severity: Any = 0.0) -> np.ndarray:
        """Expected score at the given facet values (defaults: average item, average judge)."""
        eta = np.asarray(ability, dtype=float) - np.asarray(difficulty, dtype=float) - np.asarray(severity, dtype=float)
        return _expected(np.atleast_1d(eta), self.thresholds) + self.categories[0]


def _category_logits(eta: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(n, K) unnormalised log-probabilities: category c (0-based) gets c*eta - sum(tau_1..tau_c)."""
    steps = np.arange(thresholds.size + 1)
    cumulative = np.concatenate([[0.0], np.cumsum(thresholds)])
    return eta[:, None] * steps[None, :] - cumulative[None, :]


def _expected(eta: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Expected category (0-based) at each eta."""
    probs = softmax(_category_logits(eta, thresholds), axis=1)
    return probs @ np.arange(thresholds.size + 1)


def _sum_to_zero_basis(n: int) -> np.ndarray:
    """An n x (n-1) matrix whose columns span the vectors summing to zero (identity, last row -1)."""
    if n <= 1:
        return np.zeros((n, 0))
    return np.vstack([np.eye(n - 1), -np.ones((1, n - 1))])


@dataclass(frozen=True)
class _Design:
    model: np.ndarray
    item: np.ndarray
    judge: np.ndarray
    category: np.ndarray  # 0-based
    n_model: int
    n_item: int
    n_judge: int
    n_cat: int


def _design(
    frame: pd.DataFrame, columns: tuple[str, str, str, str], scale: tuple[int, int] | None
) -> tuple[_Design, list[pd.Index], np.ndarray]:
    model_col, item_col, judge_col, score_col = columns
    require_columns(frame, columns, "the scores table")
    data = frame.loc[:, list(columns)].dropna(subset=[score_col])
    if data.empty:
        raise StatsInputError("the scores table has no scores")
    if data[[model_col, item_col, judge_col]].isna().any().any():
        raise StatsInputError(f"missing values in {model_col}, {item_col} or {judge_col}")
    scores = pd.to_numeric(data[score_col], errors="coerce").to_numpy(dtype=float)
    if np.isnan(scores).any() or np.any(scores != np.round(scores)):
        raise StatsInputError(f"{score_col} must hold integer scores on an ordinal scale")
    low, high = (int(scores.min()), int(scores.max())) if scale is None else scale
    if np.any((scores < low) | (scores > high)):
        raise StatsInputError(f"{score_col} has values outside the scale {low}..{high}")
    if high - low < 1:
        raise StatsInputError(f"a rating scale needs at least two categories, got {low}..{high}")
    codes, labels = [], []
    for column in (model_col, item_col, judge_col):
        code, uniques = pd.factorize(data[column], sort=True)
        codes.append(code)
        labels.append(pd.Index(uniques, name=column))
    design = _Design(
        model=codes[0], item=codes[1], judge=codes[2], category=(scores - low).astype(int),
        n_model=len(labels[0]), n_item=len(labels[1]), n_judge=len(labels[2]), n_cat=high - low + 1,
    )
    return design, labels, np.arange(low, high + 1)


class _Objective:
    """Penalised negative log-likelihood and its gradient in the free (unconstrained) parameters."""

    def __init__(self, design: _Design, ridge: float) -> None:
        self.d = design
        self.ridge = ridge
        self.item_basis = _sum_to_zero_basis(design.n_item)
        self.judge_basis = _sum_to_zero_basis(design.n_judge)
        self.tau_basis = _sum_to_zero_basis(design.n_cat - 1)
        self.sizes = [design.n_model, self.item_basis.shape[1], self.judge_basis.shape[1], self.tau_basis.shape[1]]

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        theta, d, lam, t = np.split(x, np.cumsum(self.sizes)[:-1])
        return theta, self.item_basis @ d, self.judge_basis @ lam, self.tau_basis @ t

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        d = self.d
        theta, delta, lam, tau = self.unpack(x)
        eta = theta[d.model] - delta[d.item] - lam[d.judge]
        logits = _category_logits(eta, tau)
        norm_const = logsumexp(logits, axis=1)
        loglik = logits[np.arange(eta.size), d.category] - norm_const
        probs = np.exp(logits - norm_const[:, None])
        steps = np.arange(d.n_cat)
        # d loglik / d eta = observed step count - expected step count
        resid = d.category - probs @ steps
        # d loglik / d tau_h (h = 1..K-1) = -[x >= h] + P(X >= h)
        at_least = np.cumsum(probs[:, ::-1], axis=1)[:, ::-1][:, 1:]
        observed_at_least = (d.category[:, None] >= steps[None, 1:]).astype(float)
        g_tau = (at_least - observed_at_least).sum(axis=0)
        g_theta = np.bincount(d.model, weights=resid, minlength=d.n_model)
        g_delta = -np.bincount(d.item, weights=resid, minlength=d.n_item)
        g_lam = -np.bincount(d.judge, weights=resid, minlength=d.n_judge)
        value = -loglik.sum() + 0.5 * self.ridge * (theta @ theta + delta @ delta + lam @ lam + tau @ tau)
        grad = np.concatenate([
            -g_theta + self.ridge * theta,
            self.item_basis.T @ (-g_delta + self.ridge * delta),
            self.judge_basis.T @ (-g_lam + self.ridge * lam),
            self.tau_basis.T @ (-g_tau + self.ridge * tau),
        ])
        return float(value), grad


def _fit_parameters(design: _Design, ridge: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, bool]:
    objective = _Objective(design, ridge)
    x0 = np.zeros(sum(objective.sizes))
    result = minimize(objective, x0, jac=True, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-8})
    theta, delta, lam, tau = objective.unpack(result.x)
    value, _ = objective(result.x)
    penalty = 0.5 * ridge * sum(float(v @ v) for v in (theta, delta, lam, tau))
    return theta, delta, lam, tau, -(value - penalty), bool(result.success)


def _model_se(
    design: _Design, theta: np.ndarray, delta: np.ndarray, lam: np.ndarray, tau: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Model standard errors as in Facets: 1 / sqrt(sum of the score variances of a facet's observations)."""
    eta = theta[design.model] - delta[design.item] - lam[design.judge]
    probs = softmax(_category_logits(eta, tau), axis=1)
    steps = np.arange(design.n_cat)
    variance = probs @ steps**2 - (probs @ steps) ** 2
    out = []
    for codes, size in ((design.model, design.n_model), (design.item, design.n_item), (design.judge, design.n_judge)):
        info = np.bincount(codes, weights=variance, minlength=size)
        with np.errstate(divide="ignore"):
            out.append(1.0 / np.sqrt(info))
    return tuple(out)


def fit_rasch(
    scores: pd.DataFrame,
    *,
    model: str = "model",
    item: str = "item_id",
    judge: str = "judge",
    score: str = "score",
    scale: tuple[int, int] | None = None,
    ridge: float = RIDGE,
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> RaschFit:
    """Fit the many-facet rating-scale model to a long table of (model, item, judge, score) rows.

    `scale` = (lowest, highest) score; default: the observed range. Repeated samples of one judge
    can be separate judges ("gpt-4#1", "gpt-4#2") or one judge with several rows per cell.
    With `bootstrap` > 0, abilities and fair scores also get percentile intervals from refits on
    items resampled with replacement (items are the unit of sampling); otherwise the intervals are
    ability +- z * se.
    """
    columns = (model, item, judge, score)
    design, labels, categories = _design(scores, columns, scale)
    theta, delta, lam, tau, loglik, converged = _fit_parameters(design, ridge)
    se_theta, se_delta, se_lam = _model_se(design, theta, delta, lam, tau)
    raw = categories[0] + design.category

    def table(
        codes: np.ndarray, size: int, index: pd.Index, name: str, values: np.ndarray, se: np.ndarray
    ) -> pd.DataFrame:
        frame = pd.DataFrame({index.name: index, name: values, "se": se})
        frame["raw_mean"] = np.bincount(codes, weights=raw, minlength=size) / np.bincount(codes, minlength=size)
        frame["n"] = np.bincount(codes, minlength=size)
        return frame

    abilities = table(design.model, design.n_model, labels[0], "ability", theta, se_theta)
    fair = _expected(theta, tau) + categories[0]
    abilities.insert(3, "fair_score", fair)
    z = float(norm.ppf(0.5 + confidence / 2))
    if bootstrap > 0:
        low, high, fair_low, fair_high = _bootstrap(scores, columns, scale, ridge, bootstrap, confidence, seed, labels[0])
        abilities["ci_low"], abilities["ci_high"] = low, high
        abilities["fair_ci_low"], abilities["fair_ci_high"] = fair_low, fair_high
    else:
        abilities["ci_low"], abilities["ci_high"] = theta - z * se_theta, theta + z * se_theta
        abilities["fair_ci_low"] = _expected(theta - z * se_theta, tau) + categories[0]
        abilities["fair_ci_high"] = _expected(theta + z * se_theta, tau) + categories[0]
    return RaschFit(
        abilities=abilities,
        difficulties=table(design.item, design.n_item, labels[1], "difficulty", delta, se_delta),
        severities=table(design.judge, design.n_judge, labels[2], "severity", lam, se_lam),
        thresholds=tau,
        categories=categories,
        log_likelihood=loglik,
        converged=converged,
        extras={"ridge": ridge, "n": int(design.category.size), "bootstrap": bootstrap},
    )


def _bootstrap(
    scores: pd.DataFrame, columns: tuple[str, str, str, str], scale: tuple[int, int] | None,
    ridge: float, replicates: int, confidence: float, seed: int, models: pd.Index,
) -> tuple[np.ndarray, ...]:
    """Percentile intervals of abilities and fair scores over refits on resampled items."""
    item_col = columns[1]
    rng = np.random.default_rng(seed)
    items = scores[item_col].dropna().unique()
    groups = dict(iter(scores.groupby(item_col, sort=False)))  # (item, frame) pairs; a GroupBy is no mapping
    low_scale, high_scale = scale if scale is not None else (int(scores[columns[3]].min()), int(scores[columns[3]].max()))
    abilities = np.full((replicates, len(models)), np.nan)
    fairs = np.full((replicates, len(models)), np.nan)
    for b in range(replicates):
        drawn = rng.choice(items, size=items.size, replace=True)
        parts = [groups[key].assign(**{item_col: f"{key}#{k}"}) for k, key in enumerate(drawn)]
        sample = pd.concat(parts, ignore_index=True)
        design, labels, categories = _design(sample, columns, (low_scale, high_scale))
        theta, _, _, tau, _, _ = _fit_parameters(design, ridge)
        position = models.get_indexer(labels[0])
        abilities[b, position] = theta
        fairs[b, position] = _expected(theta, tau) + categories[0]
    tail = (1 - confidence) / 2 * 100
    with np.errstate(all="ignore"):
        return (
            np.nanpercentile(abilities, tail, axis=0), np.nanpercentile(abilities, 100 - tail, axis=0),
            np.nanpercentile(fairs, tail, axis=0), np.nanpercentile(fairs, 100 - tail, axis=0),
        )


def panel_scores(
    scores: pd.DataFrame,
    *,
    model: str = "model",
    item: str = "item_id",
    judge: str = "judge",
    score: str = "score",
    scale: tuple[int, int] | None = None,
    bootstrap: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per model, best first: a panel of judges' scores aggregated through the Rasch fit.

    Columns: model, rank, score (the fair score on the original scale), ci_low, ci_high (its
    interval), n, ability, ability_se, raw_mean. Use this instead of averaging raw scores whenever
    judges did not all score the same (model, item) cells.
    """
    fit = fit_rasch(scores, model=model, item=item, judge=judge, score=score, scale=scale, bootstrap=bootstrap, seed=seed)
    a = fit.abilities
    out = pd.DataFrame({
        "model": a[model], "score": a["fair_score"], "ci_low": a["fair_ci_low"], "ci_high": a["fair_ci_high"],
        "n": a["n"], "ability": a["ability"], "ability_se": a["se"], "raw_mean": a["raw_mean"],
    })
    out = out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    out.insert(1, "rank", np.arange(1, len(out) + 1))
    return out
