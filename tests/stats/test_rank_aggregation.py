"""Borda and Kemeny-Young: hand-worked examples and exact optimality against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from harness.errors import BadInput
from harness.stats import aggregate_rankings
from harness.stats.rank_aggregation import kemeny_cost, kemeny_exact, preference_matrix


def results(table: dict[str, list[float]], models: str) -> pd.DataFrame:
    rows = [(task, m, s) for task, scores in table.items() for m, s in zip(models, scores)]
    return pd.DataFrame(rows, columns=["task", "model", "score"])


def test_hand_worked_example():
    # t1: a > b > c > d;  t2: b > c > d > a;  t3: a > c > d > b.
    # Borda (models beaten): a 3+0+3 = 6, b 2+3+0 = 5, c 1+2+2 = 5, d 0+1+1 = 2.
    # Majorities: a>b, a>c, a>d, b>c, b>d (2-1 each), c>d (3-0): a,b,c,d agrees with all of
    # them, cost 5 (one dissent per 2-1 pair), and any other order reverses a majority.
    frame = results({"t1": [4, 3, 2, 1], "t2": [1, 4, 3, 2], "t3": [4, 1, 3, 2]}, "abcd")
    table = aggregate_rankings(frame)
    assert list(table.columns) == ["model", "borda", "kemeny_rank", "mean_score"]
    assert table.model.tolist() == ["a", "b", "c", "d"]
    assert table.kemeny_rank.tolist() == [1, 2, 3, 4]
    assert dict(zip(table.model, table.borda)) == {"a": 6.0, "b": 5.0, "c": 5.0, "d": 2.0}
    assert dict(zip(table.model, table.mean_score)) == pytest.approx({"a": 3.0, "b": 8 / 3, "c": 8 / 3, "d": 5 / 3})
    assert table.attrs["kemeny"] == "exact"


def test_borda_and_kemeny_can_disagree():
    # Kemeny follows the majority of tasks, Borda the margins: x > y > z > w on three tasks,
    # y > z > w > x (x last) on two. The majority puts x first; Borda prefers y.
    frame = results(
        {"t1": [3, 2, 1, 0], "t2": [3, 2, 1, 0], "t3": [0, 3, 2, 1], "t4": [0, 3, 2, 1], "t5": [3, 2, 1, 0]},
        "xyzw",
    )
    table = aggregate_rankings(frame).set_index("model")
    # Borda: x 3+3+0+0+3 = 9, y 2+2+3+3+2 = 12.  Kemeny: x beats y on 3 of 5 tasks.
    assert table.borda["x"] == 9.0 and table.borda["y"] == 12.0
    assert table.kemeny_rank["x"] == 1 and table.kemeny_rank["y"] == 2


def test_ties_count_half_and_ranks_are_accepted():
    frame = pd.DataFrame(
        {"task": ["t1", "t1", "t1", "t2", "t2", "t2"], "model": list("abcabc"), "rank": [1, 1, 3, 2, 1, 3]}
    )
    table = aggregate_rankings(frame).set_index("model")
    # t1: a, b tie for first (0.5 each over the other, 1 over c); t2: b > a > c.
    assert table.borda.to_dict() == {"a": 2.5, "b": 3.5, "c": 0.0}
    assert table.kemeny_rank.to_dict() == {"b": 1, "a": 2, "c": 3}
    assert table.mean_score.isna().all()
    assert table.mean_rank.to_dict() == {"a": 1.5, "b": 1.0, "c": 3.0}


@pytest.mark.parametrize("seed", range(12))
def test_exact_kemeny_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(3, 8))
    values = rng.integers(0, 4, size=(int(rng.integers(2, 8)), m)).astype(float)  # ties common
    pref = preference_matrix(values)
    best = min(kemeny_cost(order, pref) for order in itertools.permutations(range(m)))
    found = kemeny_exact(pref)
    assert sorted(found) == list(range(m))
    assert kemeny_cost(found, pref) == pytest.approx(best)


def test_more_than_ten_models():
    rng = np.random.default_rng(0)
    models = [f"m{i:02d}" for i in range(12)]
    truth = np.linspace(0, 11, 12)
    frame = pd.DataFrame(
        [(f"t{t}", m, truth[i] + rng.normal(0, 1.5)) for t in range(8) for i, m in enumerate(models)],
        columns=["task", "model", "score"],
    )
    with pytest.raises(BadInput, match="at most 10"):
        aggregate_rankings(frame)
    table = aggregate_rankings(frame, approximate=True)
    assert table.attrs["kemeny"] == "approximate"
    assert sorted(table.kemeny_rank) == list(range(1, 13))
    # A local optimum: no single model can move to lower the cost.
    pref = preference_matrix(frame.pivot(index="task", columns="model", values="score").to_numpy())
    order = [models.index(m) for m in table.model]
    cost = kemeny_cost(order, pref)
    for pos in range(12):
        rest = order[:pos] + order[pos + 1 :]
        for q in range(12):
            assert kemeny_cost(rest[:q] + [order[pos]] + rest[q:], pref) >= cost - 1e-9
    assert table.model.iloc[0] == "m11"


def test_bad_input():
    with pytest.raises(BadInput, match="score column"):
        aggregate_rankings(pd.DataFrame({"task": ["t"], "model": ["a"]}))
    with pytest.raises(BadInput, match="twice"):
        aggregate_rankings(pd.DataFrame({"task": ["t", "t"], "model": ["a", "a"], "score": [1, 2]}))
