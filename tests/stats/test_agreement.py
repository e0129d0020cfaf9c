"""Agreement coefficients checked against textbook examples worked by hand."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from harness.errors import BadInput
from harness.stats.agreement import (
    accuracy_with_ties,
    cohens_kappa,
    krippendorff_alpha,
    percent_agreement,
    rank_correlation,
)

NAN = math.nan

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers,
# twelve units, values 1-5, with missing data. Published: nominal .743, ordinal .815,
# interval .849, ratio .797.
KRIPPENDORFF_C = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def test_percent_agreement_ignores_missing_pairs() -> None:
    assert percent_agreement([1, 2, 3, None, 1], [1, 2, 1, 2, NAN]) == pytest.approx(2 / 3)
    assert percent_agreement(["a", "b"], ["a", "b"]) == 1.0


def test_cohens_kappa_two_by_two_textbook_example() -> None:
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15.
    # p_o = 35/50 = 0.7; p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = (0.7-0.5)/(1-0.5) = 0.4.
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohens_kappa(a, b) == pytest.approx(0.4)
    # With two categories every weighting scheme is the same disagreement, so the same kappa.
    assert cohens_kappa(a, b, labels=["no", "yes"], weights="linear") == pytest.approx(0.4)
    assert cohens_kappa(a, b, labels=["no", "yes"], weights="quadratic") == pytest.approx(0.4)


def _weighted_kappa_by_hand(table: list[list[int]], power: int) -> float:
    """Agreement-weight form (p_o,w - p_e,w) / (1 - p_e,w) with exact fractions."""
    k = len(table)
    total = sum(sum(row) for row in table)
    rows = [Fraction(sum(table[i]), total) for i in range(k)]
    cols = [Fraction(sum(table[i][j] for i in range(k)), total) for j in range(k)]
    p_o = p_e = Fraction(0)
    for i in range(k):
        for j in range(k):
            agree = 1 - Fraction(abs(i - j), k - 1) ** power
            p_o += agree * Fraction(table[i][j], total)
            p_e += agree * rows[i] * cols[j]
    return float((p_o - p_e) / (1 - p_e))


def test_weighted_kappa_matches_hand_computation() -> None:
    table = [[10, 2, 0], [3, 8, 2], [1, 2, 12]]
    a, b = [], []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [i + 1] * count
            b += [j + 1] * count
    # Unweighted: p_o = 30/40, p_e = (12*14 + 13*12 + 15*14)/1600 = 534/1600.
    assert cohens_kappa(a, b) == pytest.approx((30 / 40 - 534 / 1600) / (1 - 534 / 1600))
    assert cohens_kappa(a, b, weights="linear") == pytest.approx(_weighted_kappa_by_hand(table, 1))
    assert cohens_kappa(a, b, weights="quadratic") == pytest.approx(_weighted_kappa_by_hand(table, 2))
    # Quadratic weights forgive near misses more than linear ones here.
    assert cohens_kappa(a, b, weights="quadratic") > cohens_kappa(a, b, weights="linear") > cohens_kappa(a, b)


def test_kappa_label_order_matters_only_when_weighted() -> None:
    a, b = [1, 2, 3, 3, 1], [1, 3, 3, 2, 2]
    assert cohens_kappa(a, b, labels=[3, 1, 2]) == pytest.approx(cohens_kappa(a, b))
    assert cohens_kappa(a, b, labels=[3, 1, 2], weights="linear") != pytest.approx(cohens_kappa(a, b, weights="linear"))


def test_kappa_rejects_unknown_labels_and_bad_weights() -> None:
    with pytest.raises(BadInput, match="not in the given labels"):
        cohens_kappa([1, 2], [1, 3], labels=[1, 2])
    with pytest.raises(ValueError, match="weights must be"):
        cohens_kappa([1, 2], [1, 2], weights="cubic")  # type: ignore[arg-type]


def test_kappa_undefined_when_both_raters_use_one_label() -> None:
    assert math.isnan(cohens_kappa([1, 1, 1], [1, 1, 1]))


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_alpha_published_example_with_missing_data(level: str, published: float) -> None:
    assert krippendorff_alpha(KRIPPENDORFF_C, level=level) == pytest.approx(published, abs=5e-4)


def test_krippendorff_alpha_binary_two_observer_example() -> None:
    # Krippendorff (2011) section A: n = 20 values, n_0 = 14, n_1 = 6, 4 disagreeing units,
    # alpha = 1 - (n - 1) * o_01 / (n_0 * n_1) = 1 - 19 * 4 / 84.
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert krippendorff_alpha([a, b]) == pytest.approx(1 - 19 * 4 / 84)


def _nominal_alpha_by_pairs(ratings: list[list[float]]) -> float:
    """Pairable-values form, by plain loops: 1 - (n-1) * sum_u D_u/(m_u-1) / sum_{c!=k} n_c n_k."""
    units = [[r[u] for r in ratings if not math.isnan(r[u])] for u in range(len(ratings[0]))]
    units = [u for u in units if len(u) >= 2]
    values = [v for u in units for v in u]
    n = len(values)
    disagreement = 0.0
    for u in units:
        pairs = sum(1 for i in range(len(u)) for j in range(len(u)) if i != j and u[i] != u[j])
        disagreement += pairs / (len(u) - 1)
    counts = {v: values.count(v) for v in set(values)}
    chance = sum(counts[c] * counts[k] for c in counts for k in counts if c != k)
    return 1 - (n - 1) * disagreement / chance


def test_krippendorff_nominal_matches_independent_loop_on_random_data() -> None:
    rng = np.random.default_rng(7)
    ratings = rng.integers(1, 5, size=(5, 40)).astype(float)
    ratings[rng.random(ratings.shape) < 0.3] = np.nan
    assert krippendorff_alpha(ratings) == pytest.approx(_nominal_alpha_by_pairs(ratings.tolist()))


def test_krippendorff_accepts_string_labels_and_dataframes() -> None:
    frame = pd.DataFrame([["a", "b", "a", None], ["a", "b", "b", "c"]])
    numeric = krippendorff_alpha([[1, 2, 1, NAN], [1, 2, 2, 3]])
    assert krippendorff_alpha(frame) == pytest.approx(numeric)


def test_krippendorff_perfect_agreement_is_one_and_no_variation_is_nan() -> None:
    assert krippendorff_alpha([[1, 2, 3], [1, 2, 3]], level="interval") == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha([[2, 2, 2], [2, 2, 2]]))


def test_krippendorff_rejects_non_numeric_interval_and_bad_level() -> None:
    with pytest.raises(BadInput, match="numeric"):
        krippendorff_alpha([["a", "b"], ["a", "c"]], level="interval")
    with pytest.raises(BadInput, match="level"):
        krippendorff_alpha([[1, 2]], level="fuzzy")  # type: ignore[arg-type]


def test_accuracy_with_ties_convention() -> None:
    judge = ["A", "B", "tie", "A", "B", "tie", None]
    human = ["A", "A", "A", "tie", "B", "tie", "A"]
    # credits: 1, 0, 0.5, 0.5, 1, 1  (last pair dropped: judge missing)
    result = accuracy_with_ties(judge, human)
    assert result["n"] == 6
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["exact"] == pytest.approx(3 / 6)
    # human non-tie pairs: rows 0, 1, 2, 4 -> 1, 0, 0.5, 1
    assert result["n_non_tie"] == 4
    assert result["accuracy_non_tie"] == pytest.approx(2.5 / 4)
    # neither tied: rows 0, 1, 4 -> 2 of 3 exact
    assert result["n_decisive"] == 3
    assert result["accuracy_decisive"] == pytest.approx(2 / 3)
    assert result["judge_tie_rate"] == pytest.approx(2 / 6)
    assert result["human_tie_rate"] == pytest.approx(2 / 6)


def test_accuracy_with_ties_numeric_labels() -> None:
    # Auto-J convention: 0 = first better, 1 = second better, 2 = tie.
    result = accuracy_with_ties([0, 1, 2, 2], [0, 0, 0, 2], tie_label=2)
    assert result["accuracy"] == pytest.approx((1 + 0 + 0.5 + 1) / 4)


def test_rank_correlation_hand_values() -> None:
    # x = 1..4, y = 1,3,2,4: one discordant pair of six, tau = (5-1)/6; sum d^2 = 2,
    # rho = 1 - 6*2/(4*15) = 0.8.
    result = rank_correlation([1, 2, 3, 4], [1, 3, 2, 4])
    assert result["kendall_tau"] == pytest.approx(4 / 6)
    assert result["spearman"] == pytest.approx(0.8)
    assert result["n"] == 4
    assert 0 < result["kendall_p"] <= 1 and 0 < result["spearman_p"] <= 1


def test_rank_correlation_aligns_series_on_index() -> None:
    x = pd.Series({"m1": 1.0, "m2": 2.0, "m3": 3.0, "only_x": 9.0})
    y = pd.Series({"m3": 30.0, "m1": 10.0, "m2": 20.0})
    result = rank_correlation(x, y)
    assert result["n"] == 3
    assert result["kendall_tau"] == pytest.approx(1.0)


def test_length_mismatch_is_bad_input() -> None:
    with pytest.raises(BadInput, match="differ in length"):
        percent_agreement([1, 2], [1])


def test_rank_correlation_p_values_are_exact_for_few_models() -> None:
    # Three models in the same order: of the 3! = 6 orderings, only this one and its reverse
    # reach |rho| = |tau| = 1, so the exact two-sided p-value is 2/6 (an asymptotic formula
    # says 0, a certainty three points cannot give).
    result = rank_correlation([1.0, 2.0, 3.0], [10.0, 20.0, 30.0])
    assert result["spearman_p"] == pytest.approx(1 / 3)
    assert result["kendall_p"] == pytest.approx(1 / 3)
    # x = 1..4, y = 1,3,2,4 (rho 0.8): the share of the 24 orderings with |rho| >= 0.8, counted
    # here by hand-written brute force.
    import itertools

    def rho(y):
        d = np.array([1, 2, 3, 4]) - np.array(y)
        return 1 - 6 * (d @ d) / (4 * 15)

    extreme = sum(abs(rho(p)) >= 0.8 - 1e-12 for p in itertools.permutations([1, 2, 3, 4]))
    assert rank_correlation([1, 2, 3, 4], [1, 3, 2, 4])["spearman_p"] == pytest.approx(extreme / 24)


def test_rank_correlation_gives_no_p_value_for_two_models() -> None:
    result = rank_correlation([1.0, 2.0], [3.0, 4.0])
    assert result["spearman"] == pytest.approx(1.0)
    assert np.isnan(result["spearman_p"]) and np.isnan(result["kendall_p"])
