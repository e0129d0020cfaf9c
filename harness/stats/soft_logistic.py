"""Penalised soft-label logistic regression, many small fits at once.

The length-controlled win rate fits three coefficients per model, and again for every bootstrap
round: with 57 models and 1,000 rounds that is 57,057 fits of 805 rows each. They are solved by
Newton's method together, as the Bradley-Terry bootstrap is (one stacked solve):

- the point fits of all models in one batch (rows padded with weight 0, which add nothing);
- each model's bootstrap rounds in blocks of a few megabytes of working arrays, every round
  starting from the model's point fit (it is close: a few steps), what all rounds share made
  once per model and the blocks' arrays reused (ResampledFits);
- each fit stops when its own Newton step is below `TOLERANCE`, or one step sooner once its
  steps shrink quadratically below sqrt(TOLERANCE), as the Bradley-Terry fit stops (the skipped
  step would have been below TOLERANCE); no steps for converged fits while a slow one finishes,
  and the target's constant part of the gradient is computed once.

The optimum is the one each fit alone reaches, to about TOLERANCE: the loss is strictly convex
and every fit is iterated by the same rule.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from harness.stats.bt_newton import _single_threaded_blas

T = TypeVar("T")
R = TypeVar("R")

#: A fit is done when no coefficient moves by more than this in one Newton step.
TOLERANCE = 1e-10
#: Upper bound on rounds x rows of one block of bootstrap fits: about 2 MB per working array (on
#: two threads, smaller blocks spend more of their time waiting on the interpreter between steps).
BLOCK_ELEMENTS = 1 << 18


def newton_fits(
    features: np.ndarray, target: np.ndarray, weights: np.ndarray, l2: np.ndarray,
    start: np.ndarray | None = None, iterations: int = 50, limit_blas: bool = True,
) -> np.ndarray:
    """Minimise sum_i w_i * logloss(target_i, sigmoid(x_i . c)) + 0.5 * sum_j l2_j c_j^2 for
    every weighting of every problem.

    features (b, n, k), target (b, n): b problems of n rows (pad with weight-0 rows);
    weights (b, r, n): r weightings of each problem (bootstrap counts), one fit each;
    start (b, k) or None (zeros): where every fit of a problem starts. Returns (b, r, k).
    limit_blas=False: the caller already holds BLAS to one thread (in_threads' workers).
    """
    if not limit_blas:
        return _newton(features, target, weights, l2, start, iterations)
    with _single_threaded_blas():  # tiny k x k solves and thin products: BLAS threads only contend
        return _newton(features, target, weights, l2, start, iterations)


def in_threads(function: Callable[[T], R], items: Sequence[T], workers: int | None = None) -> list[R]:
    """[function(item) for item in items] on up to `workers` threads (default: the usable cores),
    in order. numpy releases the GIL in its loops, so independent fits share the cores with the
    same results. BLAS is held to one thread once, here, around all of them: its limit is
    process-wide, so workers entering and leaving it themselves would restore it under each other."""
    workers = min(len(items), workers or usable_cores())
    with _single_threaded_blas():
        if workers <= 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(function, items))


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _newton(
    features: np.ndarray, target: np.ndarray, weights: np.ndarray, l2: np.ndarray,
    start: np.ndarray | None, iterations: int,
) -> np.ndarray:
    problems, rounds, rows = weights.shape
    k = features.shape[2]
    first, second = np.triu_indices(k)
    pairs = row_pairs(features)  # the Hessian's distinct entries per row
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
    previous = np.full((problems, rounds), np.inf)  # each fit's last step size
    w, g0 = np.ascontiguousarray(weights), constant  # row-major like the buffers it divides: a strided divide is slow
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
        size = np.max(np.abs(step), axis=2)
        # Newton converges quadratically near the optimum: once a step is below sqrt(TOLERANCE)
        # and shrank quadratically, the next would be ~size^2 < TOLERANCE, so it is skipped (as
        # the Bradley-Terry fit does): a fit ends one step earlier, within about TOLERANCE of it
        moved = (size >= TOLERANCE) & ~((size * size < TOLERANCE) & (size <= 10.0 * previous[:, active] ** 2))
        previous[:, active] = size
        done[:, active] |= ~moved
        still = moved.any(axis=0)
        if not still.any():
            break
        if problems == 1 and not still.all():  # one problem: drop its converged rounds
            active, w, g0 = active[still], w[:, still], g0[:, still]
    return coef


class ResampledFits:
    """The fits of one problem under many weightings of its rows (bootstrap rounds), each started
    at the same point (the problem's own fit) and iterated as newton_fits iterates: what every
    round shares is computed once for all blocks of rounds, not again for each block.

    At the start every round has the same probability per row, so its first step needs no
    elementwise work: the target's part of the gradient, the start's part and the start's
    curvature are one matrix product of the round's weights with per-row terms made here."""

    def __init__(self, features: np.ndarray, target: np.ndarray, l2: np.ndarray, start: np.ndarray,
                 iterations: int = 50):
        features = np.ascontiguousarray(features, dtype=float)
        k = features.shape[1]
        self.features, self.rows_t = features, np.ascontiguousarray(features.T)
        self.pairs = row_pairs(features)  # the Hessian's distinct entries per row
        self.first, self.second = np.triu_indices(k)
        self.start, self.l2, self.iterations = np.asarray(start, dtype=float), np.asarray(l2, dtype=float), iterations
        shared = _sigmoid(features @ self.start)
        self.at_start = np.hstack([np.asarray(target, dtype=float)[:, None] * features, shared[:, None] * features,
                                   (shared * (1.0 - shared))[:, None] * self.pairs])
        self._buffers: list[np.ndarray] = []

    def buffer(self, index: int, rounds: int) -> np.ndarray:
        """Working array `index` (0-3) of `rounds` x rows, the same memory for every block: a
        block's arrays are megabytes, and one allocated anew each time is mapped and faulted in anew."""
        if not self._buffers or len(self._buffers[0]) < rounds:
            self._buffers = [np.empty((rounds, len(self.features))) for _ in range(4)]
        return self._buffers[index][:rounds]

    def fit(self, weights: np.ndarray) -> np.ndarray:
        """The coefficients (rounds, k) for weights (rounds, rows), one round per row of weights.
        BLAS is the caller's to hold to one thread (in_threads' workers do). Buffers 0-3 are
        overwritten (the caller may use them between fits)."""
        w = np.ascontiguousarray(weights, dtype=float)
        rounds, k = len(w), len(self.start)
        sums = w @ self.at_start
        g0 = sums[:, :k]  # the target's part of every round's gradient: constant
        coef = np.repeat(self.start[None], rounds, axis=0)
        grad = sums[:, k:2 * k] - g0 + coef * self.l2
        curvature = sums[:, 2 * k:]
        active = np.arange(rounds)  # rounds still moving (compacted away as they converge)
        previous = np.full(rounds, np.inf)  # each fit's last step size
        odds_buffer, weighted_buffer = self.buffer(0, rounds), self.buffer(1, rounds)
        ridge = np.diag(self.l2)
        for iteration in range(self.iterations):
            c = coef[active] if len(active) < rounds else coef
            if iteration:
                odds, weighted = odds_buffer[:len(active)], weighted_buffer[:len(active)]
                np.matmul(-c, self.rows_t, out=odds)
                with np.errstate(over="ignore"):  # exp(-z) = inf for z < -709: p = 0, as it should
                    np.exp(odds, out=odds)
                np.add(odds, 1.0, out=odds)  # 1 + exp(-z) = 1 / p
                np.divide(w, odds, out=weighted)  # w * p
                grad = weighted @ self.features - g0 + c * self.l2
                np.divide(weighted, odds, out=odds)  # w * p^2
                np.subtract(weighted, odds, out=odds)  # curvature: w * p * (1 - p)
                curvature = odds @ self.pairs
            hessian = np.empty((len(active), k, k))
            hessian[:, self.first, self.second] = curvature
            hessian[:, self.second, self.first] = curvature
            hessian += ridge
            step = np.linalg.solve(hessian, grad[..., None])[..., 0]
            coef[active] = c - step
            size = np.max(np.abs(step), axis=1)
            # as _newton: a step below sqrt(TOLERANCE) that shrank quadratically ends its fit
            moved = (size >= TOLERANCE) & ~((size * size < TOLERANCE) & (size <= 10.0 * previous[active] ** 2))
            previous[active] = size
            if not moved.any():
                break
            if not moved.all():  # drop the converged rounds
                into = self.buffer(3 if w.base is self._buffers[2] else 2, rounds)[:int(moved.sum())]
                active, w, g0 = active[moved], np.compress(moved, w, axis=0, out=into), g0[moved]
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


def l1_newton_fits(
    features: np.ndarray, target: np.ndarray, scaled: np.ndarray, ridge: np.ndarray, offset: np.ndarray,
    start: np.ndarray | None = None, tol: float = 1e-11, max_steps: int = 200, limit_blas: bool = True,
    pairs: np.ndarray | None = None,
) -> np.ndarray:
    """argmin_w sum_i scaled_i * logloss_i(x_i . w + offset_i) + ridge . w^2 / 2 + |w|_1 for a
    stack of problems with a few dense features each, all solved together (AlpacaEval's GLM runs
    57 models x 5 folds x 10 Cs of them).

    features (P, n, k); target, scaled, offset (P, n) (pad rows with scaled 0); ridge (P, k);
    start (P, k) or None (zeros). Proximal Newton, liblinear's method for L1 logistic regression:
    each step minimises the quadratic model plus |w|_1 exactly, then backtracks until the
    objective falls enough (Armijo); a fit stops when its move is below tol (relative to its
    largest coefficient) or when no step decreases it. limit_blas=False: as newton_fits'.
    pairs: row_pairs(features), when the caller fits the same stack again (a path of Cs)."""
    products = row_pairs(features) if pairs is None else pairs
    if not limit_blas:
        return _l1_newton(features, target, scaled, ridge, offset, start, tol, max_steps, products)
    with _single_threaded_blas():  # stacks of tiny products and k x k solves
        return _l1_newton(features, target, scaled, ridge, offset, start, tol, max_steps, products)


def row_pairs(features: np.ndarray) -> np.ndarray:
    """Every row's products x_i * x_j, i <= j (np.triu_indices order): the Hessian's distinct entries."""
    first, second = np.triu_indices(features.shape[-1])
    pairs = np.empty((*features.shape[:-1], len(first)))
    for index, (i, j) in enumerate(zip(first, second)):
        np.multiply(features[..., i], features[..., j], out=pairs[..., index])
    return pairs


def _l1_newton(
    features: np.ndarray, target: np.ndarray, scaled: np.ndarray, ridge: np.ndarray, offset: np.ndarray,
    start: np.ndarray | None, tol: float, max_steps: int, pairs: np.ndarray,
) -> np.ndarray:
    problems, _, k = features.shape
    first, second = np.triu_indices(k)
    coef = np.zeros((problems, k)) if start is None else np.array(start, dtype=float)
    active = np.arange(problems)
    for _ in range(max_steps):
        if not len(active):
            break
        every = len(active) == problems  # no copies of the stack while every fit still moves
        x, y, w = (features, target, scaled) if every else (features[active], target[active], scaled[active])
        c, r = coef[active], ridge[active]
        z = (x @ c[:, :, None])[:, :, 0] + (offset if every else offset[active])
        mu = sigmoid(z)
        grad = ((w * (mu - y))[:, None, :] @ x)[:, 0, :] + r * c
        hess = np.empty((len(active), k, k))
        hess[:, first, second] = hess[:, second, first] = ((w * mu * (1.0 - mu))[:, None, :] @ (pairs if every else pairs[active]))[:, 0, :]
        hess += r[:, :, None] * np.eye(k) + 1e-12 * np.eye(k)
        linear = grad - (hess @ c[:, :, None])[:, :, 0]
        aim, optimal = _l1_quadratic_guess(hess, linear, np.sign(c))  # near the optimum: its signs
        if not optimal.all():
            aim[~optimal] = _l1_quadratic_minimum(hess[~optimal], linear[~optimal])
        step = aim - c
        decrease = np.einsum("pk,pk->p", grad, step) + _l1_change(c, step)
        moves = (x @ step[:, :, None])[:, :, 0]  # each row's z moves by size * this
        size = np.ones(len(active))
        searching = np.ones(len(active), dtype=bool)
        while True:
            searching &= size > 1e-10
            at = np.flatnonzero(searching)
            if not len(at):
                break
            moved = size[at, None] * step[at]
            rows = (z, mu, y, w, moves) if len(at) == len(active) else (z[at], mu[at], y[at], w[at], moves[at])
            change = (loss_change(*rows[:4], size[at, None] * rows[4])
                      + 0.5 * np.einsum("pk,pk->p", r[at], moved * (2.0 * c[at] + moved)) + _l1_change(c[at], moved))
            ok = change <= 0.01 * size[at] * decrease[at]
            searching[at[ok]] = False
            size[at[~ok]] /= 2.0
        stuck = size <= 1e-10  # no step decreases the objective: at its optimum to rounding
        move = np.where(stuck[:, None], 0.0, size[:, None] * step)
        coef[active] = c + move
        scale = np.maximum(1.0, np.max(np.abs(coef[active]), axis=1))
        active = active[~stuck & (np.max(np.abs(move), axis=1) >= tol * scale)]
    return coef


def loss_change(z: np.ndarray, mu: np.ndarray, target: np.ndarray, scaled: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """sum_i scaled_i * (logloss_i(z_i + d_i) - logloss_i(z_i)) per problem, mu = sigmoid(z).

    softplus(z + d) - softplus(z) = log1p(mu * expm1(d)): exact for small moves, where the
    difference of the two losses would cancel to rounding (~1e-13 of the loss) and stop the line
    search short of the optimum; the plain difference for large moves."""
    with np.errstate(over="ignore", invalid="ignore"):
        change = np.log1p(mu * np.expm1(moves))
    far = np.abs(moves) >= 1.0
    if far.any():
        change[far] = np.logaddexp(0.0, z[far] + moves[far]) - np.logaddexp(0.0, z[far])
    change -= target * moves
    return np.einsum("pn,pn->p", scaled, change)


def _l1_change(coef: np.ndarray, step: np.ndarray) -> np.ndarray:
    """|coef + step|_1 - |coef|_1 per problem, exact where a coefficient keeps its sign."""
    moved = coef + step
    same = np.sign(moved) * np.sign(coef) > 0
    return np.where(same, np.sign(coef) * step, np.abs(moved) - np.abs(coef)).sum(axis=1)


def _l1_quadratic_minimum(hess: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """argmin_u u'Hu / 2 + linear . u + |u|_1 for a stack of k x k positive definite H, exactly.

    The minimum lies on one face of sign pattern s in {-1, 0, 1}^k, where the objective is the
    smooth u'Hu / 2 + (linear + s) . u over the free coordinates; each pattern's stationary point
    whose signs agree with the pattern is a feasible point, and the lowest of them is the minimum
    (3^k patterns: 27 for a model's three features, all solved in one stack)."""
    problems, k = linear.shape
    patterns = np.array(list(itertools.product((-1.0, 0.0, 1.0), repeat=k)))  # (S, k), the all-zero one included
    free = patterns != 0.0
    systems = hess[None] * (free[:, None, :, None] & free[:, None, None, :]) + (np.eye(k) * ~free[:, None, :])[:, None]
    u = np.linalg.solve(systems, (-(linear[None] + patterns[:, None]) * free[:, None])[..., None])[..., 0]
    agrees = np.all((u * patterns[:, None] > 0.0) | ~free[:, None], axis=2)
    value = 0.5 * np.einsum("spj,pjk,spk->sp", u, hess, u) + np.einsum("pk,spk->sp", linear, u) + np.abs(u).sum(axis=2)
    best = np.argmin(np.where(agrees, value, np.inf), axis=0)
    return u[best, np.arange(problems)]


def _l1_quadratic_guess(hess: np.ndarray, linear: np.ndarray, signs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stationary point on the face of sign pattern `signs` (one per problem), and whether it
    is the minimum of u'Hu / 2 + linear . u + |u|_1: its signs agree and every zero coordinate's
    gradient lies within [-1, 1] (the conditions that make a point of this convex problem optimal)."""
    k = linear.shape[1]
    free = signs != 0.0
    system = hess * (free[:, :, None] & free[:, None, :]) + np.eye(k) * ~free[:, None, :]
    u = np.linalg.solve(system, (-(linear + signs) * free)[:, :, None])[:, :, 0]
    gradient = (hess @ u[:, :, None])[:, :, 0] + linear
    optimal = np.all(np.where(free, u * signs > 0.0, np.abs(gradient) <= 1.0), axis=1)
    return u, optimal


