"""Bradley-Terry ratings with item-level bootstrap intervals.

A pairwise judge produces battles (item, model A, model B, score for A). The Bradley-Terry model
says P(i beats j) = s_i / (s_i + s_j); we fit the log-strengths theta = log s by maximum
likelihood on the aggregated win matrix (its sufficient statistic), report them on the Elo scale,
and get uncertainty by resampling *items*: battles on one instruction are correlated (same
prompt, same answers), so resampling battles would understate the uncertainty.

Ties count as half a win for each side. A row's `weight` says how many battles it counts as.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy.special import expit

#: L2 penalty on the log-strengths, in units of battles. It makes the optimum exist and be unique
#: when the plain MLE does not (a model that won or lost everything, a model with no battles, a
#: disconnected comparison graph) and is far too small to move a well-posed fit noticeably: the
#: shift is about RIDGE * theta / (battles * p * (1 - p)) per model, below 1e-6 from ~10 battles.
#: A model that won all of its n battles ends about log(n / RIDGE) ~ 14 + log(n) above its
#: opponents instead of infinitely far: huge but finite, so it still ranks first.
RIDGE = 1e-6

COLUMNS = ["model", "rank", "score", "ci_low", "ci_high", "n"]

_REQUIRED = ("item_id", "model_a", "model_b", "score_a")


# --------------------------------------------------------------------------------------------
# Battles -> win counts
# --------------------------------------------------------------------------------------------


def _validated(battles: pd.DataFrame) -> pd.DataFrame:
    """Check columns and values once, so the numeric code can trust its input."""
    missing = [c for c in _REQUIRED if c not in battles.columns]
    if missing:
        raise ValueError(f"battles is missing column(s) {missing}")
    blank = [c for c in ("item_id", "model_a", "model_b") if battles[c].isna().any()]
    if blank:
        raise ValueError(f"battles has missing values in {blank}")
    score = battles["score_a"].to_numpy(dtype=float)
    if not np.all((score >= 0.0) & (score <= 1.0)):
        raise ValueError("score_a must lie in [0, 1] (1 = A won, 0 = B won, 0.5 = tie)")
    if "weight" in battles.columns:
        weight = battles["weight"].to_numpy(dtype=float)
        if not np.all(np.isfinite(weight) & (weight >= 0.0)):
            raise ValueError("weight must be finite and non-negative")
    same = battles["model_a"].to_numpy() == battles["model_b"].to_numpy()
    if same.any():
        raise ValueError(f"{int(same.sum())} battle(s) compare a model with itself")
    return battles


def _weights(battles: pd.DataFrame) -> np.ndarray:
    """The optional `weight` column, defaulting to one battle per row."""
    if "weight" in battles.columns:
        return battles["weight"].to_numpy(dtype=float)
    return np.ones(len(battles))


def _model_indices(column: pd.Series, models: list[str]) -> np.ndarray:
    """Positions of the column's models in `models`; unknown names are an error, not dropped."""
    index = pd.Index(models)
    if not index.is_unique:
        raise ValueError("models must not contain duplicates")
    positions = index.get_indexer(column)
    if (positions < 0).any():
        unknown = sorted(set(column[positions < 0].astype(str)))
        raise ValueError(f"battles mention models not in `models`: {unknown}")
    return positions


def battle_models(battles: pd.DataFrame) -> list[str]:
    """Every model that appears in a battle, sorted, so model order never depends on row order."""
    names = pd.concat([battles["model_a"], battles["model_b"]]).unique()
    return sorted(names.tolist())


