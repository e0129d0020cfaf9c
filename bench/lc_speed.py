"""Speed of the two length-controlled win rates of a pairwise AlpacaEval-sized run (issue 21).

    python bench/lc_speed.py [--models 57] [--items 805] [--rounds 1000] [--reps 3] [--seed 0]

A synthetic run shaped like AlpacaEval's (one baseline, every model judged on every instruction,
soft preferences from a Beta around AlpacaEval's GLM with a length slope, a difficulty and a
quality per model, answer lengths log-normal). Timed, each as the median of --reps runs (wall
and CPU seconds, CPU summed over threads):

- AlpacaEval's GLM column (alpaca_eval_lc, its default: pooled joint difficulty, anchored slopes),
  and its two parts: the pooled joint fit by Newton (joint_item_newton, what it uses) against the
  same objective by L-BFGS-B (joint_item_fit, what it used), with each one's largest gradient;
  the per-model L1 cross-validation as one stack (cross_validated_fits) against one model at a
  time (cross_validated_fit), with their largest LC difference;
- the harness's LC with its --rounds item bootstrap (length_controlled_win_rates), on one thread
  and on the usable cores (the same numbers: checked and printed).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

import harness.stats.alpaca_glm as glm
import harness.stats.soft_logistic as soft
from harness.stats.length_control import joint_item_fit, joint_item_newton, length_controlled_win_rates, per_model_feature


def synthetic_run(models: int, items: int, seed: int) -> pd.DataFrame:
    """One row per (model, instruction) against the baseline: p, len_model, len_baseline."""
    rng = np.random.default_rng(seed)
    gamma = rng.normal(size=items)
    len_base = rng.lognormal(np.log(1400), 0.5, size=items)
    frames = []
    for m in range(models):
        len_model = len_base * rng.lognormal(rng.normal(0.0, 0.4), 0.5, size=items)
        delta = len_base - len_model
        mean = expit(rng.normal(-1.0, 1.5) - 1.5 * np.tanh(delta / delta.std(ddof=1)) + rng.normal(0.9, 0.15) * gamma)
        mean = np.clip(mean, 1e-3, 1 - 1e-3)
        frames.append(pd.DataFrame({"model": f"model_{m:03d}", "item_id": [f"x{i}" for i in range(items)],
                                    "p": rng.beta(0.5 * mean, 0.5 * (1 - mean)), "len_model": len_model,
                                    "len_baseline": len_base}))
    return pd.concat(frames, ignore_index=True)


def timed(function: Callable[[], Any], reps: int) -> tuple[Any, float, float]:
    """The last result, and the median wall and CPU seconds over `reps` runs."""
    walls, cpus, result = [], [], None
    for _ in range(reps):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return result, statistics.median(walls), statistics.median(cpus)


def joint_gradient(codes: np.ndarray, items: np.ndarray, length: np.ndarray, p: np.ndarray, fit: Any, l2: float) -> float:
    """The largest entry of the pooled objective's gradient at `fit`."""
    z = fit.theta[codes] + fit.phi[0] * length + fit.gamma[items]
    residual = expit(z) - p
    return float(max(np.abs(np.bincount(codes, residual)).max(), abs(residual @ length),
                     np.abs(np.bincount(items, residual) + l2 * fit.gamma).max()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=57)
    parser.add_argument("--items", type=int, default=805)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    frame = synthetic_run(args.models, args.items, args.seed)
    print(f"{args.models} models x {args.items} instructions, {soft.usable_cores()} usable cores; medians of {args.reps}")

    _, wall, cpu = timed(lambda: glm.alpaca_eval_lc(frame, "baseline"), args.reps)
    print(f"AlpacaEval GLM column (alpaca_eval_lc): {wall:.3f} s wall, {cpu:.3f} s CPU")

    codes, names = pd.factorize(frame["model"])
    items, _ = pd.factorize(frame["item_id"])
    length = per_model_feature(glm.length_term, codes, len(names), frame)
    p = frame["p"].to_numpy(dtype=float)
    shape = (codes, items, length, p, len(names), int(items.max()) + 1)
    newton, wall_n, cpu_n = timed(lambda: joint_item_newton(*shape, l2=glm.POOLED_L2, shared_slope=True), args.reps)
    lbfgs, wall_l, cpu_l = timed(lambda: joint_item_fit(*shape, l2=glm.POOLED_L2, shared_slope=True,
                                                        options={"maxiter": 5000, "ftol": 1e-13, "gtol": 1e-8}), args.reps)
    print(f"  pooled joint fit, Newton: {wall_n:.3f} s wall, {cpu_n:.3f} s CPU, largest gradient "
          f"{joint_gradient(*shape[:4], newton, glm.POOLED_L2):.1e}")
    print(f"  pooled joint fit, L-BFGS-B (before): {wall_l:.3f} s wall, {cpu_l:.3f} s CPU, largest gradient "
          f"{joint_gradient(*shape[:4], lbfgs, glm.POOLED_L2):.1e}; Newton {wall_l / wall_n:.0f}x faster (wall)")

    difficulty = pd.Series(newton.gamma, index=pd.unique(frame["item_id"]))
    table = glm.ModelRows(frame, difficulty)
    problems = []
    for model in table.models:
        features, target = table.design(model, 1.0)
        problems.append(glm.Problem(features, target, np.ones(len(target)), newton.phi[0] * features[:, 0]))
    anchor = np.array([glm.ANCHOR, 0.0, 0.0])
    stacked, wall_s, cpu_s = timed(lambda: glm.cross_validated_fits(problems, ridge=anchor), args.reps)
    alone, wall_a, cpu_a = timed(lambda: [glm.cross_validated_fit(q.features, q.target, q.weights, offset=q.offset, ridge=anchor)
                                          for q in problems], args.reps)
    gap = max(100 * abs(float(expit(a.coef[2] + a.coef[1] * q.features[:, 1]).mean() - expit(b.coef[2] + b.coef[1] * q.features[:, 1]).mean()))
              for a, b, q in zip(stacked, alone, problems))
    print(f"  L1 cross-validation, stacked: {wall_s:.3f} s wall, {cpu_s:.3f} s CPU; one model at a time: "
          f"{wall_a:.3f} s wall, {cpu_a:.3f} s CPU ({wall_a / wall_s:.1f}x); largest LC difference {gap:.1e}")

    several, wall_m, cpu_m = timed(lambda: length_controlled_win_rates(frame, n_bootstrap=args.rounds, seed=0), args.reps)
    cores = soft.usable_cores
    soft.usable_cores = lambda: 1
    try:
        one, wall_1, cpu_1 = timed(lambda: length_controlled_win_rates(frame, n_bootstrap=args.rounds, seed=0), args.reps)
    finally:
        soft.usable_cores = cores
    same = one.equals(several)
    print(f"harness LC, {args.rounds}-round bootstrap: {wall_m:.3f} s wall, {cpu_m:.3f} s CPU on {cores()} threads; "
          f"{wall_1:.3f} s wall, {cpu_1:.3f} s CPU on one; same numbers: {same}")


if __name__ == "__main__":
    main()
