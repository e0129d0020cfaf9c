"""Perfect separation: a model that wins (or loses) everything keeps a finite rating, an interval
that says how little a perfect record pins down, and differences that are not 0 by construction.

The remedy is a weak prior, one virtual tie between every two models that met (bt_prior.py);
these tests plant the truth and check the numbers against it and against closed forms.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.stats import bradley_terry_table
from harness.stats.significance import pairwise_significance

COLUMNS = ["item_id", "model_a", "model_b", "score_a"]


def frame(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def both_orders(rng: np.random.Generator, items: int, pairs: dict[tuple[str, str], float]) -> pd.DataFrame:
    """Each item judges every pair in both orders; `pairs` maps (a, b) to P(a beats b)."""
    rows = []
    for k in range(items):
        for (a, b), p in pairs.items():
            rows.append((f"i{k}", a, b, float(rng.random() < p)))
            rows.append((f"i{k}", b, a, float(rng.random() >= p)))
    return frame(rows)


def test_an_undefeated_model_is_finite_with_the_closed_form_gap() -> None:
    # 10 wins of 10: plain maximum likelihood has no optimum (the tiny ridge put it ~16 nats up);
    # with one virtual tie the odds are (10 + 1/2) to (0 + 1/2), a gap of log(21) nats.
    battles = frame([(f"i{k}", "a", "b", 1.0) for k in range(10)])
    table = bradley_terry_table(battles, n_bootstrap=50, anchor="b", scale=1.0, base=math.e, offset=0.0)
    table = table.set_index("model")
    assert table.score["a"] == pytest.approx(math.log(21.0), abs=1e-4)  # (the solver's 1e-6 ridge aside)
    plain = bradley_terry_table(battles, n_bootstrap=50, anchor="b", scale=1.0, base=math.e, offset=0.0,
                                prior_ties=0.0).set_index("model")
    assert plain.score["a"] > 10.0  # the run-off the prior prevents
    # Every bootstrap round repeats 10 of 10, yet the interval is not a point: the Laplace interval
    # of the posterior, sd = sqrt(1 / (11 * p * (1 - p))) with p = 10.5 / 11.
    p = 10.5 / 11.0
    half = 1.959964 * math.sqrt(1.0 / (11.0 * p * (1.0 - p)))
    assert table.ci_low["a"] == pytest.approx(math.log(21.0) - half, abs=1e-4)
    assert table.ci_high["a"] == pytest.approx(math.log(21.0) + half, abs=1e-4)


def test_intervals_of_small_perfect_records_cover_the_planted_gap() -> None:
    """a beats b with probability 0.95 on 10 items in both orders: a third of the runs are 20 of 20.
    The prior's intervals cover the planted gap about as often as they claim; the plain maximum
    likelihood's bootstrap intervals do not (a perfect record gives a point far off)."""
    rng = np.random.default_rng(7)
    truth = math.log(0.95 / 0.05)
    covered = {1.0: 0, 0.0: 0}
    perfect = 0
    runs = 120
    for run in range(runs):
        battles = both_orders(rng, 10, {("a", "b"): 0.95})
        a_wins = np.where(battles.model_a == "a", battles.score_a, 1.0 - battles.score_a)
        perfect += bool(a_wins.all())
        for ties in covered:
            table = bradley_terry_table(battles, n_bootstrap=200, seed=run, anchor="b", scale=1.0, base=math.e,
                                        offset=0.0, prior_ties=ties).set_index("model")
            covered[ties] += table.ci_low["a"] <= truth <= table.ci_high["a"]
    assert perfect >= runs // 5
    assert covered[1.0] / runs >= 0.90
    assert covered[0.0] / runs <= 0.75


def test_undefeated_models_are_ordered_by_whom_they_beat() -> None:
    """x never loses to the strong s, y never loses to the weak w (s beats w 3 times in 4): with
    the prior, x is rated above y by a finite, uncertain amount, not tied with it at the ridge."""
    rows = []
    for k in range(12):
        rows += [(f"i{k}", "x", "s", 1.0), (f"i{k}", "s", "x", 0.0)]
        rows += [(f"i{k}", "y", "w", 1.0), (f"i{k}", "w", "y", 0.0)]
        rows += [(f"i{k}", "s", "w", float(k % 4 != 0)), (f"i{k}", "w", "s", float(k % 4 == 0))]
    battles = frame(rows)
    table = bradley_terry_table(battles, n_bootstrap=300).set_index("model")
    assert np.isfinite(table[["score", "ci_low", "ci_high"]].to_numpy()).all()
    assert table.score["x"] > table.score["y"] > table.score["s"] > table.score["w"]
    assert table.score.max() < 2000.0
    for model in ("x", "y"):
        assert table.ci_high[model] - table.ci_low[model] > 100.0
    significance = pairwise_significance(battles, n_rounds=300, min_items=0).set_index(["model_1", "model_2"])
    x_y = significance.loc[("x", "y")]
    assert x_y["diff"] > 0.0
    assert x_y["ci_low"] < 0.0 < x_y["ci_high"]  # whether x is really better, 12 items cannot tell
    assert 0.05 < x_y["p_value"] < 1.0


def test_identical_perfect_records_differ_by_0_with_an_honest_interval() -> None:
    rows = []
    for k in range(8):
        rows += [(f"i{k}", "x", "base", 1.0), (f"i{k}", "y", "base", 1.0)]
    result = pairwise_significance(frame(rows), n_rounds=200, min_items=0).set_index(["model_1", "model_2"])
    x_y = result.loc[("x", "y")]
    assert x_y["diff"] == pytest.approx(0.0, abs=1e-6)  # the data cannot tell them apart ...
    assert x_y["ci_high"] - x_y["ci_low"] > 300.0  # ... and says so, instead of [0, 0]
    assert not result.loc[("x", "base"), "significant"] or result.loc[("x", "base"), "p_value"] < 0.05


def test_well_determined_ratings_barely_move() -> None:
    rng = np.random.default_rng(3)
    pairs = {("a", "b"): 0.7, ("a", "c"): 0.85, ("b", "c"): 0.65}
    battles = both_orders(rng, 300, pairs)
    with_prior = bradley_terry_table(battles, n_bootstrap=50).set_index("model")
    plain = bradley_terry_table(battles, n_bootstrap=50, prior_ties=0.0).set_index("model")
    assert (with_prior.score - plain.score).abs().max() < 1.0  # Elo points, on 1,800 battles
    assert (with_prior.ci_high - with_prior.ci_low).sub(plain.ci_high - plain.ci_low).abs().max() < 2.0
