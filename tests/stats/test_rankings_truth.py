"""Rankings against planted truth: recovery, interval coverage, win probability vs an anchor,
win rates against a baseline."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from harness.errors import BadInput
from harness.stats import (
    baseline_win_rates,
    bootstrap_bradley_terry,
    bradley_terry_table,
    fit_bradley_terry,
    item_win_tensor,
)


def random_battles(theta: np.ndarray, n_items: int, per_item: int, rng, tie_band=0.0) -> pd.DataFrame:
    """Random pairs on each item; A wins with the Bradley-Terry probability (ties inside a band)."""
    m = len(theta)
    a = rng.integers(0, m, size=(n_items, per_item))
    b = (a + rng.integers(1, m, size=a.shape)) % m
    p = 1.0 / (1.0 + np.exp(theta[b] - theta[a]))
    u = rng.random(a.shape)
    score = np.where(np.abs(u - p) < tie_band, 0.5, (u < p).astype(float))
    return pd.DataFrame(
        {
            "item_id": np.repeat(np.arange(n_items), per_item),
            "model_a": [f"m{i:02d}" for i in a.ravel()],
            "model_b": [f"m{i:02d}" for i in b.ravel()],
            "score_a": score.ravel(),
        }
    )


def test_recovers_planted_ranking_from_battles():
    rng = np.random.default_rng(0)
    theta = rng.permutation(np.linspace(-1.5, 1.5, 15))
    battles = random_battles(theta, 600, 20, rng, tie_band=0.05)
    table = bradley_terry_table(battles, n_bootstrap=50)
    fitted = table.set_index("model").score.reindex([f"m{i:02d}" for i in range(15)])
    assert kendalltau(theta, fitted).statistic >= 0.95
    # On the Elo scale a nat is 400 / ln 10 points: the fitted spread matches the planted one.
    # Ties inside the band pull strengths a little towards each other, so allow 15%.
    slope = np.polyfit(theta, fitted.to_numpy(), 1)[0]
    assert slope == pytest.approx(400.0 / math.log(10.0), rel=0.15)


def test_item_bootstrap_intervals_cover_the_truth():
    # 200 simulated data sets x 200 bootstrap rounds; the truth is the gap to the anchor m00.
    rng = np.random.default_rng(12)
    theta = np.array([0.0, 0.4, -0.3, 0.8, -0.6])
    models = [f"m{i:02d}" for i in range(5)]
    covered, total = 0, 0
    for sim in range(200):
        battles = random_battles(theta, 60, 8, rng)
        tensor, _ = item_win_tensor(battles, models)
        boot = bootstrap_bradley_terry(tensor, n_rounds=200, seed=sim)
        gaps = boot[:, 1:] - boot[:, :1]
        low, high = np.quantile(gaps, [0.025, 0.975], axis=0)
        truth = theta[1:] - theta[0]
        covered += int(((low <= truth) & (truth <= high)).sum())
        total += truth.size
    rate = covered / total
    assert 0.90 <= rate <= 0.98, rate


def test_win_prob_vs_anchor():
    # a scores 30 of 40 against b: P(a beats b) = 0.75 exactly under the MLE, and (30 + t/2) / (40 + t)
    # with the default prior (a tree: each pair's odds are its own), t = (1/1 + 1/2) / 2 virtual ties:
    # a met one opponent, b two, and each model's one virtual tie is shared among its opponents.
    rows = [(f"i{k}", "a", "b", float(k < 30)) for k in range(40)]
    rows += [(f"j{k}", "b", "c", float(k < 20)) for k in range(40)]
    battles = pd.DataFrame(rows, columns=["item_id", "model_a", "model_b", "score_a"])
    plain = bradley_terry_table(battles, n_bootstrap=20, anchor="b", win_prob=True, prior_ties=0.0)
    assert plain.set_index("model").win_prob_vs_anchor["a"] == pytest.approx(75.0, abs=1e-3)
    table = bradley_terry_table(battles, n_bootstrap=200, anchor="b", win_prob=True).set_index("model")
    assert table.win_prob_vs_anchor["a"] == pytest.approx(100 * 30.375 / 40.75, abs=1e-3)
    assert table.win_prob_vs_anchor["b"] == 50.0
    assert table.win_prob_vs_anchor["c"] == pytest.approx(50.0, abs=1e-3)
    assert table.win_prob_ci_low["a"] < 74.0 < table.win_prob_ci_high["a"]
    # It is the same number as the Elo-scale rating gap, read as odds: 10^(gap/400) = 3.
    gap = table.score["a"] - table.score["b"]
    assert 100.0 / (1.0 + 10.0 ** (-gap / 400.0)) == pytest.approx(table.win_prob_vs_anchor["a"])
    # The default table keeps the six ranking.csv columns.
    assert list(bradley_terry_table(battles, n_bootstrap=20).columns) == [
        "model", "rank", "score", "ci_low", "ci_high", "n"
    ]


def test_baseline_win_rates_by_hand():
    rows = [
        ("i1", "x", "base", 1.0),
        ("i2", "base", "x", 1.0),  # x lost from position B
        ("i3", "x", "base", 0.5),
        ("i1", "y", "base", 1.0),
        ("i2", "base", "y", 0.0),
        ("i1", "x", "y", 1.0),  # not against the baseline: ignored
    ]
    battles = pd.DataFrame(rows, columns=["item_id", "model_a", "model_b", "score_a"])
    battles["weight"] = [3.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    table = baseline_win_rates(battles, "base", n_rounds=300).set_index("model")
    assert table.win_rate.to_dict() == pytest.approx({"y": 100.0, "x": 50.0})
    assert table.n.to_dict() == {"y": 2, "x": 3}
    assert table.ci_low["x"] >= 0.0 and table.ci_high["x"] <= 100.0
    weighted = baseline_win_rates(battles, "base", n_rounds=10, weighted=True).set_index("model")
    assert weighted.win_rate["x"] == pytest.approx(100.0 * 3.5 / 5.0)
    with pytest.raises(BadInput, match="baseline"):
        baseline_win_rates(battles, "nobody")


def test_baseline_win_rate_interval_covers_planted_rate():
    rng = np.random.default_rng(4)
    hits = 0
    for sim in range(100):
        won = rng.random(150) < 0.7
        battles = pd.DataFrame(
            {"item_id": np.arange(150), "model_a": "x", "model_b": "base", "score_a": won.astype(float)}
        )
        row = baseline_win_rates(battles, "base", n_rounds=200, seed=sim).iloc[0]
        hits += row.ci_low <= 70.0 <= row.ci_high
    assert 88 <= hits <= 99


def test_fit_stack_equals_single_fits_for_bootstrap():
    rng = np.random.default_rng(1)
    battles = random_battles(np.array([0.5, 0.0, -0.5]), 30, 6, rng)
    tensor, _ = item_win_tensor(battles, ["m00", "m01", "m02"])
    boot = bootstrap_bradley_terry(tensor, n_rounds=5, seed=9)
    counts = np.random.default_rng(9).multinomial(30, np.full(30, 1 / 30), size=5)
    for r in range(5):
        single = fit_bradley_terry(np.tensordot(counts[r].astype(float), tensor, axes=1))
        np.testing.assert_allclose(boot[r], single, atol=1e-9)


def test_warm_start_changes_iterations_not_the_optimum():
    rng = np.random.default_rng(8)
    wins = rng.integers(0, 30, size=(6, 6)).astype(float)
    from_zero = fit_bradley_terry(wins)
    far = np.array([5.0, -7.0, 3.0, 0.0, 9.0, -2.0])  # needs damped (line-searched) steps
    np.testing.assert_allclose(fit_bradley_terry(wins, start=far), from_zero, atol=1e-9)


def test_stack_mixing_connected_and_disconnected_win_matrices():
    connected = np.array([[0.0, 3.0, 1.0], [1.0, 0.0, 2.0], [2.0, 1.0, 0.0]])
    split = np.array([[0.0, 3.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # c met nobody
    stacked = fit_bradley_terry(np.stack([connected, split]))
    np.testing.assert_allclose(stacked[0], fit_bradley_terry(connected), atol=1e-12)
    np.testing.assert_allclose(stacked[1], fit_bradley_terry(split), atol=1e-12)
    assert stacked[1][0] - stacked[1][1] == pytest.approx(math.log(3.0), abs=1e-6)
    assert stacked[1][2] == pytest.approx(0.0, abs=1e-9)
