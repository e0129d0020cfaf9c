"""Reliability of repeated judgments: a hand example and the real MT-Bench triple GPT-4 scores."""

from __future__ import annotations

import json
import math
import statistics
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.errors import BadInput
from harness.stats.reliability import repeated_judgment_reliability

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "prometheus_eval" / "mt_bench_eval.json"


def test_hand_example_wide_and_long_agree() -> None:
    wide = [[1, 1, 1], [1, 2, 3], [2, 2, 3], [4, math.nan, math.nan]]  # last item: one score, dropped
    result = repeated_judgment_reliability(wide)
    assert result["n_items"] == 3 and result["n_scores"] == 9
    assert result["exact_agreement"] == pytest.approx(1 / 3)
    # equal pairs per item: 3/3, 0/3, 1/3; within one point: 3/3, 2/3, 3/3
    assert result["mean_pairwise_agreement"] == pytest.approx((1 + 0 + 1 / 3) / 3)
    assert result["within_one_agreement"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    # sample SDs: 0, 1, sqrt(1/3)
    assert result["within_item_sd"] == pytest.approx((0 + 1 + math.sqrt(1 / 3)) / 3)
    long = pd.DataFrame(
        [(f"q{i}", v) for i, row in enumerate(wide) for v in row], columns=["item_id", "score"]
    )
    assert repeated_judgment_reliability(long) == pytest.approx(result, nan_ok=True)


def test_icc_of_perfectly_repeatable_judge_is_one() -> None:
    result = repeated_judgment_reliability([[1, 1], [3, 3], [5, 5]])
    assert result["icc1"] == pytest.approx(1.0)
    assert result["alpha_interval"] == pytest.approx(1.0)
    assert result["exact_agreement"] == 1.0


def test_no_repeats_is_bad_input() -> None:
    with pytest.raises(BadInput, match="two or more scores"):
        repeated_judgment_reliability([[1], [2]])


@pytest.fixture(scope="module")
def mt_bench_scores() -> list[list[int]]:
    if not DATA.is_file():
        pytest.skip(f"real judge data not found at {DATA} (the shared data folder is absent)")
    return [list(row["gpt4_score"]) for row in json.loads(DATA.read_text(encoding="utf-8"))]


def test_mt_bench_triple_gpt4_scores_match_independent_loops(mt_bench_scores: list[list[int]]) -> None:
    rows = mt_bench_scores
    assert len(rows) == 320 and all(len(r) == 3 for r in rows)
    result = repeated_judgment_reliability(rows)

    # Plain-Python figures.
    exact = sum(1 for r in rows if r[0] == r[1] == r[2]) / len(rows)
    pairwise = sum(sum(a == b for a, b in combinations(r, 2)) / 3 for r in rows) / len(rows)
    within_sd = sum(statistics.stdev(r) for r in rows) / len(rows)
    values = [v for r in rows for v in r]
    grand = sum(values) / len(values)
    ms_within = sum((v - sum(r) / 3) ** 2 for r in rows for v in r) / (len(values) - len(rows))
    ms_between = sum(3 * (sum(r) / 3 - grand) ** 2 for r in rows) / (len(rows) - 1)
    icc1 = (ms_between - ms_within) / (ms_between + 2 * ms_within)
    # Interval alpha with complete data: D_o = 2 * MS_within, D_e = 2 * (sample variance of all
    # values), so alpha = 1 - MS_within / var.
    alpha_interval = 1 - ms_within / statistics.variance(values)
    # Nominal alpha, pairable-values form with m = 3 per unit.
    disagreeing = sum(sum(a != b for a, b in combinations(r, 2)) * 2 / 2 for r in rows)
    counts = {v: values.count(v) for v in set(values)}
    n = len(values)
    alpha_nominal = 1 - (n - 1) * disagreeing / sum(counts[c] * counts[k] for c in counts for k in counts if c != k)

    assert result["exact_agreement"] == pytest.approx(exact)
    assert result["mean_pairwise_agreement"] == pytest.approx(pairwise)
    assert result["within_item_sd"] == pytest.approx(within_sd)
    assert result["icc1"] == pytest.approx(icc1)
    assert result["icc1k"] == pytest.approx((ms_between - ms_within) / ms_between)
    assert result["alpha_interval"] == pytest.approx(alpha_interval)
    assert result["alpha_nominal"] == pytest.approx(alpha_nominal)
    # Sanity on the published data: GPT-4 repeats agree exactly on about 44% of items, and within
    # one point almost always; ordinal alpha lies between nominal and interval here.
    assert exact == pytest.approx(141 / 320)
    assert result["alpha_nominal"] < result["alpha_ordinal"] < result["alpha_interval"]
    assert np.isfinite(result["alpha_ordinal"])
