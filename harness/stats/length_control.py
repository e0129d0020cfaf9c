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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from harness.stats.bootstrap import item_bootstrap_counts
from harness.stats.bt_newton import _single_threaded_blas
from harness.stats.soft_logistic import (
    ResampledFits,
    bootstrap_blocks,
    in_threads,
    loss_change,
    newton_fits,
    sigmoid,
)

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
    length = per_model_feature(length_features, model_codes, len(models), frame)
    fit = joint_item_fit(model_codes, item_codes, length, frame["p"].to_numpy(dtype=float), len(models), len(items),
                         l2=l2, options={"maxiter": 2000, "gtol": 1e-9})
    return pd.Series(fit.gamma, index=items, name="difficulty")


def per_model_feature(
    feature: Callable[[np.ndarray, np.ndarray], np.ndarray], model_codes: np.ndarray, n_models: int, frame: pd.DataFrame,
) -> np.ndarray:
    """`feature(len_model, len_baseline)` computed on each model's rows apart (it standardises
    by the model's own spread), one value per row of `frame`."""
    length = np.zeros(len(frame))
    len_model, len_baseline = frame["len_model"].to_numpy(), frame["len_baseline"].to_numpy()
    for code in range(n_models):
        rows = model_codes == code
        length[rows] = feature(len_model[rows], len_baseline[rows])
    return length


@dataclass
class JointItemFit:
    """theta per model, the length slope(s) phi, gamma per item."""

    theta: np.ndarray
    phi: np.ndarray
    gamma: np.ndarray


def joint_item_fit(
    model_codes: np.ndarray, item_codes: np.ndarray, length: np.ndarray, target: np.ndarray, n_models: int, n_items: int,
    *, l2: float, options: dict[str, float], shared_slope: bool = False, held_gamma: np.ndarray | None = None,
) -> JointItemFit:
    """The joint fit sigmoid(theta_m + phi * length + gamma_x) over every model's rows, with an L2
    penalty l2 * |gamma|^2 / 2 (which pins gamma's level: the models' theta take the mean).

    phi is one slope per model, or one for all with `shared_slope`; with `held_gamma` the
    difficulty is held at it and only theta and phi are fitted. L-BFGS-B with `options`.
    Both length-controlled win rates estimate their instruction difficulty with it."""
    n_slopes = 1 if shared_slope else n_models
    held = held_gamma is not None
    # every evaluation's row arrays, made once: the same operations in the same order (the same
    # floats) as fresh arrays, without allocating and faulting in ~10 arrays of 8 MB per call at
    # a million rows (343,000 page faults in one fit)
    z, work, other = np.empty(len(target)), np.empty(len(target)), np.empty(len(target))

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        theta, phi = params[:n_models], params[n_models:n_models + n_slopes]
        gamma = held_gamma if held_gamma is not None else params[n_models + n_slopes:]
        np.take(theta, model_codes, out=z)  # z = theta[m] + slope * length + gamma[x], left to right
        if shared_slope:
            np.multiply(phi[0], length, out=work)
        else:
            np.multiply(np.take(phi, model_codes, out=work), length, out=work)
        np.add(z, work, out=z)
        np.add(z, np.take(gamma, item_codes, out=work), out=z)
        np.logaddexp(0.0, z, out=work)
        value = float(np.sum(np.subtract(work, np.multiply(target, z, out=other), out=work)))
        residual = np.subtract(expit(z, out=work), target, out=work)
        grad = [np.bincount(model_codes, residual, n_models),
                np.array([residual @ length]) if shared_slope
                else np.bincount(model_codes, np.multiply(residual, length, out=other), n_models)]
        if not held:
            value += 0.5 * l2 * float(gamma @ gamma)
            grad.append(np.bincount(item_codes, residual, n_items) + l2 * gamma)
        return value, np.concatenate(grad)

    from scipy.optimize import minimize  # a sixth of a second to import: only when a fit is computed, not recalled

    start = np.zeros(n_models + n_slopes + (0 if held else n_items))
    with _single_threaded_blas():  # vectors of ~1000: BLAS threads only contend (same result)
        x = minimize(loss, start, jac=True, method="L-BFGS-B", options=options).x
    gamma = np.asarray(held_gamma, dtype=float) if held_gamma is not None else x[n_models + n_slopes:]
    return JointItemFit(x[:n_models], x[n_models:n_models + n_slopes], gamma)


