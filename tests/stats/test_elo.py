"""Online Elo: hand-computed updates and the effect of order."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.errors import BadInput
from harness.stats import elo_table, online_elo


def frame(rows, weights=None) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=["item_id", "model_a", "model_b", "score_a"])
    if weights is not None:
        out["weight"] = weights
    return out


def test_three_battles_by_hand():
    # K = 32, scale 400, base 10, start 1000.
    # 1) a beats b: equal ratings, E = 0.5, a +16 -> a 1016, b 984.
    # 2) b ties c: E_b = 1 / (1 + 10^((1000 - 984) / 400)) = 1 / (1 + 10^0.04)
    #    b += 32 (0.5 - E_b), c -= the same.
    # 3) c beats a (score_a = 0 with a in position A): E_a = 1 / (1 + 10^((c - 1016) / 400)).
    battles = frame([("i1", "a", "b", 1.0), ("i2", "b", "c", 0.5), ("i3", "a", "c", 0.0)])
    e_b = 1.0 / (1.0 + 10.0 ** 0.04)
    b = 984.0 + 32.0 * (0.5 - e_b)
    c = 1000.0 - 32.0 * (0.5 - e_b)
    e_a = 1.0 / (1.0 + 10.0 ** ((c - 1016.0) / 400.0))
    a = 1016.0 - 32.0 * e_a
    c += 32.0 * e_a
    ratings = online_elo(battles, k=32.0)
    assert list(ratings.index) == ["a", "b", "c"]
    np.testing.assert_allclose(ratings.to_numpy(), [a, b, c], rtol=0, atol=1e-9)
    assert ratings.sum() == pytest.approx(3000.0)  # Elo is zero-sum


def test_weight_scales_the_step():
    one = online_elo(frame([("i", "a", "b", 1.0)], weights=[3.0]), k=4.0)
    assert one["a"] == pytest.approx(1000.0 + 3 * 4.0 * 0.5)


def test_order_matters_and_shuffles_average_it():
    # a wins the first 20, then loses the last 20: with a large K, recent battles dominate.
    rows = [(f"i{k}", "a", "b", 1.0) for k in range(20)] + [(f"j{k}", "a", "b", 0.0) for k in range(20)]
    battles = frame(rows)
    in_order = online_elo(battles, k=32.0)
    assert in_order["a"] < in_order["b"]
    reversed_order = online_elo(battles.iloc[::-1], k=32.0)
    assert reversed_order["a"] > reversed_order["b"]
    table = elo_table(battles, k=32.0, n_shuffles=200, seed=0).set_index("model")
    assert abs(table.score["a"] - 1000.0) < 15.0  # 20-20: no systematic winner
    assert table.ci_low["a"] < 1000.0 < table.ci_high["a"]
    assert list(table.columns) == ["rank", "score", "ci_low", "ci_high", "n"]
    assert table.n["a"] == 40


def test_small_k_tracks_bradley_terry_order():
    rng = np.random.default_rng(3)
    strengths = {"a": 1.0, "b": 0.3, "c": -0.2, "d": -1.0}
    names = sorted(strengths)
    rows = []
    for k in range(400):
        x, y = rng.choice(names, 2, replace=False)
        p = 1.0 / (1.0 + math.exp(strengths[y] - strengths[x]))
        rows.append((f"q{k}", x, y, float(rng.random() < p)))
    table = elo_table(frame(rows), k=4.0, n_shuffles=20)
    assert table.model.tolist() == ["a", "b", "c", "d"]


def test_bad_k_is_bad_input():
    with pytest.raises(BadInput, match="k must be positive"):
        online_elo(frame([("i", "a", "b", 1.0)]), k=0.0)
