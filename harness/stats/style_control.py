"""Style control: Bradley-Terry strengths with answer length and markdown held fixed.

LLM judges (and people) prefer longer, more heavily formatted answers. Following Arena-Hard /
Chatbot Arena style control (Li et al., "Does style matter?", LMSYS 2024), each battle's log-odds
that A wins is modelled as

    logit P(A beats B) = theta_A - theta_B + sum_f beta_f * z_f,

where z_f is a style difference: for a feature f (answer length, header count, list items, bold
spans) the normalised difference (f_A - f_B) / (f_A + f_B) (0 when both are 0), standardised to
mean 0 and standard deviation 1 over the battles. theta and beta are estimated jointly by
maximum likelihood (a logistic regression; ties give the fractional outcome 0.5), so theta is a
model's strength *at equal style*, and beta says how much each style difference sways the judge.

The solver is our own damped Newton method: the Hessian's model-model block is a weighted graph
Laplacian assembled with bincount, so one iteration costs O(battles * features^2 + (models +
features)^3) with no dense design matrix. Intervals come from an item bootstrap (battles of one
instruction are resampled together), each round warm-started from the point estimate.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from harness.stats.bootstrap import item_bootstrap_counts
from harness.stats.bradley_terry import (
    RIDGE,
    _battle_counts,
    _to_rating,
    _validated,
    _weights,
    battle_models,
    leaderboard_frame,
)
from harness.stats.errors import StatsInputError
from harness.stats.intervals import ANCHOR, blank_zero_width

DEFAULT_FEATURES = ("length", "headers", "lists", "bold")

#: Largest change of any battle's log-odds that a Newton step may make without checking the
#: likelihood: the logistic log-likelihood's third-order term is then under a tenth of the
#: quadratic gain, so the full step cannot make the fit worse (bootstrap rounds start close).
SAFE_LOGIT_STEP = 0.2

_HEADER = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)", re.MULTILINE)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__", re.DOTALL)


def style_features(text: str) -> dict[str, float]:
    """Style counts of one answer: length (characters), words, headers (ATX `#` lines), lists
    (bulleted or numbered items), bold (`**x**` or `__x__` spans)."""
    text = text or ""
    return {
        "length": float(len(text)),
        "words": float(len(text.split())),
        "headers": float(len(_HEADER.findall(text))),
        "lists": float(len(_LIST_ITEM.findall(text))),
        "bold": float(len(_BOLD.findall(text))),
    }


#: A style-controlled rating is trusted only where holding style equal at most triples its
#: standard error (a variance inflation of 9, near the usual rule of thumb of 10): beyond that the
#: style features nearly restate which model answered, and the data cannot tell the two apart.
MAX_SE_INFLATION = 3.0


@dataclass(frozen=True)
class StyleControlResult:
    """`table`: model, rank, score, ci_low, ci_high, n (as bradley_terry_table), style held equal.
    `coefficients`: feature, coef, ci_low, ci_high: the change in log-odds of winning per one
    standard deviation of the normalised style difference. `se_inflation`: per model, the
    standard error of its rating with the style features over that without them (Fisher
    information at the fit; inf where the features are collinear with the models)."""

    table: pd.DataFrame
    coefficients: pd.DataFrame
    se_inflation: pd.Series | None = None

    @property
    def estimable(self) -> bool:
        """Whether every style-controlled rating is determined by the data (`MAX_SE_INFLATION`)."""
        return self.se_inflation is not None and bool((self.se_inflation <= MAX_SE_INFLATION).all())


def rating_se_inflation(a: np.ndarray, b: np.ndarray, w: np.ndarray, z: np.ndarray, theta: np.ndarray,
                        beta: np.ndarray, m: int) -> np.ndarray:
    """Per model: the standard error of its mean-centred rating when the style coefficients are
    estimated too, over the standard error with them known (both from the Fisher information at
    the fit). 1 when style is unrelated to who answered; inf when the style differences can be
    written as rating differences (collinear), and the ratings are then not identified."""
    c = w * expit(theta[a] - theta[b] + z @ beta) * (1.0 - expit(theta[a] - theta[b] + z @ beta))
    lap = -(np.bincount(a * m + b, c, m * m) + np.bincount(b * m + a, c, m * m)).reshape(m, m)
    lap[np.diag_indices(m)] += np.bincount(a, c, m) + np.bincount(b, c, m)
    used = np.flatnonzero(np.abs(z).sum(axis=0) > 0)  # a feature that never differs is no covariate
    zc = z[:, used] * c[:, None]
    h_tb = np.stack([np.bincount(a, zc[:, k], m) - np.bincount(b, zc[:, k], m) for k in range(used.size)], axis=1) \
        if used.size else np.zeros((m, 0))
    schur = lap - h_tb @ np.linalg.pinv(z[:, used].T @ zc) @ h_tb.T if used.size else lap
    centre = np.eye(m) - 1.0 / m
    lift = np.full((m, m), (1.0 + np.diag(lap).mean()) / m)  # the common shift the data cannot see
    variances = []
    for info in (lap, schur):
        lifted = info + lift
        if np.linalg.cond(lifted) > 1e10:
            variances.append(np.full(m, np.inf))
            continue
        variances.append(np.diag(centre @ np.linalg.inv(lifted) @ centre))
    plain, styled = variances
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sqrt(np.where(plain > 0, styled / plain, np.inf))
    return np.where(np.isfinite(ratio), ratio, np.inf)


def style_design(battles: pd.DataFrame, features: tuple[str, ...]) -> np.ndarray:
    """Standardised normalised style differences, shape (battles, features)."""
    missing = [f"{f}_{side}" for f in features for side in "ab" if f"{f}_{side}" not in battles.columns]
    if missing:
        raise StatsInputError(f"battles is missing style column(s) {missing}")
    columns = []
    for f in features:
        a = battles[f"{f}_a"].to_numpy(dtype=float)
        b = battles[f"{f}_b"].to_numpy(dtype=float)
        if not (np.all(np.isfinite(a) & (a >= 0)) and np.all(np.isfinite(b) & (b >= 0))):
            raise StatsInputError(f"style feature {f!r} must be finite and non-negative")
        total = a + b
        x = np.divide(a - b, total, out=np.zeros_like(total), where=total > 0)
        sd = x.std()
        columns.append((x - x.mean()) / sd if sd > 0 else np.zeros_like(x))
    return np.column_stack(columns) if columns else np.zeros((len(battles), 0))


def _loglik(theta, beta, a, b, y, w, z, ridge) -> float:
    eta = theta[a] - theta[b] + z @ beta
    value = -(w * (y * np.logaddexp(0.0, -eta) + (1.0 - y) * np.logaddexp(0.0, eta))).sum()
    return float(value - 0.5 * ridge * (theta @ theta + beta @ beta))


def fit_style_bradley_terry(
    a: np.ndarray,
    b: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    z: np.ndarray,
    m: int,
    *,
    start: tuple[np.ndarray, np.ndarray] | None = None,
    ridge: float = RIDGE,
    max_iter: int = 100,
    tol: float = 1e-9,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Penalised MLE (theta mean 0, beta) of the style-controlled BT model; returns theta, beta
    and whether it converged. a, b: model indices; y: score of A in [0, 1]; w: battle weights;
    z: style design (battles x features)."""
    f = z.shape[1]
    theta = np.zeros(m) if start is None else start[0].copy()
    beta = np.zeros(f) if start is None else start[1].copy()
    pair_ab, pair_ba = a * m + b, b * m + a
    current = None  # the objective, evaluated only when a step is too large to take unchecked
    previous = np.inf
    for _ in range(max_iter):
        eta = theta[a] - theta[b] + z @ beta
        p = expit(eta)
        r = w * (y - p)
        c = w * p * (1.0 - p)
        g_theta = np.bincount(a, r, m) - np.bincount(b, r, m) - ridge * theta
        g_beta = z.T @ r - ridge * beta
        h_tt: np.ndarray = -(np.bincount(pair_ab, c, m * m) + np.bincount(pair_ba, c, m * m)).reshape(m, m)
        h_tt[np.diag_indices(m)] += np.bincount(a, c, m) + np.bincount(b, c, m) + ridge
        # Lift the all-ones direction (a common shift of every theta, which the data cannot see)
        # so the solve is well conditioned; the gradient has no component along it.
        h_tt += (1.0 + np.diag(h_tt).mean()) / m
        cz = c[:, None] * z
        h_tb = np.stack([np.bincount(a, cz[:, k], m) - np.bincount(b, cz[:, k], m) for k in range(f)], axis=1) if f else np.zeros((m, 0))
        h_bb = z.T @ cz + ridge * np.eye(f)
        hess = np.block([[h_tt, h_tb], [h_tb.T, h_bb]])
        step = np.linalg.solve(hess, np.concatenate([g_theta, g_beta]))
        step[:m] -= step[:m].mean()
        t = 1.0
        change = step[:m][a] - step[:m][b] + z @ step[m:]
        if np.abs(change).max(initial=0.0) <= SAFE_LOGIT_STEP:
            theta, beta, current = theta + step[:m], beta + step[m:], None
        else:
            if current is None:
                current = _loglik(theta, beta, a, b, y, w, z, ridge)
            for _ in range(40):
                new_theta, new_beta = theta + t * step[:m], beta + t * step[m:]
                trial = _loglik(new_theta, new_beta, a, b, y, w, z, ridge)
                if trial >= current - 1e-12 * (1.0 + abs(current)):
                    break
                t *= 0.5
            theta, beta, current = new_theta, new_beta, trial
        moved = float(np.abs(t * step).max(initial=0.0))
        # Quadratic convergence: a full step below sqrt(tol) that shrank quadratically leaves
        # an error ~moved^2 < tol, so the confirming iteration is skipped.
        if moved < tol or (t == 1.0 and moved * moved < tol and moved <= 10.0 * previous**2):
            return theta, beta, True
        previous = moved
    return theta, beta, False