def joint_item_newton(
    model_codes: np.ndarray, item_codes: np.ndarray, length: np.ndarray, target: np.ndarray, n_models: int, n_items: int,
    *, l2: float, shared_slope: bool = False, held_gamma: np.ndarray | None = None, tol: float = 1e-12,
    max_steps: int = 100,
) -> JointItemFit:
    """joint_item_fit's objective minimised by Newton's method with the exact Hessian, to its optimum.

    L-BFGS-B stops where its relative decrease falls below ftol, which on 57 models x 805 items
    left a gradient of 2e-3 (and a result that changed by 5e-5 with the BLAS thread count);
    Newton reaches the optimum in a few steps. The Hessian's item block is diagonal (each row
    has one item), so it is eliminated: one (models + slopes)-sized solve per step (Schur
    complement). Backtracking on the objective's exact change (loss_change) keeps every step a
    descent, down to rounding. Requires l2 > 0 unless gamma is held."""
    n_slopes = 1 if shared_slope else n_models
    slope_codes = np.zeros_like(model_codes) if shared_slope else model_codes
    size_a = n_models + n_slopes
    held = held_gamma is not None
    a = np.zeros(size_a)
    gamma = np.zeros(n_items) if held_gamma is None else np.asarray(held_gamma, dtype=float)
    # the Hessian's cells of every row, the same each step: computed once (six arrays of a
    # million indices per step at a million rows, each allocated and faulted in anew)
    second = n_models + slope_codes
    block_cells = _cells(model_codes, second, size_a)
    cross_cells = None if held else _cells(model_codes, second, n_items, item_codes)
    with _single_threaded_blas():  # one small solve per step: BLAS threads only contend
        for _ in range(max_steps):
            z = a[model_codes] + a[second] * length + gamma[item_codes]
            mu = sigmoid(z)
            residual, curvature = mu - target, mu * (1.0 - mu)
            grad_a = np.concatenate([np.bincount(model_codes, residual, n_models),
                                     np.bincount(slope_codes, residual * length, n_slopes)])
            weighted = curvature * length  # each row's curvature times its length, used three times
            hess_a = _summed(block_cells, size_a * size_a, (curvature, weighted, weighted, weighted * length))
            hess_a = hess_a.reshape(size_a, size_a)
            if held:
                step_a, step_g = np.linalg.solve(hess_a, grad_a), np.zeros(n_items)
            else:
                assert cross_cells is not None
                grad_g = np.bincount(item_codes, residual, n_items) + l2 * gamma
                diagonal = np.bincount(item_codes, curvature, n_items) + l2
                cross = _summed(cross_cells, size_a * n_items, (curvature, weighted)).reshape(size_a, n_items)
                schur = hess_a - (cross / diagonal) @ cross.T
                step_a = np.linalg.solve(schur, grad_a - cross @ (grad_g / diagonal))
                step_g = (grad_g - cross.T @ step_a) / diagonal
            moves = step_a[model_codes] + step_a[second] * length + step_g[item_codes]
            decrease = -(grad_a @ step_a + (0.0 if held else grad_g @ step_g))
            size = 1.0
            while size > 1e-10:
                change = float(loss_change(z[None], mu[None], target[None], np.ones((1, len(z))), -size * moves[None])[0])
                if not held:
                    change += 0.5 * l2 * float(size * step_g @ (size * step_g - 2.0 * gamma))
                if change <= 0.01 * size * decrease:
                    break
                size /= 2.0
            else:
                break  # no step decreases the objective: at its optimum to rounding
            a -= size * step_a
            if not held:
                gamma = gamma - size * step_g
            largest = max(1.0, float(np.max(np.abs(a))), float(np.max(np.abs(gamma), initial=0.0)))
            if size * max(float(np.max(np.abs(step_a))), float(np.max(np.abs(step_g), initial=0.0))) < tol * largest:
                break
    return JointItemFit(a[:n_models], a[n_models:], gamma)


