"""Newton solver for Bradley-Terry maximum likelihood on stacks of win matrices.

Kept apart from the battle handling and the leaderboard (bradley_terry.py) because it is the
performance-critical part: a 1000-round bootstrap is one stacked problem of shape (1000, m, m),
solved with damped Newton on condensed pair arrays, warm-started at the point estimate.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
from scipy.special import expit

try:  # BLAS threads only slow down thousands of tiny stacked solves (oversubscription)
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - optional
    ThreadpoolController = None
_CONTROLLER = None

#: L2 penalty on the log-strengths, in units of battles. It makes the optimum exist and be unique
#: when the plain MLE does not (a model that won or lost everything, a model with no battles, a
#: disconnected comparison graph) and is far too small to move a well-posed fit noticeably: the
#: shift is about RIDGE * theta / (battles * p * (1 - p)) per model, below 1e-6 from ~10 battles.
#: A model that won all of its n battles ends about log(n / RIDGE) ~ 14 + log(n) above its
#: opponents instead of infinitely far: huge but finite, so it still ranks first.
RIDGE = 1e-6


class _Pairs:
    """The win counts of a stack in condensed form: only pairs i < j that met in some fit.

    Working on (B, pairs) arrays instead of (B, m, m) halves the elementwise work (the matrix
    is antisymmetric in what matters) and skips pairs that never met, which is most of them
    when many models each meet a few opponents.
    """

    def __init__(self, wins: np.ndarray):
        m = wins.shape[-1]
        iu, ju = np.triu_indices(m, 1)
        met = ((wins[:, iu, ju] + wins[:, ju, iu]) > 0).any(axis=0)
        self.i, self.j = iu[met], ju[met]
        self.up = wins[:, self.i, self.j]  # wins of i over j
        self.down = wins[:, self.j, self.i]  # wins of j over i
        self.incidence = np.zeros((self.i.size, m))
        self.incidence[np.arange(self.i.size), self.i] = 1.0
        self.incidence[np.arange(self.i.size), self.j] = -1.0
        self.spread = np.ascontiguousarray(self.incidence.T)  # theta @ spread = pairwise gaps
        self.flat_ij = self.i * m + self.j
        self.flat_ji = self.j * m + self.i

    def take(self, rows: np.ndarray) -> _Pairs:
        sub = object.__new__(_Pairs)
        sub.i, sub.j, sub.incidence, sub.spread = self.i, self.j, self.incidence, self.spread
        sub.flat_ij, sub.flat_ji = self.flat_ij, self.flat_ji
        sub.up, sub.down = self.up[rows], self.down[rows]
        return sub


def _objective(theta: np.ndarray, pairs: _Pairs, ridge: float) -> np.ndarray:
    """Penalised log-likelihood, sum_ij W_ij log sigmoid(theta_i - theta_j) - ridge/2 |theta|^2.

    Written with logaddexp so that extreme strength gaps neither overflow nor lose precision.
    """
    diff = theta @ pairs.spread
    loglik = -(pairs.up * np.logaddexp(0.0, -diff) + pairs.down * np.logaddexp(0.0, diff)).sum(axis=-1)
    return loglik - 0.5 * ridge * (theta * theta).sum(axis=-1)


def _component_means(games: np.ndarray) -> np.ndarray | None:
    """Averaging operator over connected components of the comparison graph, shape (B, m, m).

    M[i, j] = 1/|C| when i and j are in the same component C, else 0. The likelihood cannot see
    a shift of a whole component, so only the tiny ridge pins its mean (to 0). Solving for those
    directions through the ridge would amplify round-off by 1/RIDGE; instead the fit keeps
    every component's mean at exactly 0 with this projector. The stack's graphs are labelled in
    one connected-components pass over their block-diagonal union.
    """
    n_fits, m, _ = games.shape
    # Fast path: a graph in which every pair met is connected (the usual bootstrap round);
    # None stands for "one component": plain centring, no (B, m, m) operator in memory.
    met = (games > 0) | np.eye(m, dtype=bool)
    partial = np.flatnonzero(~met.reshape(n_fits, -1).all(axis=1))
    if partial.size == 0:
        return None
    means = np.full((n_fits, m, m), 1.0 / max(m, 1))
    # A graph where one model met every other (a baseline's, as in AlpacaEval and Arena-Hard) is
    # connected: one component, whose operator `means` already holds (1/m everywhere, the value
    # the labelling below gives it). Only the other graphs need scipy.sparse.csgraph, which loads
    # scipy.sparse.linalg and scipy.linalg (~0.1 s of every `harness report` otherwise).
    partial = partial[~np.any(np.all(met[partial], axis=2), axis=1)]
    if partial.size == 0:
        return means
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    stack, row, col = np.nonzero(met[partial])
    offset = stack * m
    size = partial.size * m
    union = coo_matrix((np.ones(row.size), (offset + row, offset + col)), shape=(size, size))
    _, labels = connected_components(union, directed=False)
    sizes = np.bincount(labels).astype(float)
    labels = labels.reshape(partial.size, m)
    same = labels[:, :, None] == labels[:, None, :]
    means[partial] = same / sizes[labels][:, :, None]
    return means


def _project(vec: np.ndarray, means: np.ndarray | None) -> np.ndarray:
    """Remove each component's mean from a stack of vectors (B, m); None: one component."""
    if means is None:
        return vec - vec.mean(axis=-1, keepdims=True)
    return vec - (means @ vec[..., None])[..., 0]