def item_win_tensor(battles: pd.DataFrame, models: list[str]) -> tuple[np.ndarray, list[str]]:
    """Per-item weighted win counts: W[k, i, j] = wins of models[i] over models[j] on item k.

    Kept per item because the bootstrap resamples items; summing over axis 0 gives the win
    matrix of the whole data set. A row with score s and weight w adds s*w to W[k, a, b] and
    (1 - s)*w to W[k, b, a], so a tie adds w/2 to both. Items are in sorted order (returned as
    the second element) so the result never depends on row order.
    """
    _validated(battles)
    m = len(models)
    codes, uniques = pd.factorize(battles["item_id"], sort=True)
    n_items = len(uniques)
    a = _model_indices(battles["model_a"], models)
    b = _model_indices(battles["model_b"], models)
    score = battles["score_a"].to_numpy(dtype=float)
    weight = _weights(battles)
    size = n_items * m * m
    flat = np.bincount((codes * m + a) * m + b, weights=score * weight, minlength=size)
    flat += np.bincount((codes * m + b) * m + a, weights=(1.0 - score) * weight, minlength=size)
    return flat.reshape(n_items, m, m), [str(u) for u in uniques]


def win_rate_matrix(battles: pd.DataFrame) -> pd.DataFrame:
    """Fraction of weighted wins of the row model over the column model (ties count half).

    NaN where two models never met (and on the diagonal): an absent comparison is not a 50%
    win rate.
    """
    if len(battles) == 0:
        return pd.DataFrame(dtype=float)
    models = battle_models(_validated(battles))
    wins = item_win_tensor(battles, models)[0].sum(axis=0)
    games = wins + wins.T
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(games > 0, wins / games, np.nan)
    return pd.DataFrame(rate, index=pd.Index(models, name="model"), columns=models)


# --------------------------------------------------------------------------------------------
# Maximum likelihood
# --------------------------------------------------------------------------------------------


def _objective(theta: np.ndarray, wins: np.ndarray, ridge: float) -> np.ndarray:
    """Penalised log-likelihood, sum_ij W_ij log sigmoid(theta_i - theta_j) - ridge/2 |theta|^2.

    Written with logaddexp so that extreme strength gaps neither overflow nor lose precision.
    """
    diff = theta[..., :, None] - theta[..., None, :]
    loglik = -(wins * np.logaddexp(0.0, -diff)).sum(axis=(-2, -1))
    return loglik - 0.5 * ridge * (theta * theta).sum(axis=-1)


def _component_means(games: np.ndarray) -> np.ndarray:
    """Averaging operator over connected components of the comparison graph, shape (B, m, m).

    M[i, j] = 1/|C| when i and j are in the same component C, else 0. The likelihood cannot see
    a shift of a whole component, so only the tiny ridge pins its mean (to 0). Solving for those
    directions through the ridge would amplify round-off by 1/RIDGE; instead the fit keeps
    every component's mean at exactly 0 with this projector. Found by repeated squaring of the
    reachability matrix, which stays vectorised over the stack.
    """
    m = games.shape[-1]
    reach = ((games > 0) | np.eye(m, dtype=bool)).astype(float)
    for _ in range(max(1, math.ceil(math.log2(max(m, 2))))):
        reach = (reach @ reach > 0).astype(float)
    return reach / reach.sum(axis=-1, keepdims=True)


