"""A weak prior for Bradley-Terry ratings: one virtual tie per model, shared among its opponents.

Why: when a model wins every battle (small runs, or one much stronger model) the likelihood
keeps growing as its rating goes to infinity. The solver's tiny ridge (bt_newton.RIDGE) only
keeps the number finite: such a model ends some 16 nats (Elo ~3800) above the rest, wherever its
opponents stand, and since every bootstrap resample repeats its perfect record, its interval has
zero width and two undefeated models differ by exactly 0 in every round.

The remedy is the virtual draws of Coulom's BayesElo (also the Laplace/Firth correction of a
2x2 table): virtual tied battles, half a win to each side, fixed in every bootstrap round. It is
the conjugate-style prior "a model is probably not infinitely far from the others", worth one
battle *per model* (`shared_ties`: a pair gets ties * (1/d_i + 1/d_j) / 2 of them, d = opponents
met): a model that won all n battles against its one opponent ends log(2n + 1) nats above it
(n = 10: 529 Elo points) instead of 16, ratings are ordered by whom an undefeated model beat and
how often, and a well-determined fit barely moves (a pair at 70% over 200 battles shifts by
under 1 Elo point).

One virtual tie per *pair* (`virtual_ties`, the former prior of both tables) grows with
the number of opponents: in a sparse design (30 models each meeting 29 opponents a few times) it
outweighed a good share of the data, pulled every rating toward the mean, and the bootstrap,
which holds the prior fixed, kept its intervals around the pulled fit: they covered the planted
strengths 0.6-0.8 of the time instead of 0.95 (bench/bt_coverage.py, docs/statistics.md).

The bootstrap still cannot show the uncertainty of a perfect record (each resample repeats
it), so for a model that never lost, or never won, the interval is widened to at least the
Laplace approximation of the posterior under the prior: the fitted rating +- z * sd, with sd
from the inverse curvature of the penalised log-likelihood at the fit.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

#: Virtual tied battles per model, shared among the opponents it met (0: plain maximum likelihood).
PRIOR_TIES = 1.0


def virtual_ties(wins: np.ndarray, ties: float = PRIOR_TIES) -> np.ndarray:
    """Pseudo-wins, shape (m, m): ties / 2 each way for every pair that met in `wins` (m, m).
    The former Bradley-Terry prior, kept for Plackett-Luce (see the module docstring)."""
    if ties < 0:
        raise ValueError("prior ties must be non-negative")
    met = (wins + wins.T) > 0
    np.fill_diagonal(met, False)
    return np.where(met, ties / 2.0, 0.0)


def shared_ties(wins: np.ndarray, ties: float = PRIOR_TIES) -> np.ndarray:
    """Pseudo-wins, shape (m, m): `ties` virtual tied battles per *model*, shared among the
    opponents it met in `wins` (m, m). A pair (i, j) gets ties * (1/d_i + 1/d_j) / 2 virtual ties,
    d = the number of opponents a model met, so each model carries about `ties` of them in all,
    whatever the design; two models alone get exactly `ties`, as `virtual_ties` gives them.

    Why not one per pair (`virtual_ties`): a model that met 29 opponents a few times each then
    carried 29 virtual ties against a few dozen real battles, its rating was pulled toward the
    mean by a large share of its distance, and the item bootstrap, which holds the prior fixed,
    did not see that bias: sparse pairwise designs' 95% intervals covered the planted strengths
    0.6-0.9 of the time (bench/bt_coverage.py, docs/statistics.md)."""
    if ties < 0:
        raise ValueError("prior ties must be non-negative")
    met = (wins + wins.T) > 0
    np.fill_diagonal(met, False)
    degree = met.sum(axis=1).astype(float)
    inverse = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
    return np.where(met, ties * (inverse[:, None] + inverse[None, :]) / 4.0, 0.0)


def perfect_records(wins: np.ndarray) -> np.ndarray:
    """Models (bool, m) that played and never lost, or never won: the bootstrap's blind spot."""
    off = wins - np.diag(np.diag(wins))
    won, lost = off.sum(axis=1), off.sum(axis=0)
    return (won + lost > 0) & ((won == 0) | (lost == 0))


def laplace_sd(wins: np.ndarray, theta: np.ndarray, contrasts: np.ndarray) -> np.ndarray:
    """Posterior standard deviation (nats) of each contrast c . theta (rows of `contrasts`, each
    summing to 0) under the Laplace approximation at `theta`, for win counts that include the
    prior's virtual ties. The curvature is the graph Laplacian of games * p * (1 - p); its
    pseudo-inverse is the covariance of the identifiable (mean-free) part of theta."""
    games = wins + wins.T
    np.fill_diagonal(games, 0.0)
    gap = theta[:, None] - theta[None, :]
    curvature = games * expit(gap) * expit(-gap)
    laplacian = np.diag(curvature.sum(axis=1)) - curvature
    covariance = np.linalg.pinv(laplacian, hermitian=True)
    variance = np.einsum("ki,ij,kj->k", contrasts, covariance, contrasts)
    return np.sqrt(np.maximum(variance, 0.0))
