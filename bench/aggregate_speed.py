"""Speed of the Bradley-Terry ranking with a 1000-round item bootstrap, against the per-battle
logistic regression (scikit-learn) that Arena-Hard v0.1 / the Chatbot Arena notebook fit.

    python bench/aggregate_speed.py [--models 100] [--battles 1000000] [--items 2000]
                                    [--rounds 1000] [--sklearn-rounds 2] [--seed 0]

Synthetic battles: planted strengths theta ~ N(0, 0.6), random pairs on random items, outcomes
from Bradley-Terry with ties when |u - p| < 0.05. Ours: battles -> per-item win tensor (once),
one Newton fit on the summed win matrix, then `--rounds` item-bootstrap refits as one stacked
Newton solve. scikit-learn: one row per battle (ties as a win and a loss of weight 0.5 each),
+log(10)/-log(10) in the columns of model A/B, LogisticRegression(fit_intercept=False, C=inf,
tol=1e-6); a bootstrap round is the same fit with sample weights = item multiplicities. Timing
sklearn for 1000 rounds is infeasible here, so `--sklearn-rounds` rounds are timed and the
per-round time is EXTRAPOLATED to `--rounds` (said so in the output).

Prints wall and CPU seconds, peak traced memory of our part (tracemalloc) and process peak RSS,
the speed ratio and the largest rating difference of the two point fits on the Elo scale (both
centred to mean 1000).
"""

from __future__ import annotations

import argparse
import math
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd

from harness.stats.bradley_terry import (
    battle_models,
    bootstrap_bradley_terry,
    fit_bradley_terry,
    item_win_tensor,
)