def _project(vec: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Remove each component's mean from a stack of vectors (B, m)."""
    return vec - (means @ vec[..., None])[..., 0]


def _newton_step(theta, wins, games, means, ridge) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Newton direction of the penalised log-likelihood, within the subspace where
    every component has mean 0 (where the ridge optimum lies).

    The negative Hessian there is the graph Laplacian of games * p * (1 - p) plus ridge * I; the
    added multiple of `means` only lifts the component-shift directions, which the projected
    gradient never points along, so the step is unchanged but the solve is well conditioned.
    """
    diff = theta[..., :, None] - theta[..., None, :]
    p = expit(diff)  # P(i beats j); its transpose is 1 - p without cancellation
    q = np.swapaxes(p, -1, -2)
    # Expected-minus-observed wins, written so a near-certain win (p ~ 1) keeps full relative
    # precision and the matrix is exactly antisymmetric, as in theory.
    resid = wins * q - np.swapaxes(wins, -1, -2) * p
    grad = _project(resid.sum(axis=-1) - ridge * theta, means)
    curv = games * p * q
    m = theta.shape[-1]
    diag = curv.sum(axis=-1)
    lift = 1.0 + diag.mean(axis=-1)
    hess = lift[:, None, None] * means - curv
    hess[..., np.arange(m), np.arange(m)] += diag + ridge
    step = _project(np.linalg.solve(hess, grad[..., None])[..., 0], means)
    return grad, step


def _line_search(theta, step, slope, f0, wins, ridge) -> np.ndarray:
    """Backtracking (Armijo) step lengths per problem, so far-off starts cannot overshoot.

    A tiny slack absorbs round-off once the objective stops changing near the optimum.
    """
    t = np.ones(theta.shape[0])
    slack = 1e-12 * (1.0 + np.abs(f0))
    todo = np.ones(theta.shape[0], dtype=bool)
    for _ in range(60):
        idx = np.flatnonzero(todo)
        if idx.size == 0:
            break
        trial = theta[idx] + t[idx, None] * step[idx]
        f1 = _objective(trial, wins[idx], ridge)
        ok = f1 >= f0[idx] + 1e-4 * t[idx] * slope[idx] - slack[idx]
        todo[idx[ok]] = False
        t[idx[~ok]] *= 0.5
    t[todo] = 0.0
    return t


def _fit_stack(wins: np.ndarray, max_iter: int, tol: float, ridge: float) -> np.ndarray:
    """Damped Newton on a stack (B, m, m) of win matrices, iterating only unconverged ones."""
    n_fits, m, _ = wins.shape
    theta = np.zeros((n_fits, m))
    games = wins + np.swapaxes(wins, -1, -2)
    means = _component_means(games)
    active = np.arange(n_fits)
    for _ in range(max_iter):
        if active.size == 0:
            break
        th, w, g = theta[active], wins[active], games[active]
        grad, step = _newton_step(th, w, g, means[active], ridge)
        f0 = _objective(th, w, ridge)
        t = _line_search(th, step, (grad * step).sum(axis=-1), f0, w, ridge)
        theta[active] = th + t[:, None] * step
        moved = np.abs(t[:, None] * step).max(axis=-1, initial=0.0)
        active = active[moved > tol]
    if active.size:
        warnings.warn(
            f"Bradley-Terry fit did not converge for {active.size} of {n_fits} win matrices "
            f"in {max_iter} Newton iterations",
            RuntimeWarning,
            stacklevel=3,
        )
    return theta - theta.mean(axis=-1, keepdims=True)


def fit_bradley_terry(
    wins: np.ndarray, *, max_iter: int = 200, tol: float = 1e-10, ridge: float = RIDGE
) -> np.ndarray:
    """Maximum-likelihood Bradley-Terry log-strengths (natural log, mean 0) from win counts.

    `wins[i, j]` is the (weighted, ties counted half) number of wins of model i over model j;
    the diagonal is ignored. A stack of shape (..., m, m) is fitted in one vectorised pass,
    which is what makes a 1000-round bootstrap cheap. Uses damped Newton on the concave
    log-likelihood with the tiny `ridge` penalty (see RIDGE) so degenerate data still has a
    unique, finite optimum; stops when no coordinate moves more than `tol`. With a disconnected
    comparison graph each component is centred on its own, since the data cannot relate them.
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
    return _fit_stack(stack, max_iter, tol, ridge).reshape(batch_shape + (m,))


def bootstrap_bradley_terry(
    tensor: np.ndarray, *, n_rounds: int = 1000, seed: int = 0, ridge: float = RIDGE
) -> np.ndarray:
    """Log-strengths refitted on `n_rounds` resamples of the items, shape (n_rounds, m).

    Each round draws every item's multiplicity from a multinomial (sampling items with
    replacement) and weights that item's whole win matrix by it: all battles of an item stay
    together, which respects their correlation. Deterministic for a given seed.
    """
    tensor = np.asarray(tensor, dtype=float)
    if tensor.ndim != 3 or tensor.shape[1] != tensor.shape[2]:
        raise ValueError(f"tensor must have shape (n_items, m, m), got {tensor.shape}")
    n_items, m, _ = tensor.shape
    if n_items == 0:
        raise ValueError("cannot bootstrap with no items")
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_items, np.full(n_items, 1.0 / n_items), size=n_rounds)
    boot_wins = (counts.astype(float) @ tensor.reshape(n_items, m * m)).reshape(n_rounds, m, m)
    return fit_bradley_terry(boot_wins, ridge=ridge)