def _newton_step(theta, pairs: _Pairs, means, ridge) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Newton direction of the penalised log-likelihood, within the subspace where
    every component has mean 0 (where the ridge optimum lies).

    The negative Hessian there is the graph Laplacian of games * p * (1 - p) plus ridge * I; the
    added multiple of `means` only lifts the component-shift directions, which the projected
    gradient never points along, so the step is unchanged but the solve is well conditioned.
    """
    diff = theta @ pairs.spread
    p = expit(diff)  # P(i beats j); 1 - p computed as expit(-diff), without cancellation
    q = expit(-diff)
    # Expected-minus-observed wins of i against j, written so a near-certain win (p ~ 1) keeps
    # full relative precision; j gets the same with the opposite sign.
    resid = pairs.up * q - pairs.down * p
    grad = _project(resid @ pairs.incidence - ridge * theta, means)
    curv = (pairs.up + pairs.down) * p * q
    n_fits, m = theta.shape
    hess = np.zeros((n_fits, m, m))
    flat = hess.reshape(n_fits, m * m)  # a view: flat indices beat 3-d fancy indexing
    flat[:, pairs.flat_ij] = -curv
    flat[:, pairs.flat_ji] = -curv
    diag = -hess.sum(axis=-1)
    lift = 1.0 + diag.mean(axis=-1)
    if means is None:
        hess += (lift / m)[:, None, None]
    else:
        hess += lift[:, None, None] * means
    hess[:, np.arange(m), np.arange(m)] += diag + ridge
    step = _project(np.linalg.solve(hess, grad[..., None])[..., 0], means)
    return grad, step


#: Largest coordinate of a Newton step taken without checking the objective. Every pairwise
#: gap then moves by at most 0.2 nats, where the logistic log-likelihood's third-order term is
#: under a tenth of the quadratic gain, so a full step cannot make the fit worse.
SAFE_STEP = 0.1


def _line_search(theta, step, slope, f0, pairs: _Pairs, ridge) -> tuple[np.ndarray, np.ndarray]:
    """Backtracking (Armijo) step lengths per problem, so far-off starts cannot overshoot;
    returns the step lengths and the objective at the accepted points (reused as the next f0;
    NaN where unknown).

    Small steps (see SAFE_STEP) are taken whole without evaluating the objective: near the
    optimum, e.g. bootstrap rounds warm-started at the point estimate, that halves the work.
    A tiny slack absorbs round-off once the objective stops changing near the optimum.
    """
    t = np.ones(theta.shape[0])
    f_new = np.full(theta.shape[0], np.nan)
    todo = np.abs(step).max(axis=-1, initial=0.0) > SAFE_STEP
    if todo.any():
        stale = todo & np.isnan(f0)
        if stale.any():
            f0 = f0.copy()
            f0[stale] = _objective(theta[stale], pairs.take(np.flatnonzero(stale)), ridge)
        slack = 1e-12 * (1.0 + np.abs(f0))
    for _ in range(60):
        idx = np.flatnonzero(todo)
        if idx.size == 0:
            break
        trial = theta[idx] + t[idx, None] * step[idx]
        f1 = _objective(trial, pairs.take(idx), ridge)
        ok = f1 >= f0[idx] + 1e-4 * t[idx] * slope[idx] - slack[idx]
        todo[idx[ok]] = False
        f_new[idx[ok]] = f1[ok]
        t[idx[~ok]] *= 0.5
    t[todo] = 0.0
    return t, f_new


def _single_threaded_blas():
    """Context that keeps BLAS to one thread where threadpoolctl is installed: a stack of small
    m x m solves is already the unit of work, and threaded BLAS on each of them oversubscribes
    the cores (measured 50x slower on a loaded 2-core machine)."""
    global _CONTROLLER
    if ThreadpoolController is None:
        return contextlib.nullcontext()
    if _CONTROLLER is None:  # scanning the loaded libraries is slow: do it once
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def _fit_stack(
    wins: np.ndarray, max_iter: int, tol: float, ridge: float, start: np.ndarray | None = None
) -> np.ndarray:
    """Damped Newton on a stack (B, m, m) of win matrices, iterating only unconverged ones."""
    with _single_threaded_blas():
        return _fit_stack_inner(wins, max_iter, tol, ridge, start)


def _fit_stack_inner(wins, max_iter, tol, ridge, start) -> np.ndarray:
    n_fits, m, _ = wins.shape
    games = wins + np.swapaxes(wins, -1, -2)
    means = _component_means(games)
    if start is None:
        theta = np.zeros((n_fits, m))
    else:  # a warm start, moved into the subspace where every component has mean 0
        theta = _project(np.broadcast_to(start, (n_fits, m)).astype(float), means)
    pairs = _Pairs(wins)
    previous = np.full(n_fits, np.inf)
    active = np.arange(n_fits)
    value = np.full(n_fits, np.nan)  # objective values, computed only when a line search needs them
    for _ in range(max_iter):
        if active.size == 0:
            break
        th = theta[active]
        sub = pairs if active.size == n_fits else pairs.take(active)
        grad, step = _newton_step(th, sub, None if means is None else means[active], ridge)
        t, value[active] = _line_search(th, step, (grad * step).sum(axis=-1), value[active], sub, ridge)
        theta[active] = th + t[:, None] * step
        moved = np.abs(t[:, None] * step).max(axis=-1, initial=0.0)
        # Newton converges quadratically near the optimum: once a full step is below sqrt(tol)
        # and shrank quadratically, the next one would be ~moved^2 < tol, so it can be skipped.
        quadratic = (t == 1.0) & (moved * moved < tol) & (moved <= 10.0 * previous[active] ** 2)
        previous[active] = moved
        active = active[(moved > tol) & ~quadratic]
    if active.size:
        warnings.warn(
            f"Bradley-Terry fit did not converge for {active.size} of {n_fits} win matrices "
            f"in {max_iter} Newton iterations",
            RuntimeWarning,
            stacklevel=3,
        )
    return theta - theta.mean(axis=-1, keepdims=True)


def fit_bradley_terry(
    wins: np.ndarray,
    *,
    max_iter: int = 200,
    tol: float = 1e-10,
    ridge: float = RIDGE,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Maximum-likelihood Bradley-Terry log-strengths (natural log, mean 0) from win counts.

    `wins[i, j]` is the (weighted, ties counted half) number of wins of model i over model j;
    the diagonal is ignored. A stack of shape (..., m, m) is fitted in one vectorised pass,
    which is what makes a 1000-round bootstrap cheap. Uses damped Newton on the concave
    log-likelihood with the tiny `ridge` penalty (see RIDGE) so degenerate data still has a
    unique, finite optimum; stops when no coordinate moves more than `tol`. With a disconnected
    comparison graph each component is centred on its own, since the data cannot relate them.
    `start` (shape (m,) or the batch's) warm-starts Newton, e.g. bootstrap rounds from the
    point estimate: it changes the iterations needed, not the optimum.
    """
    wins = np.asarray(wins, dtype=float)
    if wins.ndim < 2 or wins.shape[-1] != wins.shape[-2]:
        raise ValueError(f"wins must have shape (..., m, m), got {wins.shape}")
    if not np.all(np.isfinite(wins) & (wins >= 0.0)):
        raise ValueError("wins must be finite and non-negative")
    if ridge <= 0.0:
        raise ValueError("ridge must be positive, or degenerate data has no optimum")
    m = wins.shape[-1]
    batch_shape = wins.shape[:-2]
    stack = wins.reshape(-1, m, m).copy()
    stack[:, np.arange(m), np.arange(m)] = 0.0
    if m == 0 or stack.shape[0] == 0:
        return np.zeros(batch_shape + (m,))
    if start is not None:
        start = np.broadcast_to(np.asarray(start, dtype=float), batch_shape + (m,)).reshape(-1, m)
    return _fit_stack(stack, max_iter, tol, ridge, start).reshape(batch_shape + (m,))
