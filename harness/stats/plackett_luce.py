"""Plackett-Luce ratings from full orders of K answers, on the Elo scale of the Bradley-Terry table.

A judge that orders K answers best first is read as K - 1 successive choices: the first is chosen
from all K with probability exp(theta_first) / sum exp(theta), the second from the rest, and so
on. With K = 2 this is exactly Bradley-Terry, so the ratings share its scale: natural-log
strengths centred at 0, shown as 1000 + 400 / ln(10) * theta, as `bradley_terry_table` does.

The same weak prior as the Bradley-Terry table (bt_prior.py): one virtual tied pairwise battle
between every two models that appeared in a common order, fixed in every bootstrap round, so a
model that always comes first has a finite rating. Intervals come from an item bootstrap: every
item's orders are resampled together (an item's orders share its difficulty and are correlated).
The fit is Newton's method with step halving on the penalised log-likelihood; the Hessian is
assembled from index arithmetic (bincount), so a bootstrap of a thousand rounds takes seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from harness.stats.bootstrap import item_bootstrap_counts
from harness.stats.bradley_terry import leaderboard_frame
from harness.stats.bt_prior import shared_ties
from harness.stats.intervals import blank_zero_width

#: Elo points per natural-log unit of strength (400 points: odds of 10 to 1).
ELO = 400.0 / math.log(10.0)
RIDGE = 1e-6


def _stages(rankings: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The successive choices of every order: for stage j, the orders that still have a choice to
    make (at least two answers left) and their answers from position j on (-1: padding)."""
    valid = rankings >= 0
    for j in range(rankings.shape[1] - 1):
        active = valid[:, j + 1]
        if not active.any():
            return
        yield active, rankings[active, j:]


def _log_likelihood(theta: np.ndarray, rankings: np.ndarray, weights: np.ndarray, prior: np.ndarray,
                    ridge: float = RIDGE) -> float:
    total = 0.0
    for active, rest in _stages(rankings):
        u = np.where(rest >= 0, theta[np.maximum(rest, 0)], -np.inf)
        top = u.max(axis=1)
        lse = top + np.log(np.exp(u - top[:, None]).sum(axis=1))
        total += float(weights[active] @ (u[:, 0] - lse))
    if prior.any():
        diff = theta[:, None] - theta[None, :]
        total += float((prior * -np.logaddexp(0.0, -diff)).sum())
    return total - 0.5 * ridge * float(theta @ theta)


