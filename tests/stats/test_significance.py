"""Pairwise significance: corrections by hand, calibrated p-values under planted equality,
power under planted differences."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.errors import BadInput
from harness.stats import bonferroni, holm, paired_score_significance, pairwise_significance
from harness.stats.significance import MIN_ITEMS

COLUMNS = ["model_1", "model_2", "diff", "ci_low", "ci_high", "p_value", "p_adjusted", "significant", "items"]


def bt_battles(strengths: dict[str, float], n_items: int, rng: np.random.Generator) -> pd.DataFrame:
    """Every pair meets twice per item (both orders), outcome drawn from Bradley-Terry."""
    names = sorted(strengths)
    rows = []
    for k in range(n_items):
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                p = 1.0 / (1.0 + math.exp(strengths[b] - strengths[a]))
                for first, second, pa in ((a, b, p), (b, a, 1.0 - p)):
                    rows.append((f"q{k}", first, second, float(rng.random() < pa)))
    return pd.DataFrame(rows, columns=["item_id", "model_a", "model_b", "score_a"])


# --------------------------------------------------------------------------------------------
# Corrections
# --------------------------------------------------------------------------------------------


def test_holm_by_hand():
    # Sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> running
    # max 0.06). Back in input order:
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # Capped at 1, NaN ignored (m = 2 here).
    np.testing.assert_allclose(holm([0.6, np.nan, 0.2]), [0.6, np.nan, 0.4])
    np.testing.assert_allclose(holm([0.5, 0.7]), [1.0, 1.0])


def test_bonferroni_by_hand():
    np.testing.assert_allclose(bonferroni([0.01, 0.04, 0.3]), [0.03, 0.12, 0.9])
    np.testing.assert_allclose(bonferroni([0.5, 0.2, np.nan]), [1.0, 0.4, np.nan])


def test_bad_options_are_bad_input():
    battles = bt_battles({"a": 0.0, "b": 0.0}, 5, np.random.default_rng(0))
    with pytest.raises(BadInput, match="correction"):
        pairwise_significance(battles, correction="sidak")
    with pytest.raises(BadInput, match="alpha"):
        pairwise_significance(battles, alpha=1.5)
    with pytest.raises(BadInput, match="method"):
        paired_score_significance(pd.DataFrame({"item_id": [1], "model": ["a"], "score": [1.0]}), method="t")
    with pytest.raises(BadInput, match="missing column"):
        paired_score_significance(pd.DataFrame({"item_id": [1], "score": [1.0]}))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.2, 1.5])


# --------------------------------------------------------------------------------------------
# Bradley-Terry differences
# --------------------------------------------------------------------------------------------


def test_pairwise_shape_order_and_diff_on_elo_scale():
    rng = np.random.default_rng(1)
    battles = bt_battles({"a": 1.0, "b": 0.0, "c": -1.0}, 80, rng)
    table = pairwise_significance(battles, n_rounds=300)
    assert list(table.columns) == COLUMNS
    assert list(zip(table.model_1, table.model_2)) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert (table["diff"] > 0).all()
    assert (table.ci_low <= table["diff"]).all() and (table["diff"] <= table.ci_high).all()
    # Planted gap of 1 nat = 400 / ln 10 = 173.7 Elo points between neighbours.
    gap = 400.0 / math.log(10.0)
    np.testing.assert_allclose(table["diff"], [gap, 2 * gap, gap], rtol=0.25)
    assert table.significant.all()
    assert (table.p_adjusted >= table.p_value).all()


def test_two_model_diff_has_closed_form():
    # a scores 30 of 40 on distinct items: BT gap = log(3) nats = 400 log10(3) Elo points.
    rows = [(f"i{k}", "a", "b", float(k < 30)) for k in range(40)]
    battles = pd.DataFrame(rows, columns=["item_id", "model_a", "model_b", "score_a"])
    table = pairwise_significance(battles, n_rounds=200, prior_ties=0.0)
    assert table["diff"].iloc[0] == pytest.approx(400.0 * math.log10(3.0), abs=1e-3)
    # With the default prior (one virtual tie): odds (30 + 1/2) to (10 + 1/2).
    table = pairwise_significance(battles, n_rounds=200)
    assert table["diff"].iloc[0] == pytest.approx(400.0 * math.log10(30.5 / 10.5), abs=1e-3)


def test_planted_equal_models_give_calibrated_p_values():
    # Three equal models: every null is true. Over 150 simulated data sets the raw p-values
    # should be roughly uniform: about 5% below 0.05, about half below 0.5.
    rng = np.random.default_rng(2024)
    p_values = []
    for sim in range(150):
        battles = bt_battles({"a": 0.0, "b": 0.0, "c": 0.0}, 40, rng)
        p_values.extend(pairwise_significance(battles, n_rounds=200, seed=sim).p_value)
    p = np.array(p_values)
    assert 0.02 <= (p < 0.05).mean() <= 0.09
    assert 0.40 <= (p < 0.5).mean() <= 0.60
    assert 0.12 <= (p < 0.2).mean() <= 0.28


def test_holm_controls_familywise_error_under_the_null():
    rng = np.random.default_rng(7)
    any_rejected = 0
    runs = 100
    for sim in range(runs):
        battles = bt_battles({"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0}, 30, rng)
        any_rejected += pairwise_significance(battles, n_rounds=200, seed=sim).significant.any()
    assert any_rejected / runs <= 0.10  # nominal 5% family-wise


# --------------------------------------------------------------------------------------------
# Per-item scores
# --------------------------------------------------------------------------------------------


def score_frame(means: dict[str, float], n_items: int, rng: np.random.Generator, noise=1.0):
    item_effect = rng.normal(0.0, 2.0, n_items)  # shared difficulty: pairing must remove it
    rows = [
        (f"q{k}", model, item_effect[k] + mu + rng.normal(0.0, noise))
        for k in range(n_items)
        for model, mu in means.items()
    ]
    return pd.DataFrame(rows, columns=["item_id", "model", "score"])


def test_paired_scores_by_hand():
    scores = pd.DataFrame(
        {
            "item_id": ["i1", "i1", "i2", "i2", "i3", "i3", "i4"],
            "model": ["x", "y", "x", "y", "x", "y", "x"],
            "score": [5.0, 3.0, 4.0, 4.0, 3.0, 2.0, 10.0],
        }
    )
    table = paired_score_significance(scores, n_rounds=500)
    assert (table.model_1.iloc[0], table.model_2.iloc[0]) == ("x", "y")
    # Shared items i1..i3 only: differences 2, 0, 1 -> mean 1.
    assert table["diff"].iloc[0] == pytest.approx(1.0)
    assert table.ci_low.iloc[0] >= 0.0 and table.ci_high.iloc[0] <= 2.0
    # Sign-flip test: 8 equally likely sign patterns of (2, 0, 1) -> |mean| >= 1 in 4 of them
    # (the 0 can take either sign), so the exact p is 0.5; the Monte Carlo one is close.
    perm = paired_score_significance(scores, n_rounds=4000, method="permutation")
    assert perm.p_value.iloc[0] == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("method", ["bootstrap", "permutation"])
def test_paired_scores_null_and_power(method):
    rng = np.random.default_rng(5)
    null_p = []
    for sim in range(150):
        scores = score_frame({"a": 0.0, "b": 0.0}, 50, rng)
        null_p.append(paired_score_significance(scores, n_rounds=200, seed=sim, method=method).p_value.iloc[0])
    null_p = np.array(null_p)
    assert 0.01 <= (null_p < 0.05).mean() <= 0.10
    assert 0.38 <= (null_p < 0.5).mean() <= 0.62

    strong = score_frame({"a": 1.0, "b": 0.0, "c": 0.95}, 60, rng)
    table = paired_score_significance(strong, n_rounds=500, method=method).set_index(["model_1", "model_2"])
    assert table.loc[("a", "b"), "significant"] and table.loc[("c", "b"), "significant"]
    assert not table.loc[("a", "c"), "significant"]
    assert table.loc[("a", "b"), "diff"] == pytest.approx(1.0, abs=0.4)


def test_pairs_without_shared_items_are_left_out_of_the_correction():
    scores = pd.DataFrame(
        {
            "item_id": ["i1", "i2", "i1", "i2", "j1", "j2"],
            "model": ["a", "a", "b", "b", "c", "c"],
            "score": [1.0, 2.0, 0.0, 1.0, 5.0, 5.0],
        }
    )
    table = paired_score_significance(scores, n_rounds=100, correction="bonferroni", min_items=0)
    lonely = table[(table.model_1 == "c") | (table.model_2 == "c")]
    assert lonely.p_value.isna().all() and not lonely.significant.any()
    ab = table[(table.model_1 == "a") & (table.model_2 == "b")]
    # Only one finite p-value, so Bonferroni multiplies by 1.
    assert ab.p_adjusted.iloc[0] == pytest.approx(ab.p_value.iloc[0])


# --------------------------------------------------------------------------------------------
# Too few items for a p-value
# --------------------------------------------------------------------------------------------


def test_two_items_give_differences_but_no_significance():
    # a beats b on both items in both orders: a bootstrap of two items can only repeat them, so
    # its p-value (0.006 in the demo) would claim a certainty that two items cannot give.
    rng = np.random.default_rng(3)
    battles = bt_battles({"a": 3.0, "b": 0.0, "c": -3.0}, 2, rng)
    table = pairwise_significance(battles, n_rounds=300)
    assert (table["items"] == 2).all() and (table["diff"] > 0).all()
    assert table.p_value.isna().all() and table.p_adjusted.isna().all() and not table.significant.any()
    scores = pd.DataFrame({"item_id": ["i1", "i2"] * 2, "model": ["a", "a", "b", "b"], "score": [9.0, 8.0, 1.0, 2.0]})
    paired = paired_score_significance(scores, n_rounds=300)
    assert paired["items"].iloc[0] == 2 and paired.p_value.isna().all() and not paired.significant.any()
    assert paired["diff"].iloc[0] == pytest.approx(7.0)
    # The permutation test's p-value is valid at any size (here 2/4 sign patterns at least as extreme).
    assert paired_score_significance(scores, n_rounds=2000, method="permutation").p_value.iloc[0] > 0.3


def test_enough_items_give_p_values_again():
    rng = np.random.default_rng(3)
    table = pairwise_significance(bt_battles({"a": 2.0, "b": 0.0}, MIN_ITEMS, rng), n_rounds=300)
    assert table["items"].iloc[0] == MIN_ITEMS and table.p_value.notna().all()


def test_one_item_gives_no_zero_width_interval():
    battles = pd.DataFrame({"item_id": ["i1", "i1"], "model_a": ["a", "b"], "model_b": ["b", "a"], "score_a": [1.0, 0.0]})
    table = pairwise_significance(battles, n_rounds=100, prior_ties=0.0)
    assert table[["ci_low", "ci_high"]].isna().all().all()
    scores = pd.DataFrame({"item_id": ["i1", "i1"], "model": ["a", "b"], "score": [3.0, 1.0]})
    assert paired_score_significance(scores, n_rounds=100)[["ci_low", "ci_high"]].isna().all().all()