# --------------------------------------------------------------------------------------------
# Ranking table
# --------------------------------------------------------------------------------------------


def interval_ranks(ci_low: np.ndarray, ci_high: np.ndarray) -> np.ndarray:
    """Rank = 1 + number of models whose interval lies entirely above this model's.

    Models that are not clearly separated share a rank, so ranks only claim what the data
    supports (the Chatbot Arena convention).
    """
    low = np.asarray(ci_low, dtype=float)
    high = np.asarray(ci_high, dtype=float)
    return 1 + (low[None, :] > high[:, None]).sum(axis=1)


def _to_rating(theta: np.ndarray, scale: float, base: float, offset: float) -> np.ndarray:
    """Natural-log strengths to the Elo scale: a gap of `scale` means odds of `base` to 1."""
    return offset + scale * theta / math.log(base)


def _battle_counts(battles: pd.DataFrame, models: list[str]) -> np.ndarray:
    """Battle rows (not weights) each model took part in."""
    both = pd.concat([battles["model_a"], battles["model_b"]])
    return both.value_counts().reindex(models).to_numpy(dtype=np.int64)


def bradley_terry_table(
    battles: pd.DataFrame,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    scale: float = 400.0,
    base: float = 10.0,
    offset: float = 1000.0,
    anchor: str | None = None,
) -> pd.DataFrame:
    """Leaderboard with columns model, rank, score, ci_low, ci_high, n.

    score is the Elo-scale rating (mean `offset`, or exactly `offset` for `anchor` if given, in
    the point estimate and in every bootstrap round, so the anchor's interval has zero width);
    ci_low/ci_high are percentile intervals from an item bootstrap; rank follows
    `interval_ranks`; n counts battle rows. Sorted by score descending, then model name, and
    fully deterministic for a given seed.
    """
    if not 0.0 < ci < 1.0:
        raise ValueError("ci must be strictly between 0 and 1")
    if n_bootstrap < 1:
        raise ValueError("n_bootstrap must be at least 1 to give intervals and ranks")
    if scale <= 0.0 or base <= 1.0:
        raise ValueError("scale must be positive and base greater than 1")
    if len(battles) == 0:
        return _empty_table()
    models = battle_models(_validated(battles))
    if anchor is not None and anchor not in models:
        raise ValueError(f"anchor {anchor!r} has no battles")
    tensor, _ = item_win_tensor(battles, models)
    theta = fit_bradley_terry(tensor.sum(axis=0))
    boot = bootstrap_bradley_terry(tensor, n_rounds=n_bootstrap, seed=seed)
    if anchor is not None:
        k = models.index(anchor)
        theta = theta - theta[k]
        boot = boot - boot[:, k : k + 1]
    score = _to_rating(theta, scale, base, offset)
    boot_score = _to_rating(boot, scale, base, offset)
    tail = (1.0 - ci) / 2.0
    ci_low, ci_high = np.quantile(boot_score, [tail, 1.0 - tail], axis=0)
    table = pd.DataFrame(
        {
            "model": pd.Series(models, dtype=object),
            "rank": interval_ranks(ci_low, ci_high).astype(np.int64),
            "score": score,
            "ci_low": ci_low,
            "ci_high": ci_high,
            "n": _battle_counts(battles, models),
        }
    )
    table = table.sort_values(["score", "model"], ascending=[False, True], kind="mergesort")
    return table.reset_index(drop=True)


def _empty_table() -> pd.DataFrame:
    """The leaderboard of no battles: right columns and dtypes, no rows."""
    return pd.DataFrame(
        {
            "model": pd.Series([], dtype=object),
            "rank": pd.Series([], dtype=np.int64),
            "score": pd.Series([], dtype=float),
            "ci_low": pd.Series([], dtype=float),
            "ci_high": pd.Series([], dtype=float),
            "n": pd.Series([], dtype=np.int64),
        }
    )