def _gradient_hessian(
    theta: np.ndarray, rankings: np.ndarray, weights: np.ndarray, prior: np.ndarray, ridge: float = RIDGE,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and negative Hessian of the penalised log-likelihood."""
    m = len(theta)
    grad = np.zeros(m)
    neg_hess = np.zeros(m * m)
    for active, rest in _stages(rankings):
        w = weights[active]
        ok = rest >= 0
        idx = np.maximum(rest, 0)
        u = np.where(ok, theta[idx], -np.inf)
        p = np.exp(u - u.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        grad += np.bincount(rest[:, 0], weights=w, minlength=m)
        wp = w[:, None] * p
        grad -= np.bincount(idx[ok], weights=wp[ok], minlength=m)
        neg_hess += np.bincount(idx[ok] * (m + 1), weights=wp[ok], minlength=m * m)
        outer = wp[:, :, None] * p[:, None, :]
        pair = ok[:, :, None] & ok[:, None, :]
        cells = (idx[:, :, None] * m + idx[:, None, :])[pair]
        neg_hess -= np.bincount(cells, weights=outer[pair], minlength=m * m)
    h = neg_hess.reshape(m, m)
    if prior.any():
        s = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))  # P(i beats j)
        grad += (prior * (1.0 - s)).sum(axis=1) - (prior.T * s).sum(axis=1)
        c = (prior + prior.T) * s * (1.0 - s)
        h = h - c + np.diag(c.sum(axis=1))
    return grad - ridge * theta, h + ridge * np.eye(m)


def fit_plackett_luce(
    rankings: np.ndarray, m: int, *, weights: np.ndarray | None = None, prior: np.ndarray | None = None,
    start: np.ndarray | None = None, max_iter: int = 100, tol: float = 1e-9, ridge: float = RIDGE,
) -> np.ndarray:
    """Centred natural-log strengths maximising the Plackett-Luce likelihood.

    `rankings` (n, K): model indices best first, padded with -1 for shorter orders; `weights` (n,)
    how often each order counts; `prior` (m, m) pseudo-wins added as Bradley-Terry battles;
    `ridge`: the precision of a N(0, 1/ridge) prior on every strength (default: tiny).
    """
    rankings = np.asarray(rankings, dtype=np.int64)
    weights = np.ones(len(rankings)) if weights is None else np.asarray(weights, dtype=float)
    prior = np.zeros((m, m)) if prior is None else np.asarray(prior, dtype=float)
    theta = np.zeros(m) if start is None else np.array(start, dtype=float)
    value = _log_likelihood(theta, rankings, weights, prior, ridge)
    ones = np.full((m, m), 1.0 / m)
    for _ in range(max_iter):
        grad, h = _gradient_hessian(theta, rankings, weights, prior, ridge)
        step = np.linalg.solve(h + ones, grad)  # the ones fix the free shift of every strength
        step -= step.mean()
        t = 1.0
        while t > 1e-6:
            trial = theta + t * step
            new = _log_likelihood(trial, rankings, weights, prior, ridge)
            if new >= value - 1e-12:
                break
            t /= 2.0
        theta, value = trial, new
        if np.abs(t * step).max() < tol:
            break
    return theta - theta.mean()


def _batched_newton(
    rankings: np.ndarray, m: int, weights: np.ndarray, prior: np.ndarray, start: np.ndarray, iters: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Newton's method for many weightings at once (rows of `weights`, shape (R, n)) from a
    `start` ((m,) or (R, m)) near every optimum: a fixed number of full steps. Returns
    the strengths and each round's last step (large: not settled)."""
    rounds = weights.shape[0]
    theta = np.array(np.broadcast_to(start, (rounds, m)))
    eye = np.eye(m)
    stages = []
    for active, rest in _stages(rankings):
        ok = rest >= 0
        idx = np.maximum(rest, 0)
        rows = np.broadcast_to(np.arange(len(rest))[:, None], rest.shape)
        stages.append((active, ok, idx, (rows[ok], idx[ok]), eye[rest[:, 0]]))
    ones = np.full((m, m), 1.0 / m)
    last = np.full(rounds, np.inf)
    for _ in range(iters):
        grad = -RIDGE * theta
        hess = np.tile(RIDGE * eye + ones, (rounds, 1, 1))
        for active, ok, idx, (at_row, at_model), first in stages:
            w = weights[:, active]  # (R, n_a)
            u = np.where(ok[None], theta[:, idx], -np.inf)
            p = np.exp(u - u.max(axis=2, keepdims=True))
            p /= p.sum(axis=2, keepdims=True)
            mass = np.zeros((rounds, len(idx), m))  # P(choose a) at this stage, (R, n_a, m)
            mass[:, at_row, at_model] = p[:, ok]
            chosen = np.einsum("rn,rna->ra", w, mass)
            grad += w @ first - chosen
            hess[:, np.arange(m), np.arange(m)] += chosen
            hess -= np.matmul((w[:, :, None] * mass).transpose(0, 2, 1), mass)
        if prior.any():
            sig = 1.0 / (1.0 + np.exp(-(theta[:, :, None] - theta[:, None, :])))
            grad += (prior[None] * (1.0 - sig)).sum(axis=2) - (prior.T[None] * sig).sum(axis=2)
            c = (prior + prior.T)[None] * sig * (1.0 - sig)
            hess += np.einsum("rab,ab->rab", -c, np.ones((m, m))) + c.sum(axis=2)[:, :, None] * eye[None]
        step = np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        step -= step.mean(axis=1, keepdims=True)
        theta = theta + step
        last = np.abs(step).max(axis=1)
    return theta - theta.mean(axis=1, keepdims=True), last


def bootstrap_plackett_luce(
    rankings: np.ndarray, items: np.ndarray, m: int, *, n_rounds: int, seed: int,
    prior: np.ndarray | None = None, start: np.ndarray | None = None, chunk: int = 32,
) -> np.ndarray:
    """Strengths refitted on `n_rounds` resamples of the items, shape (n_rounds, m): each item's
    multiplicity is drawn from a multinomial and weights all of its orders together. Rounds are
    solved in vectorised chunks by Newton from the full-data fit; a round that does not settle
    (far from it, e.g. a model's only orders left out) is refitted on its own."""
    rankings = np.asarray(rankings, dtype=np.int64)
    uniques, codes = np.unique(items, return_inverse=True)
    n_items = len(uniques)
    prior = np.zeros((m, m)) if prior is None else np.asarray(prior, dtype=float)
    counts = item_bootstrap_counts(n_items, n_rounds, seed)
    if start is None:
        start = fit_plackett_luce(rankings, m, prior=prior)
    # One Newton step from the full-data fit for every round at once, from per-item gradients
    # and curvatures (linear in the item weights), then exact steps to convergence.
    none = np.zeros((m, m))
    per_item = [_gradient_hessian(start, rankings[codes == i], np.ones(int((codes == i).sum())), none)
                for i in range(n_items)]
    item_grad = np.stack([g + RIDGE * start for g, _ in per_item])
    item_hess = np.stack([h - RIDGE * np.eye(m) for _, h in per_item]).reshape(n_items, m * m)
    base_grad, base_hess = _gradient_hessian(start, rankings[:0], np.ones(0), prior)
    out = np.zeros((n_rounds, m))
    for lo in range(0, n_rounds, chunk):
        c = counts[lo: lo + chunk].astype(float)
        grad = c @ item_grad + base_grad
        hess = (c @ item_hess).reshape(len(c), m, m) + base_hess + 1.0 / m
        step = np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        first = start + step - step.mean(axis=1, keepdims=True)
        w = c[:, codes]
        fitted, last = _batched_newton(rankings, m, w, prior, first, iters=2)
        out[lo: lo + len(w)] = fitted
        for r in np.flatnonzero(~np.isfinite(fitted).all(axis=1) | ~(last < 1e-5)):
            out[lo + r] = fit_plackett_luce(rankings, m, weights=w[r], prior=prior, start=start)
    return out


def gaussian_posterior(rankings: np.ndarray, m: int, *, precision: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A Gaussian approximation of the skills' posterior under a N(0, 1/precision) prior on every
    log-strength (Laplace at the mode): mean and covariance, for choosing what to judge next."""
    prior = np.zeros((m, m))
    rankings = np.asarray(rankings, dtype=np.int64).reshape(-1, max(2, np.shape(rankings)[-1] if np.size(rankings) else 2))
    theta = fit_plackett_luce(rankings, m, ridge=precision)
    _, h = _gradient_hessian(theta, rankings, np.ones(len(rankings)), prior, precision)
    return theta, np.linalg.inv(h)


def co_occurrence(rankings: np.ndarray, m: int) -> np.ndarray:
    """How often every two models appeared in a common order (m, m), for the virtual-tie prior."""
    met = np.zeros((m, m))
    for row in rankings:
        members = row[row >= 0]
        met[np.ix_(members, members)] += 1.0
    np.fill_diagonal(met, 0.0)
    return met


def plackett_luce_table(
    orders: pd.DataFrame, *, models: Sequence[str] | None = None, n_bootstrap: int = 1000, seed: int = 0,
    ci: float = 0.95, offset: float = 1000.0, prior_ties: float = 1.0,
) -> pd.DataFrame:
    """Leaderboard (model, rank, score, ci_low, ci_high, n) from `orders`: one row per judged
    order with `item_id` and `ranking` (model names, best first). n: orders a model appeared in.
    Models listed in `models` without any order are not rated (they have n 0 elsewhere)."""
    if orders.empty:
        return leaderboard_frame([], np.array([]), np.array([]), np.array([]), np.array([], dtype=np.int64))
    names = sorted({m for r in orders["ranking"] for m in r} if models is None
                   else {m for r in orders["ranking"] for m in r} & set(models))
    index = {m: i for i, m in enumerate(names)}
    k = max(len(r) for r in orders["ranking"])
    rankings = np.full((len(orders), k), -1, dtype=np.int64)
    for row, ranking in enumerate(orders["ranking"]):
        rankings[row, : len(ranking)] = [index[m] for m in ranking]
    m = len(names)
    met = co_occurrence(rankings, m)
    prior = shared_ties(met, prior_ties) if prior_ties > 0 else np.zeros((m, m))
    theta = fit_plackett_luce(rankings, m, prior=prior)
    boot = bootstrap_plackett_luce(rankings, orders["item_id"].to_numpy(), m, n_rounds=n_bootstrap,
                                   seed=seed, prior=prior, start=theta)
    tail = (1.0 - ci) / 2.0
    score = offset + ELO * theta
    low, high = np.quantile(offset + ELO * boot, [tail, 1.0 - tail], axis=0)
    # A model always first (or always last) repeats its record in every resample; its interval
    # is at least the prior's Laplace interval, as in the Bradley-Terry table.
    firsts = np.bincount(rankings[:, 0], minlength=m)
    last = rankings[np.arange(len(rankings)), (rankings >= 0).sum(axis=1) - 1]
    lasts = np.bincount(last, minlength=m)
    appear = np.bincount(rankings[rankings >= 0], minlength=m)
    perfect = (firsts == appear) | (lasts == appear)
    if perfect.any():
        _, h = _gradient_hessian(theta, rankings, np.ones(len(rankings)), prior)
        cov = np.linalg.pinv(h + np.full((m, m), 1.0 / m)) - 1.0 / m
        sd = ELO * np.sqrt(np.clip(np.diag(cov), 0.0, None))
        z = norm.ppf(1.0 - tail)
        low = np.where(perfect, np.minimum(low, score - z * sd), low)
        high = np.where(perfect, np.maximum(high, score + z * sd), high)
    table = leaderboard_frame(names, score, low, high, appear.astype(np.int64))
    table = blank_zero_width(table)
    return table.sort_values(["score", "model"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