def _cells(first: np.ndarray, second: np.ndarray, columns: int, other: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """The flat cells of a Hessian block that every row adds to, for v = e_first + length * e_second:
    (first, first), (first, second), (second, first), (second, second) of a square block, or with
    `other` (each row's item) (first, other), (second, other) of the coefficients x items block."""
    if other is not None:
        return first * columns + other, second * columns + other
    return first * columns + first, first * columns + second, second * columns + first, second * columns + second


def _summed(cells: tuple[np.ndarray, ...], size: int, weights: tuple[np.ndarray, ...]) -> np.ndarray:
    """sum over rows of each weight at its cell (a block of `size` cells, flat), in the order given."""
    out = np.bincount(cells[0], weights[0], size)
    for at, weight in zip(cells[1:], weights[1:], strict=True):
        out = out + np.bincount(at, weight, size)
    return out


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

    The fits of all models are solved together (harness.stats.soft_logistic); each model's
    bootstrap draws item multiplicities from its own generator seeded with `seed`.
    """
    columns = ["model", "lc_win_rate", "lc_ci_low", "lc_ci_high", "win_rate", "theta", "phi", "psi", "n"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    if difficulty is None:
        several = frame["model"].nunique() > 1
        difficulty = fit_instruction_difficulty(frame) if several else pd.Series(dtype=float)
    penalty = np.array([1e-6, l2, l2])
    designs = [_ModelDesign.of(model, group, difficulty) for model, group in frame.groupby("model", sort=True)]
    fits = _point_fits(designs, penalty)
    draws = _ItemDraws(n_bootstrap, seed)
    every = [draws.for_items(design.item_ids.nunique()) for design in designs] if n_bootstrap > 0 else []
    # Each model's rounds are independent of the others': they share the cores (same numbers).
    bootstrap = in_threads(lambda job: _bootstrap_values(*job, penalty), list(zip(designs, fits, every)))
    rows = []
    for index, (design, fit) in enumerate(zip(designs, fits)):
        controlled = design.controlled()
        lc = 100.0 * float(expit(controlled @ fit).mean())
        low = high = np.nan
        if n_bootstrap > 0:
            values = bootstrap[index]
            alpha = (1.0 - ci) / 2.0
            low, high = np.quantile(values, [alpha, 1.0 - alpha])
        rows.append({
            "model": design.model, "lc_win_rate": lc, "lc_ci_low": low, "lc_ci_high": high,
            "win_rate": 100.0 * float(design.target.mean()), "theta": fit[0], "phi": fit[1], "psi": fit[2],
            "n": len(design.target),
        })
    return pd.DataFrame(rows, columns=columns)


@dataclass
class _ModelDesign:
    """One model's rows of the GLM: features (intercept, length term, difficulty), targets, items."""

    model: object
    features: np.ndarray
    target: np.ndarray
    item_ids: pd.Series

    @classmethod
    def of(cls, model: object, group: pd.DataFrame, difficulty: pd.Series) -> _ModelDesign:
        gamma = difficulty.reindex(group["item_id"]).fillna(0.0).to_numpy(dtype=float)
        length = length_features(group["len_model"].to_numpy(), group["len_baseline"].to_numpy())
        features = np.column_stack([np.ones(len(group)), length, gamma])
        return cls(model, features, group["p"].to_numpy(dtype=float), group["item_id"])

    def controlled(self) -> np.ndarray:
        """The features with the length term set to zero: both answers of the same length."""
        controlled = self.features.copy()
        controlled[:, 1] = 0.0
        return controlled


def _point_fits(designs: list[_ModelDesign], penalty: np.ndarray) -> list[np.ndarray]:
    """Every model's coefficients, one stacked Newton solve (short models padded with weight 0)."""
    longest = max(len(d.target) for d in designs)
    features = np.zeros((len(designs), longest, 3))
    target = np.zeros((len(designs), longest))
    weights = np.zeros((len(designs), 1, longest))
    for index, design in enumerate(designs):
        n = len(design.target)
        features[index, :n], target[index, :n], weights[index, 0, :n] = design.features, design.target, 1.0
    coef = newton_fits(features, target, weights, penalty)
    return [coef[index, 0] for index in range(len(designs))]


class _ItemDraws:
    """Bootstrap item multiplicities (as floats, the fits' weights): for every model, `rounds`
    multinomial draws over its items from a generator seeded with `seed`. Models with the same number of items get the same
    draws, so they are drawn once per item count."""

    def __init__(self, rounds: int, seed: int):
        self.rounds, self.seed = rounds, seed
        self._by_count: dict[int, np.ndarray] = {}

    def for_items(self, count: int) -> np.ndarray:
        if count not in self._by_count:  # converted once, not per model and block
            self._by_count[count] = item_bootstrap_counts(count, self.rounds, self.seed).astype(float)
        return self._by_count[count]


def _bootstrap_values(design: _ModelDesign, fit: np.ndarray, counts: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """The LC win rate of every bootstrap round (items resampled, difficulty fixed), in round order.
    `counts`: each round's multiplicity of each item (sorted), from _ItemDraws. Runs in
    in_threads' workers: BLAS is already held to one thread there.

    The rows are taken in item order, so with one row per item (the GLM's rows) a round's weights
    are its counts as drawn, not a copy; the sums over rows come in another order than the point
    fit's, which moves a fit by rounding only."""
    item_codes, _ = pd.factorize(design.item_ids, sort=True)
    order = np.argsort(item_codes, kind="stable")
    codes = item_codes[order]
    every_item_once = len(codes) == counts.shape[1] and bool((codes == np.arange(len(codes))).all())
    fits = ResampledFits(design.features[order], design.target[order], penalty, fit)
    controlled_t = np.ascontiguousarray(design.controlled()[order].T)
    values = np.empty(len(counts))
    for block in bootstrap_blocks(len(counts), len(codes)):
        weights = counts[block] if every_item_once else np.take(counts[block], codes, axis=1)
        boot = fits.fit(weights)
        odds = np.matmul(-boot, controlled_t, out=fits.buffer(0, len(boot)))
        with np.errstate(over="ignore"):  # exp(-z) = inf for z < -709: p = 0, as it should
            np.exp(odds, out=odds)
        np.add(odds, 1.0, out=odds)  # 1 / p, both answers of the same length
        won = np.divide(weights, odds, out=odds).sum(axis=1)  # each round's weighted sum of p
        values[block] = 100.0 * won / weights.sum(axis=1)
    return values
