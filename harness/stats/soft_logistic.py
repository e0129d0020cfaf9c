"""Penalised soft-label logistic regression, many small fits at once.

The length-controlled win rate fits three coefficients per model, and again for every bootstrap
round: with 57 models and 1,000 rounds that is 57,057 fits of 805 rows each. They are solved by
Newton's method together, as the Bradley-Terry bootstrap is (one stacked solve):

- the point fits of all models in one batch (rows padded with weight 0, which add nothing);
- each model's bootstrap rounds in blocks small enough that the per-iteration arrays stay in the
  CPU cache, every round starting from the model's point fit (it is close: a few steps);
- each fit stops when its own Newton step is below `TOLERANCE` (no steps for converged fits
  while a slow one finishes), and the target's constant part of the gradient is computed once.

The optimum is the one each fit alone reaches: the loss is strictly convex and every fit is
iterated until its step is below the same tolerance.
"""

from __future__ import annotations

import numpy as np

from harness.stats.bt_newton import _single_threaded_blas

#: A fit is done when no coefficient moves by more than this in one Newton step.
TOLERANCE = 1e-10
#: Upper bound on rounds x rows of one block of bootstrap fits: about 1 MB per working array.
BLOCK_ELEMENTS = 1 << 17


def newton_fits(
    features: np.ndarray, target: np.ndarray, weights: np.ndarray, l2: np.ndarray,
    start: np.ndarray | None = None, iterations: int = 50,
) -> np.ndarray:
    """Minimise sum_i w_i * logloss(target_i, sigmoid(x_i . c)) + 0.5 * sum_j l2_j c_j^2 for
    every weighting of every problem.

    features (b, n, k), target (b, n): b problems of n rows (pad with weight-0 rows);
    weights (b, r, n): r weightings of each problem (bootstrap counts), one fit each;
    start (b, k) or None (zeros): where every fit of a problem starts. Returns (b, r, k).
    """
    with _single_threaded_blas():  # tiny k x k solves and thin products: BLAS threads only contend
        return _newton(features, target, weights, l2, start, iterations)


def _newton(
    features: np.ndarray, target: np.ndarray, weights: np.ndarray, l2: np.ndarray,
    start: np.ndarray | None, iterations: int,
) -> np.ndarray:
    problems, rounds, rows = weights.shape
    k = features.shape[2]
    first, second = np.triu_indices(k)
    pairs = features[:, :, first] * features[:, :, second]  # the Hessian's distinct entries per row
    constant = weights @ (target[..., None] * features)  # the target's part of the gradient
    begin = np.zeros((problems, k)) if start is None else np.asarray(start, dtype=float)
    coef = np.repeat(begin[:, None, :], rounds, axis=1)
    # Every fit of a problem starts at the same point, so the first step needs one probability
    # per row, not one per (fit, row): two matrix products and no elementwise work.
    shared = _sigmoid(np.einsum("bnk,bk->bn", features, begin))
    grad = weights @ (shared[..., None] * features) - constant + coef * l2
    curvature = weights @ ((shared * (1.0 - shared))[..., None] * pairs)
    active = np.arange(rounds)  # rounds still moving (compacted away as they converge)
    done = np.zeros((problems, rounds), dtype=bool)
    w, g0 = weights, constant
    odds_buffer, weighted_buffer = np.empty(weights.shape), np.empty(weights.shape)
    rows_t = features.transpose(0, 2, 1)
    for iteration in range(iterations):
        c = coef[:, active] if len(active) < rounds else coef
        if iteration:
            odds, weighted = odds_buffer[:, :len(active)], weighted_buffer[:, :len(active)]
            np.matmul(-c, rows_t, out=odds)
            with np.errstate(over="ignore"):  # exp(-z) = inf for z < -709: p = 0, as it should
                np.exp(odds, out=odds)
            np.add(odds, 1.0, out=odds)  # 1 + exp(-z) = 1 / p
            np.divide(w, odds, out=weighted)  # w * p
            grad = weighted @ features - g0 + c * l2
            np.divide(weighted, odds, out=odds)  # w * p^2
            np.subtract(weighted, odds, out=odds)  # curvature: w * p * (1 - p)
            curvature = odds @ pairs
        hessian = np.empty((problems, len(active), k, k))
        hessian[..., first, second] = curvature
        hessian[..., second, first] = curvature
        hessian += np.diag(l2)
        step = np.linalg.solve(hessian, grad[..., None])[..., 0]
        step[done[:, active]] = 0.0  # a converged fit of a batch whose other fits still move
        coef[:, active] = c - step
        moved = np.max(np.abs(step), axis=2) >= TOLERANCE
        done[:, active] |= ~moved
        still = moved.any(axis=0)
        if not still.any():
            break
        if problems == 1 and not still.all():  # one problem: drop its converged rounds
            active, w, g0 = active[still], w[:, still], g0[:, still]
    return coef


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)): numpy's vectorised exp is several times faster than scipy's expit,
    with the same values to a few ulp; exp(-z) overflows to inf for z < -709, giving 0."""
    return _sigmoid(np.array(z, dtype=float))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """sigmoid, in place."""
    with np.errstate(over="ignore"):
        np.negative(z, out=z)
        np.exp(z, out=z)
    np.add(z, 1.0, out=z)
    return np.reciprocal(z, out=z)


def bootstrap_blocks(rounds: int, rows: int) -> list[slice]:
    """Consecutive blocks of rounds, each at most BLOCK_ELEMENTS rounds x rows (at least one round)."""
    size = max(1, BLOCK_ELEMENTS // max(rows, 1))
    return [slice(begin, min(begin + size, rounds)) for begin in range(0, rounds, size)]
