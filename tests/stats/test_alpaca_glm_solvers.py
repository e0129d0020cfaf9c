"""AlpacaEval's GLM solved fast (issue 21): every L1 fit and the pooled joint fit reach their
optimum (checked by their optimality conditions, computed here independently of the solvers),
and the stacked cross-validation gives each model what fitting it alone gives."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from harness.stats.alpaca_glm import (
    POOLED_L2,
    CrossValidatedFit,
    Problem,
    cross_validated_fit,
    cross_validated_fits,
    l1_soft_logistic,
    pooled_joint_fit,
)


def kkt_residual(x: np.ndarray, p: np.ndarray, scaled: np.ndarray, ridge: np.ndarray, offset: np.ndarray,
                 coef: np.ndarray) -> float:
    """The largest violation of the optimality conditions of sum scaled * logloss + ridge w^2 / 2 + |w|_1:
    gradient = -sign(w) where w != 0, |gradient| <= 1 where w = 0."""
    grad = x.T @ (scaled * (expit(x @ coef + offset) - p)) + ridge * coef
    return float(np.max(np.where(coef != 0, np.abs(grad + np.sign(coef)), np.maximum(np.abs(grad) - 1.0, 0.0))))


def model_rows(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A model's three features (length term, difficulty, not_gamed_baseline), soft target, weights."""
    x = np.column_stack([np.tanh(rng.normal(size=n) + rng.normal()), rng.normal(size=n), np.ones(n)])
    p = expit(x @ np.array([-1.2, 0.8, rng.normal()]) + rng.normal(scale=0.6, size=n))
    return x, p, np.where(np.arange(n) < n // 5, 0.1, 1.0)


@pytest.mark.parametrize("c", [0.0774, 2.78, 166.8, 1e4])
def test_l1_fit_meets_its_optimality_conditions(c: float) -> None:
    """Down to rounding of the gradient (below 1e-14 of its scale): a solver that stops where
    the objective can no longer resolve its decrease leaves up to 1e-12 here (1e-9 on the real
    run's folds) and coefficients off by ~1e-8."""
    rng = np.random.default_rng(8)
    for _ in range(6):
        x, p, w = model_rows(rng, 800)
        offset, ridge = -1.0 * x[:, 0], np.array([20.0, 0.0, 0.0])
        coef = l1_soft_logistic(x, p, w, c, offset=offset, ridge=ridge)
        assert kkt_residual(x, p, c * w, c * ridge, offset, coef) < 1e-14 * max(1.0, c * w.sum())


def test_stacked_cross_validation_gives_each_model_its_own_fit() -> None:
    """Problems of different lengths (padded in the stack) choose the C and get the coefficients
    that cross_validated_fit gives each alone."""
    rng = np.random.default_rng(4)
    problems = []
    for n in (805, 640, 97):
        x, p, w = model_rows(rng, n)
        problems.append(Problem(x, p, w, 0.9 * x[:, 0]))
    ridge = np.array([20.0, 0.0, 0.0])
    stacked = cross_validated_fits(problems, ridge=ridge)
    for problem, fit in zip(problems, stacked):
        alone: CrossValidatedFit = cross_validated_fit(problem.features, problem.target, problem.weights,
                                                       offset=problem.offset, ridge=ridge)
        assert fit.c == alone.c
        assert fit.losses == pytest.approx(alone.losses, abs=1e-12)
        assert fit.coef == pytest.approx(alone.coef, abs=1e-10)


def bench_world(models: int, items: int, seed: int) -> pd.DataFrame:
    """bench/lc_speed.py's synthetic AlpacaEval-shaped run (one row per model and instruction)."""
    spec = importlib.util.spec_from_file_location("lc_speed", Path(__file__).resolve().parents[2] / "bench" / "lc_speed.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synthetic_run(models, items, seed)  # type: ignore[no-any-return]


def test_the_pooled_joint_fit_meets_its_optimality_conditions() -> None:
    """The gradient of the objective (biases refitted here given the slope and difficulty) is 0
    to rounding: L-BFGS-B stopped at a relative decrease of 1e-13 with a gradient of ~1e-3."""
    frame = bench_world(30, 600, 2)
    fit = pooled_joint_fit(frame, "baseline")
    codes, models = pd.factorize(frame["model"])
    items = pd.Index(pd.unique(frame["item_id"]))
    item_codes = items.get_indexer(frame["item_id"])
    length = np.zeros(len(frame))
    for code in range(len(models)):
        mine = codes == code
        delta = (frame["len_baseline"] - frame["len_model"]).to_numpy()[mine]
        length[mine] = np.tanh(delta / delta.std(ddof=1))
    gamma, p = fit.difficulty.reindex(items).to_numpy(), frame["p"].to_numpy()
    theta = np.zeros(len(models))
    for _ in range(60):  # each model's bias given the rest: 1-D Newton
        mu = expit(theta[codes] + fit.slope * length + gamma[item_codes])
        theta -= np.bincount(codes, mu - p) / np.bincount(codes, mu * (1 - mu))
    residual = expit(theta[codes] + fit.slope * length + gamma[item_codes]) - p
    assert np.max(np.abs(np.bincount(item_codes, residual) + POOLED_L2 * gamma)) < 1e-9
    assert abs(residual @ length) < 1e-8


def test_split_among_threads_the_fits_are_those_of_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The models' fits shared among cores give the numbers of one core, bit for bit."""
    rng = np.random.default_rng(6)
    problems = [Problem(*model_rows(rng, n), np.zeros(n)) for n in (300, 280, 150, 300, 64)]
    monkeypatch.setattr("harness.stats.alpaca_glm.usable_cores", lambda: 1)
    monkeypatch.setattr("harness.stats.soft_logistic.usable_cores", lambda: 1)
    one = cross_validated_fits(problems)
    monkeypatch.setattr("harness.stats.alpaca_glm.usable_cores", lambda: 3)
    monkeypatch.setattr("harness.stats.soft_logistic.usable_cores", lambda: 3)
    several = cross_validated_fits(problems)
    monkeypatch.setattr("harness.stats.alpaca_glm.CHUNK_ROWS", 600)  # 2 problems of 300 rows a stack: 3 stacks on 1 core
    monkeypatch.setattr("harness.stats.alpaca_glm.usable_cores", lambda: 1)
    monkeypatch.setattr("harness.stats.soft_logistic.usable_cores", lambda: 1)
    small_stacks = cross_validated_fits(problems)
    for a, b, c in zip(one, several, small_stacks):
        assert a.c == b.c == c.c
        assert np.array_equal(a.coef, b.coef) and np.array_equal(a.losses, b.losses)
        assert np.array_equal(a.coef, c.coef) and np.array_equal(a.losses, c.losses)