def synthetic_battles(n_models: int, n_battles: int, n_items: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 0.6, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    p = 1.0 / (1.0 + np.exp(theta[b] - theta[a]))
    u = rng.random(n_battles)
    score = np.where(np.abs(u - p) < 0.05, 0.5, (u < p).astype(float))
    names = np.array([f"model_{i:03d}" for i in range(n_models)], dtype=object)
    return pd.DataFrame(
        {
            "item_id": rng.integers(0, n_items, n_battles),
            "model_a": names[a],
            "model_b": names[b],
            "score_a": score,
        }
    )


class Timer:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def elo(theta_natural: np.ndarray) -> np.ndarray:
    """Natural-log strengths to the Elo scale, centred at 1000."""
    rating = 400.0 * theta_natural / math.log(10.0)
    return rating - rating.mean() + 1000.0


def ours(battles: pd.DataFrame, rounds: int, seed: int):
    with Timer() as prep:
        models = battle_models(battles)
        tensor, _ = item_win_tensor(battles, models)
    tracemalloc.start()  # only around the numeric part: tracing pandas' object columns is slow
    with Timer() as point:
        theta = fit_bradley_terry(tensor.sum(axis=0))
    with Timer() as boot:
        draws = bootstrap_bradley_terry(tensor, n_rounds=rounds, seed=seed, start=theta)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return models, theta, draws, prep, point, boot, peak


def sklearn_design(battles: pd.DataFrame, models: list[str]):
    """One row per battle (a tie becomes a win row and a loss row of weight 0.5)."""
    index = pd.Index(models)
    a = index.get_indexer(battles["model_a"])
    b = index.get_indexer(battles["model_b"])
    s = battles["score_a"].to_numpy()
    item = battles["item_id"].to_numpy()
    tie = s == 0.5
    rows_a = np.concatenate([a, a[tie]])
    rows_b = np.concatenate([b, b[tie]])
    y = np.concatenate([np.where(tie, 1, s).astype(int), np.zeros(tie.sum(), dtype=int)])
    weight = np.concatenate([np.where(tie, 0.5, 1.0), np.full(tie.sum(), 0.5)])
    items = np.concatenate([item, item[tie]])
    x = np.zeros((rows_a.size, len(models)))
    x[np.arange(rows_a.size), rows_a] = math.log(10.0)
    x[np.arange(rows_a.size), rows_b] = -math.log(10.0)
    return x, y, weight, items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--sklearn-rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    battles = synthetic_battles(args.models, args.battles, args.items, args.seed)
    print(f"data: {args.models} models, {args.battles:,} battles, {args.items:,} items, "
          f"{args.rounds} bootstrap rounds (item bootstrap)")
    models, theta, draws, prep, point, boot, peak = ours(battles, args.rounds, args.seed)
    total_ours = point.wall + boot.wall
    print(f"ours  battles -> per-item win tensor : {prep.wall:7.2f} s wall {prep.cpu:7.2f} s cpu")
    print(f"ours  point fit (Newton)             : {point.wall:7.3f} s wall {point.cpu:7.3f} s cpu")
    print(f"ours  {args.rounds}-round bootstrap           : {boot.wall:7.2f} s wall {boot.cpu:7.2f} s cpu")
    print(f"ours  fit + bootstrap                : {total_ours:7.2f} s wall")
    print(f"ours  peak memory, fit + bootstrap   : {peak / 2**20:7.0f} MiB")
    spread = np.quantile(elo_of_draws(draws), [0.025, 0.975], axis=0)
    print(f"ours  median 95% CI width            : {np.median(spread[1] - spread[0]):7.2f} Elo points")

    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        print("scikit-learn not installed (pip install 'harness-eval[bench]'): comparison skipped")
        return
    x, y, weight, items = sklearn_design(battles, models)
    fit = lambda w: LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-6, max_iter=1000).fit(
        x, y, sample_weight=w
    )
    with Timer() as sk_point:
        model = fit(weight)
    rng = np.random.default_rng(args.seed + 1)
    item_codes, uniques = pd.factorize(items)
    with Timer() as sk_rounds:
        for _ in range(args.sklearn_rounds):
            mult = rng.multinomial(len(uniques), np.full(len(uniques), 1.0 / len(uniques)))
            fit(weight * mult[item_codes])
    per_round = sk_rounds.wall / max(args.sklearn_rounds, 1)
    sk_total = sk_point.wall + per_round * args.rounds
    print(f"sklearn point fit ({x.shape[0]:,} rows)  : {sk_point.wall:7.2f} s wall {sk_point.cpu:7.2f} s cpu")
    print(f"sklearn per bootstrap round          : {per_round:7.2f} s wall (mean of {args.sklearn_rounds} timed rounds)")
    print(f"sklearn fit + {args.rounds}-round bootstrap    : {sk_total:7.0f} s wall  "
          f"(EXTRAPOLATED from {args.sklearn_rounds} timed rounds)")
    print(f"speed-up (fit + bootstrap, wall)     : {sk_total / total_ours:7.0f}x")
    ours_elo = elo(theta)
    sk_elo = 400.0 * model.coef_[0]
    sk_elo = sk_elo - sk_elo.mean() + 1000.0
    print(f"largest rating difference, point fits: {np.abs(ours_elo - sk_elo).max():.2e} Elo points "
          f"(sklearn tol=1e-6 limits this)")
    # A precise reference: Newton-Cholesky needs an identifiable design, so model 0's column is
    # dropped (its rating fixed at 0); centring afterwards makes that choice irrelevant.
    tight = LogisticRegression(fit_intercept=False, C=np.inf, solver="newton-cholesky", tol=1e-12, max_iter=100).fit(
        x[:, 1:], y, sample_weight=weight
    )
    tight_elo = 400.0 * np.concatenate([[0.0], tight.coef_[0]])
    tight_elo = tight_elo - tight_elo.mean() + 1000.0
    print(f"  ... against sklearn newton-cholesky, tol=1e-12: {np.abs(ours_elo - tight_elo).max():.2e} Elo points")
    print(f"process peak RSS                     : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:7.0f} MiB")


def elo_of_draws(draws: np.ndarray) -> np.ndarray:
    rating = 400.0 * draws / math.log(10.0)
    return rating - rating.mean(axis=1, keepdims=True) + 1000.0


if __name__ == "__main__":
    main()
