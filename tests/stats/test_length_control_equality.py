"""The stacked length-control fits give the numbers of fitting every model, and every bootstrap
round, on its own (issue 21: the same estimator, to 1e-9, made fast).

The references here are written out independently: scipy's optimiser per model for the point
fit, and a plain per-round Newton loop for the bootstrap, with the same seeded draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import expit

from harness.stats.length_control import COEFFICIENT_L2, length_controlled_win_rates, length_features
from harness.stats.soft_logistic import BLOCK_ELEMENTS, newton_fits

PENALTY = np.array([1e-6, COEFFICIENT_L2, COEFFICIENT_L2])


def planted(models: int = 5, items: int = 120, seed: int = 7) -> tuple[pd.DataFrame, pd.Series]:
    """Soft judgments from the GLM; models see different item counts and orders, one model has
    an item twice (both orders), so padding, permutation and repeated rows are all exercised."""
    rng = np.random.default_rng(seed)
    gamma = pd.Series(rng.normal(0, 1, items), index=[f"q{i:03d}" for i in range(items)])
    rows = []
    for m in range(models):
        seen = rng.permutation(items)[: items - 9 * m]
        len_base = rng.integers(200, 3000, len(seen))
        len_model = np.maximum(1, len_base + rng.normal(300 * (m - 2), 700, len(seen))).astype(int)
        z = rng.normal(0, 0.7) + 1.2 * length_features(len_model, len_base) + gamma.to_numpy()[seen]
        p = np.clip(expit(z) + rng.normal(0, 0.05, len(seen)), 0, 1)
        rows += [{"model": f"m{m}", "item_id": gamma.index[i], "p": float(q), "len_model": int(a), "len_baseline": int(b)}
                 for i, q, a, b in zip(seen, p, len_model, len_base)]
    frame = pd.DataFrame(rows)
    twice = frame.iloc[[0]].assign(p=0.3)
    return pd.concat([frame, twice], ignore_index=True), gamma


def features_of(group: pd.DataFrame, gamma: pd.Series) -> np.ndarray:
    length = length_features(group["len_model"].to_numpy(), group["len_baseline"].to_numpy())
    return np.column_stack([np.ones(len(group)), length, gamma.reindex(group["item_id"]).fillna(0).to_numpy()])


def scipy_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    def loss(c: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ c
        value = float(np.sum(w * (np.logaddexp(0, z) - y * z))) + 0.5 * float(PENALTY @ (c * c))
        return value, ((expit(z) - y) * w) @ x + PENALTY * c

    return minimize(loss, np.zeros(3), jac=True, method="BFGS", options={"gtol": 1e-11}).x


def newton_one(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    c = np.zeros(3)
    for _ in range(100):
        p = expit(x @ c)
        grad = ((p - y) * w) @ x + PENALTY * c
        hessian = (x * (w * p * (1 - p))[:, None]).T @ x + np.diag(PENALTY)
        step = np.linalg.solve(hessian, grad)
        c -= step
        if np.max(np.abs(step)) < 1e-13:
            break
    return c


def test_point_fits_match_scipy_per_model() -> None:
    frame, gamma = planted()
    table = length_controlled_win_rates(frame, difficulty=gamma).set_index("model")
    for model, group in frame.groupby("model"):
        x, y = features_of(group, gamma), group["p"].to_numpy()
        coef = scipy_fit(x, y, np.ones(len(y)))
        controlled = x.copy()
        controlled[:, 1] = 0
        assert table.loc[model, ["theta", "phi", "psi"]].to_numpy(float) == pytest.approx(coef, abs=1e-6), model
        assert table.loc[model, "lc_win_rate"] == pytest.approx(100 * expit(controlled @ coef).mean(), abs=1e-6)


def test_bootstrap_intervals_match_one_fit_per_round(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each round refitted alone (its own Newton loop from zero, the draws of a generator seeded
    per model) gives the same interval to 1e-9, also when the rounds are split into blocks."""
    monkeypatch.setattr("harness.stats.soft_logistic.BLOCK_ELEMENTS", 7 * 120)  # several blocks per model
    assert BLOCK_ELEMENTS > 7 * 120
    frame, gamma = planted()
    rounds, seed = 40, 3
    table = length_controlled_win_rates(frame, difficulty=gamma, n_bootstrap=rounds, seed=seed).set_index("model")
    for model, group in frame.groupby("model"):
        x, y = features_of(group, gamma), group["p"].to_numpy()
        codes, items = pd.factorize(group["item_id"], sort=True)
        draws = np.random.default_rng(seed).multinomial(len(items), np.full(len(items), 1 / len(items)), size=rounds)
        controlled = x.copy()
        controlled[:, 1] = 0
        values = []
        for counts in draws:
            w = counts[codes].astype(float)
            values.append(100 * float((expit(controlled @ newton_one(x, y, w)) * w).sum() / w.sum()))
        low, high = np.quantile(values, [0.025, 0.975])
        assert table.loc[model, "lc_ci_low"] == pytest.approx(low, abs=1e-9), model
        assert table.loc[model, "lc_ci_high"] == pytest.approx(high, abs=1e-9), model