def style_controlled_table(
    battles: pd.DataFrame,
    features: tuple[str, ...] = DEFAULT_FEATURES,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    scale: float = 400.0,
    base: float = 10.0,
    offset: float = 1000.0,
    anchor: str | None = None,
) -> StyleControlResult:
    """Style-controlled leaderboard and style coefficients from battles.

    `battles` has columns item_id, model_a, model_b, score_a (1 A won, 0.5 tie, 0 B won),
    optional weight, and for every feature f the raw counts f"{f}_a" and f"{f}_b" (see
    `style_features`). Scores are on the Elo scale (mean `offset`, or `offset` for `anchor`),
    intervals are percentile intervals of an item bootstrap, ranks follow `interval_ranks`.
    """
    features = tuple(features)
    if not 0.0 < ci < 1.0:
        raise StatsInputError("ci must be strictly between 0 and 1")
    if n_bootstrap < 1:
        raise StatsInputError("n_bootstrap must be at least 1 to give intervals and ranks")
    if len(set(features)) != len(features):
        raise StatsInputError("features must not repeat")
    if len(battles) == 0:
        raise StatsInputError("style control needs at least one battle")
    try:
        models = battle_models(_validated(battles))
    except ValueError as exc:
        raise StatsInputError(str(exc)) from None
    if anchor is not None and anchor not in models:
        raise StatsInputError(f"anchor {anchor!r} has no battles")
    z = style_design(battles, features)
    index = pd.Index(models)
    a, b = index.get_indexer(battles["model_a"]), index.get_indexer(battles["model_b"])
    y = battles["score_a"].to_numpy(dtype=float)
    w = _weights(battles)
    m = len(models)
    theta, beta, ok = fit_style_bradley_terry(a, b, y, w, z, m)
    item_codes, items = pd.factorize(battles["item_id"], sort=True)
    draws = item_bootstrap_counts(len(items), n_bootstrap, seed)
    boot_theta = np.empty((n_bootstrap, m))
    boot_beta = np.empty((n_bootstrap, len(features)))
    failed = 0 if ok else 1
    for r in range(n_bootstrap):
        mult = draws[r, item_codes]
        keep = mult > 0
        th, be, ok_r = fit_style_bradley_terry(
            a[keep], b[keep], y[keep], w[keep] * mult[keep], z[keep], m, start=(theta, beta)
        )
        boot_theta[r], boot_beta[r] = th, be
        failed += not ok_r
    if failed:
        warnings.warn(f"style-controlled fit did not converge in {failed} fit(s)", RuntimeWarning, stacklevel=2)
    if anchor is not None:
        k = models.index(anchor)
        theta = theta - theta[k]
        boot_theta = boot_theta - boot_theta[:, k : k + 1]
    tail = (1.0 - ci) / 2.0
    score = _to_rating(theta, scale, base, offset)
    low, high = np.quantile(_to_rating(boot_theta, scale, base, offset), [tail, 1.0 - tail], axis=0)
    table = leaderboard_frame(models, score, low, high, _battle_counts(battles, models))
    table = blank_zero_width(table, reasons=pd.Series([ANCHOR if name == anchor else None for name in models], dtype=object))
    table = table.sort_values(["score", "model"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
    if features:
        c_low, c_high = np.quantile(boot_beta, [tail, 1.0 - tail], axis=0)
    else:
        c_low = c_high = np.zeros(0)
    coefficients = pd.DataFrame(
        {"feature": pd.Series(features, dtype=object), "coef": beta, "ci_low": c_low, "ci_high": c_high}
    )
    inflation = pd.Series(rating_se_inflation(a, b, w, z, theta, beta, m), index=models, dtype=float)
    return StyleControlResult(table=table, coefficients=coefficients, se_inflation=inflation)


__all__ = [
    "DEFAULT_FEATURES",
    "MAX_SE_INFLATION",
    "StyleControlResult",
    "fit_style_bradley_terry",
    "rating_se_inflation",
    "style_controlled_table",
    "style_design",
    "style_features",
]

