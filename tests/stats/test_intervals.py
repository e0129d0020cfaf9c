"""No zero-width interval reaches a table: one item, every item alike, or the anchor give an
empty interval and a note saying why."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.stats import bradley_terry_table
from harness.stats.bootstrap import bootstrap_group_means
from harness.stats.intervals import ANCHOR, ZERO_WIDTH, blank_every_zero_width, note_missing_intervals
from harness.store import honest_intervals


def test_one_item_gives_no_interval_not_a_point():
    # One item judged in both orders, a split decision: every resample is that item again.
    battles = pd.DataFrame({"item_id": ["i1", "i1"], "model_a": ["a", "b"], "model_b": ["b", "a"],
                            "score_a": [1.0, 1.0]})
    table = bradley_terry_table(battles, n_bootstrap=50).set_index("model")
    assert table[["ci_low", "ci_high"]].isna().all().all()
    assert (table["ci_note"] == ZERO_WIDTH).all()
    assert table["score"].notna().all()


def test_group_means_of_identical_items_have_no_interval():
    frame = pd.DataFrame({"item_id": ["i1", "i2", "i1", "i2"], "model": ["a", "a", "b", "b"],
                          "value": [1.0, 1.0, 0.0, 1.0]})
    stats = bootstrap_group_means(frame, item="item_id", group="model", value="value", n_rounds=200).set_index("model")
    assert np.isnan(stats.loc["a", "ci_low"]) and np.isnan(stats.loc["a", "ci_high"])
    assert stats.loc["b", "ci_high"] > stats.loc["b", "ci_low"]


def test_every_interval_of_a_written_table_is_guarded():
    scores = pd.DataFrame({
        "model": ["a", "b", "c"], "score": [1.0, 2.0, 3.0],
        "ci_low": [0.5, 2.0, np.nan], "ci_high": [1.5, 2.0, np.nan],
        "lc_ci_low": [40.0, 50.0, 45.0], "lc_ci_high": [60.0, 50.0, 55.0],
    })
    written = honest_intervals(scores).set_index("model")
    assert written.loc["a", "ci_low"] == 0.5 and written.loc["a", "ci_note"] == ""
    assert np.isnan(written.loc["b", "ci_low"]) and written.loc["b", "ci_note"] == ZERO_WIDTH
    assert written.loc["c", "ci_note"] == ZERO_WIDTH  # a score without an interval says why
    assert np.isnan(written.loc["b", "lc_ci_high"]) and written.loc["b", "lc_note"] == ZERO_WIDTH
    assert written.loc["a", "lc_note"] == ""
    untouched = scores.drop(index=[1, 2])
    assert list(blank_every_zero_width(untouched).columns) == list(untouched.columns)
    assert list(note_missing_intervals(untouched).columns) == list(untouched.columns)


def test_a_reason_already_given_is_kept():
    battles = pd.DataFrame({"item_id": [f"i{k}" for k in range(8)] * 2, "model_a": ["a"] * 8 + ["b"] * 8,
                            "model_b": ["b"] * 8 + ["a"] * 8, "score_a": [1.0] * 5 + [0.0] * 3 + [0.0] * 8})
    table = bradley_terry_table(battles, n_bootstrap=50, anchor="b").set_index("model")
    written = honest_intervals(table.reset_index()).set_index("model")
    assert written.loc["b", "ci_note"] == ANCHOR and written.loc["a", "ci_note"] == ""


def test_column_quantiles_are_nanquantiles_numbers_bit_for_bit() -> None:
    """Columns without NaN go through np.quantile at once, the others through nanquantile: the
    same numbers as nanquantile over all columns, for every shape and share of NaN."""
    import warnings

    from harness.stats.intervals import column_quantiles

    rng = np.random.default_rng(0)
    for shape in [(1000, 300), (50, 3), (1, 5), (1000, 1)]:
        for nan_share in (0.0, 0.001, 0.3, 1.0):
            values = rng.normal(0, 50, shape) * rng.choice([1e-3, 1.0, 1e3], shape[1])
            values[rng.random(shape) < nan_share] = np.nan
            for q in ([0.025, 0.975], [0.5]):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
                    expected = np.nanquantile(values, q, axis=0)
                    got = column_quantiles(values, q)
                assert np.array_equal(got, expected, equal_nan=True), (shape, nan_share, q)