def test_stacked_problems_of_different_lengths_fit_as_alone() -> None:
    """Padding rows carry weight 0: a short problem stacked with a long one fits as it does alone."""
    rng = np.random.default_rng(0)
    long_x, short_x = rng.normal(size=(50, 3)), rng.normal(size=(20, 3))
    long_y, short_y = rng.random(50), rng.random(20)
    features = np.zeros((2, 50, 3))
    target, weights = np.zeros((2, 50)), np.zeros((2, 1, 50))
    features[0], target[0], weights[0, 0] = long_x, long_y, 1
    features[1, :20], target[1, :20], weights[1, 0, :20] = short_x, short_y, 1
    coef = newton_fits(features, target, weights, PENALTY)
    assert coef[0, 0] == pytest.approx(newton_one(long_x, long_y, np.ones(50)), abs=1e-12)
    assert coef[1, 0] == pytest.approx(newton_one(short_x, short_y, np.ones(20)), abs=1e-12)


def test_bootstrap_on_several_threads_gives_the_numbers_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The models' bootstrap rounds shared among cores: the same intervals, bit for bit."""
    frame, gamma = planted()
    monkeypatch.setattr("harness.stats.soft_logistic.usable_cores", lambda: 1)
    one = length_controlled_win_rates(frame, difficulty=gamma, n_bootstrap=50, seed=2)
    monkeypatch.setattr("harness.stats.soft_logistic.usable_cores", lambda: 3)
    several = length_controlled_win_rates(frame, difficulty=gamma, n_bootstrap=50, seed=2)
    pd.testing.assert_frame_equal(one, several, check_exact=True)


def test_resampled_fits_end_each_round_at_its_own_optimum() -> None:
    """Rounds that need different numbers of steps (weights from near the start to far from it)
    are dropped as each converges, their working rows moved between buffers that every block
    reuses: each round still ends where its own Newton loop from zero ends."""
    from harness.stats.soft_logistic import ResampledFits

    rng = np.random.default_rng(4)
    x = np.column_stack([np.ones(60), rng.normal(size=60), rng.normal(size=60)])
    y = expit(x @ np.array([0.3, -1.0, 0.8]) + rng.normal(0, 0.3, 60))
    start = newton_one(x, y, np.ones(60))
    fits = ResampledFits(x, y, PENALTY, start)
    for rounds in (9, 4):  # a smaller block after a larger one reuses the larger one's buffers
        weights = np.ones((rounds, 60))
        weights[1:] = rng.poisson(np.linspace(0.2, 3.0, rounds - 1)[:, None] ** 2, size=(rounds - 1, 60))
        coef = fits.fit(weights)
        for r in range(rounds):
            assert coef[r] == pytest.approx(newton_one(x, y, weights[r]), abs=1e-9), r
        assert coef[0] == pytest.approx(start, abs=1e-12)  # the start's own weights: no step to take
