"""Calibration scores worked by hand; maps recover planted miscalibration; CV is honest."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit, logit

from harness.errors import BadInput
from harness.stats.calibration import (
    _fold_ids,
    brier_score,
    calibration_report,
    cross_validated_probabilities,
    expected_calibration_error,
    fit_isotonic,
    fit_platt,
    log_loss,
    reliability_table,
)
from harness.stats.errors import StatsInputError

P = [0.1, 0.15, 0.8, 0.85, 0.95]
Y = [0, 1, 1, 1, 0]


def test_expected_calibration_error_by_hand() -> None:
    # Ten bins: {0.1, 0.15} in bin 1 (mean p .125, mean y .5), {0.8, 0.85} in bin 8 (.825 vs 1),
    # {0.95} in bin 9 (.95 vs 0): ECE = 2/5*.375 + 2/5*.175 + 1/5*.95 = 0.41.
    assert expected_calibration_error(P, Y) == pytest.approx(0.41)
    # Two bins: [0,.5) holds .1,.15 (.125 vs .5), [.5,1] holds the rest (.8667 vs .6667).
    assert expected_calibration_error(P, Y, n_bins=2) == pytest.approx(2 / 5 * 0.375 + 3 / 5 * 0.2)


def test_reliability_table_puts_one_in_the_last_bin() -> None:
    table = reliability_table([0.0, 0.05, 1.0, 0.99], [0, 0, 1, 1], n_bins=10)
    assert table["n"].tolist() == [2, 2]
    assert table["low"].tolist() == [0.0, 0.9]


def test_brier_and_log_loss_by_hand() -> None:
    # Brier: (.01 + .7225 + .04 + .0225 + .9025) / 5
    assert brier_score(P, Y) == pytest.approx((0.01 + 0.7225 + 0.04 + 0.0225 + 0.9025) / 5)
    expected = -(math.log(0.9) + math.log(0.15) + math.log(0.8) + math.log(0.85) + math.log(0.05)) / 5
    assert log_loss(P, Y) == pytest.approx(expected)
    # Soft outcomes (a human tie is 0.5): the cross-entropy of 0.5 against p = 0.5 is log 2.
    assert log_loss([0.5], [0.5]) == pytest.approx(math.log(2))


def test_isotonic_pools_adjacent_violators() -> None:
    # Outcomes in probability order .1 .3 .2 .4 .3 .5: the two violations pool to .25 and .35.
    fitted = fit_isotonic([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.1, 0.3, 0.2, 0.4, 0.3, 0.5])
    assert fitted.values.tolist() == pytest.approx([0.1, 0.25, 0.25, 0.35, 0.35, 0.5])
    # Between knots the map interpolates; outside it is flat.
    assert fitted([0.0, 0.35, 0.9]).tolist() == pytest.approx([0.1, 0.3, 0.5])


def test_isotonic_ties_in_probability_are_averaged_first() -> None:
    fitted = fit_isotonic([0.2, 0.2, 0.2, 0.7], [0, 1, 1, 0])
    # The three rows at 0.2 average 2/3, above the 0 at 0.7: pooled to (2 + 0) / 4.
    assert fitted.values.tolist() == pytest.approx([0.5, 0.5])


def test_platt_recovers_planted_slope_and_intercept() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.02, 0.98, 20000)
    truth = expit(2.0 * logit(p) - 0.5)  # an under-confident judge with a bias towards "yes"
    y = (rng.random(p.size) < truth).astype(float)
    mapping = fit_platt(p, y)
    assert mapping.slope == pytest.approx(2.0, abs=0.1)
    assert mapping.intercept == pytest.approx(-0.5, abs=0.08)


def test_maps_fix_a_miscalibrated_judge_out_of_fold() -> None:
    rng = np.random.default_rng(4)
    truth = rng.uniform(0, 1, 3000)
    judge = truth**3  # says 0.125 when the truth is 0.5
    y = (rng.random(truth.size) < truth).astype(float)
    report = calibration_report(judge, y, folds=5).set_index("method")
    assert list(report.index) == ["raw", "isotonic", "platt"]
    assert (report["n"] == 3000).all()
    assert report.loc["raw", "ece"] > 0.2
    for method in ("isotonic", "platt"):
        assert report.loc[method, "ece"] < 0.06
        assert report.loc[method, "brier"] < report.loc["raw", "brier"] - 0.05
        assert report.loc[method, "log_loss"] < report.loc["raw", "log_loss"]


def test_out_of_fold_scores_do_not_flatter_an_uninformative_judge() -> None:
    rng = np.random.default_rng(5)
    p = rng.uniform(0, 1, 400)
    y = (rng.random(400) < 0.5).astype(float)  # the judge knows nothing
    in_sample = brier_score(fit_isotonic(p, y)(p), y)
    out_of_fold = brier_score(cross_validated_probabilities(p, y, method="isotonic", folds=5), y)
    best_constant = float(np.mean((y - y.mean()) ** 2))
    assert in_sample < best_constant  # overfit: isotonic memorises runs of noise
    assert out_of_fold > best_constant  # on unseen labels the map is worse than knowing nothing


def test_groups_share_a_fold() -> None:
    groups = [f"item{i // 2}" for i in range(40)]  # both orders of one item
    fold = _fold_ids(40, 4, groups, seed=1)
    assert all(fold[i] == fold[i + 1] for i in range(0, 40, 2))
    assert sorted(np.bincount(fold).tolist()) == [10, 10, 10, 10]


def test_bad_inputs_are_one_line_errors() -> None:
    with pytest.raises(BadInput, match=r"\[0, 1\]"):
        brier_score([1.2], [1])
    with pytest.raises(StatsInputError, match="differ in length"):
        log_loss([0.5, 0.5], [1])
    with pytest.raises(BadInput, match="folds"):
        cross_validated_probabilities([0.1, 0.9], [0, 1], folds=5)
    with pytest.raises(BadInput, match="method"):
        calibration_report([0.1, 0.2, 0.3], [0, 1, 1], methods=("magic",), folds=2)  # type: ignore[arg-type]
