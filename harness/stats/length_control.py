"""Length-controlled win rate against one baseline (Dubois et al. 2024, "Length-Controlled AlpacaEval").

A judge that prefers longer answers inflates the win rate of verbose models. The paper fits a
logistic GLM of the judge's preference for model m over the baseline b on instruction x:

    P(m beats b | x) = sigmoid( (theta_m - theta_b)
                                + phi_{m,b} * tanh(len_diff / std(len_diff))
                                + (psi_m - psi_b) * gamma_x )

with gamma_x the instruction's difficulty, shared by every model, and reads off the win rate the
judge would give if both answers had the same length: the length term set to zero,

    LC win rate = 100 * mean_x sigmoid( (theta_m - theta_b) + (psi_m - psi_b) * gamma_x ).

Fitting follows the paper's description: the targets are the judge's (soft) preferences, the
instruction difficulty is estimated once on all models together, then each model's three
coefficients are fitted with the difficulty held fixed, under L2 regularisation (weak on the
intercept, so the win rate stays calibrated; also on the length slope, which keeps a truncation
attack from buying a large length credit). Interval: item bootstrap of the per-model fit with
the difficulty fixed (the difficulty refit is not bootstrapped: it is shared and cheap to keep).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

#: L2 strengths (on the summed log-loss). Weak: with 805 instructions they move coefficients
#: only where the data hardly identify them.
DIFFICULTY_L2 = 1.0
COEFFICIENT_L2 = 1.0


def length_features(len_model: np.ndarray, len_baseline: np.ndarray) -> np.ndarray:
    """tanh of the length difference standardised by its own standard deviation (per model)."""
    diff = np.asarray(len_model, dtype=float) - np.asarray(len_baseline, dtype=float)
    scale = diff.std()
    if not np.isfinite(scale) or scale == 0:
        return np.zeros_like(diff)
    return np.tanh(diff / scale)


def fit_instruction_difficulty(frame: pd.DataFrame, l2: float = DIFFICULTY_L2) -> pd.Series:
    """gamma_x for every item: a joint fit sigmoid(theta_m + phi_m * length_m + gamma_x) over all models.

    `frame` has columns model, item_id, p (the judge's probability that the model beat the
    baseline), len_model, len_baseline. The L2 penalty on gamma pins down its level (the models'
    intercepts take the mean) and shrinks items seen by few models.
    """
    model_codes, models = pd.factorize(frame["model"], sort=True)
    item_codes, items = pd.factorize(frame["item_id"], sort=True)
    target = frame["p"].to_numpy(dtype=float)
    length = np.zeros(len(frame))
    for code in range(len(models)):
        rows = model_codes == code
        length[rows] = length_features(frame["len_model"].to_numpy()[rows], frame["len_baseline"].to_numpy()[rows])
    n_models, n_items = len(models), len(items)

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        theta, phi, gamma = params[:n_models], params[n_models:2 * n_models], params[2 * n_models:]
        z = theta[model_codes] + phi[model_codes] * length + gamma[item_codes]
        value = float(np.sum(np.logaddexp(0.0, z) - target * z)) + 0.5 * l2 * float(gamma @ gamma)
        residual = expit(z) - target
        grad = np.concatenate([
            np.bincount(model_codes, residual, n_models),
            np.bincount(model_codes, residual * length, n_models),
            np.bincount(item_codes, residual, n_items) + l2 * gamma,
        ])
        return value, grad

    start = np.zeros(2 * n_models + n_items)
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-9})
    return pd.Series(result.x[2 * n_models:], index=items, name="difficulty")


def _newton_fit(
    features: np.ndarray, target: np.ndarray, weights: np.ndarray, l2: np.ndarray, iterations: int = 50
) -> np.ndarray:
    """Penalised soft-label logistic regression for many weightings at once.

    features (n, k), target (n,), weights (r, n) (bootstrap counts; one row = one fit),
    l2 (k,). Returns coefficients (r, k). The loss is convex, Newton converges in a few steps.
    """
    rounds, k = weights.shape[0], features.shape[1]
    coef = np.zeros((rounds, k))
    penalty = np.diag(l2)
    outer = (features[:, :, None] * features[:, None, :]).reshape(len(features), k * k)
    for _ in range(iterations):
        prob = expit(coef @ features.T)
        grad = ((prob - target) * weights) @ features + coef * l2
        curvature = prob * (1.0 - prob) * weights
        hessian = (curvature @ outer).reshape(rounds, k, k) + penalty  # one matrix product for all rounds
        step = np.linalg.solve(hessian, grad[..., None])[..., 0]
        coef -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return coef


def length_controlled_win_rates(
    frame: pd.DataFrame,
    *,
    difficulty: pd.Series | None = None,
    n_bootstrap: int = 0,
    seed: int = 0,
    ci: float = 0.95,
    l2: float = COEFFICIENT_L2,
) -> pd.DataFrame:
    """One row per model: lc_win_rate (0-100), its bootstrap interval, win_rate, and the fit.

    `frame`: columns model, item_id, p, len_model, len_baseline (several rows per item are
    allowed, e.g. both presentation orders). `difficulty`: gamma by item; fitted on all models of
    `frame` together when not given. With a single model there is no difficulty term: fitted on
    that model's own verdicts it would soak up their noise and hand the length effect back
    through psi (the same leak, smaller, remains with few models; the published leaderboard
    fits difficulty on all of its 200+ models).
    """
    columns = ["model", "lc_win_rate", "lc_ci_low", "lc_ci_high", "win_rate", "theta", "phi", "psi", "n"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    if difficulty is None:
        several = frame["model"].nunique() > 1
        difficulty = fit_instruction_difficulty(frame) if several else pd.Series(dtype=float)
    rows = []
    for model, group in frame.groupby("model", sort=True):
        own = difficulty
        gamma = own.reindex(group["item_id"]).fillna(0.0).to_numpy(dtype=float)
        length = length_features(group["len_model"].to_numpy(), group["len_baseline"].to_numpy())
        features = np.column_stack([np.ones(len(group)), length, gamma])
        target = group["p"].to_numpy(dtype=float)
        penalty = np.array([1e-6, l2, l2])
        fit = _newton_fit(features, target, np.ones((1, len(group))), penalty)[0]
        controlled = features.copy()
        controlled[:, 1] = 0.0
        lc = 100.0 * float(expit(controlled @ fit).mean())
        low = high = np.nan
        if n_bootstrap > 0:
            item_codes, items = pd.factorize(group["item_id"], sort=True)
            rng = np.random.default_rng(seed)
            draws = rng.multinomial(len(items), np.full(len(items), 1.0 / len(items)), size=n_bootstrap)
            weights = draws[:, item_codes].astype(float)
            boot = _newton_fit(features, target, weights, penalty)
            values = 100.0 * (expit(boot @ controlled.T) * weights).sum(axis=1) / weights.sum(axis=1)
            alpha = (1.0 - ci) / 2.0
            low, high = np.quantile(values, [alpha, 1.0 - alpha])
        rows.append({
            "model": model, "lc_win_rate": lc, "lc_ci_low": low, "lc_ci_high": high,
            "win_rate": 100.0 * float(target.mean()), "theta": fit[0], "phi": fit[1], "psi": fit[2],
            "n": len(group),
        })
    return pd.DataFrame(rows, columns=columns)
