"""judged_battles builds its table column by column with point-mass values computed once per level;
it must give exactly the table the row-by-row construction gave, soft or not, length rule or not."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.models import Verdict
from harness.stats.preference import (
    LEVELS,
    REWARD_A,
    adjust_distribution,
    apply_length_rule,
    battle_mass,
    expected_reward_a,
    expected_share_a,
)
from harness_plugins.pairwise.aggregate import judged_battles
from harness_plugins.pairwise.config import PairwiseConfig


def row_by_row(verdicts: list[Verdict], config: PairwiseConfig) -> pd.DataFrame:
    """The construction judged_battles had before (one dict per verdict), kept as the reference."""
    rows = []
    for v in verdicts:
        if v.status != "ok":
            continue
        d = v.data
        level = apply_length_rule(d["level"], d["len_a"], d["len_b"], config.length_k)
        probs = d.get("probs")
        soft = adjust_distribution(probs, d["len_a"], d["len_b"], config.length_k) if probs else None
        used = soft if (config.soft and soft) else {level: 1.0}
        bt_score_a, bt_weight = battle_mass(used, config.strong_weight)
        rows.append({
            "item_id": v.item_id, "request_id": v.request_id, "model_a": d["model_a"], "model_b": d["model_b"],
            "raw_level": d["level"], "level": level, "hard_reward_a": REWARD_A[level],
            "share_a": expected_share_a(used),
            "len_a": d["len_a"], "len_b": d["len_b"], "length_known": not d.get("length_unknown", False),
            "reward_a": expected_reward_a(used), "expected_a": expected_reward_a(soft) if soft else np.nan,
            "bt_score_a": bt_score_a, "bt_weight": bt_weight, "soft_fallback": bool(config.soft and not soft),
        })
    columns = ["item_id", "request_id", "model_a", "model_b", "raw_level", "level", "hard_reward_a", "share_a",
               "len_a", "len_b", "length_known", "reward_a", "expected_a", "bt_score_a", "bt_weight", "soft_fallback"]
    # the text columns hold the verdicts' own strings (object columns, not copies into pandas' `str`)
    texts = ["item_id", "request_id", "model_a", "model_b", "raw_level", "level"]
    return pd.DataFrame(rows, columns=columns).astype(dict.fromkeys(texts, object))


def planted_verdicts(n: int, seed: int) -> list[Verdict]:
    rng = random.Random(seed)
    models = ["m1", "m2", "m3"]
    verdicts = []
    for i in range(n):
        a, b = rng.sample(models, 2)
        data: dict[str, Any] = {"model_a": a, "model_b": b, "level": rng.choice(LEVELS),
                                "len_a": rng.randint(10, 900), "len_b": rng.randint(10, 900)}
        if rng.random() < 0.5:  # a logprob distribution for some verdicts only
            weights = [rng.random() for _ in LEVELS]
            data["probs"] = {level: w / sum(weights) for level, w in zip(LEVELS, weights)}
        if rng.random() < 0.1:
            data["length_unknown"] = True
        status = rng.choices(["ok", "invalid", "failed"], weights=[8, 1, 1])[0]
        verdicts.append(Verdict(request_id=f"q{i}::{a}::{b}", request_key=f"k{i}", item_id=f"q{i % 40}",
                                judge="j", status=status, data=data if status == "ok" else {}))
    return verdicts


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("length_k", [-1, 0, 300])
@pytest.mark.parametrize("strong_weight", [1.0, 3.0])
def test_the_columnar_table_equals_the_row_by_row_one(soft: bool, length_k: int, strong_weight: float) -> None:
    config = PairwiseConfig(soft=soft, length_k=length_k, strong_weight=strong_weight)
    verdicts = planted_verdicts(400, seed=length_k + 7)
    pd.testing.assert_frame_equal(judged_battles(verdicts, config), row_by_row(verdicts, config), check_exact=True)


def test_the_text_columns_hold_the_verdicts_own_strings() -> None:
    """No copy of a text per row: the table's names, ids and levels are the verdicts' objects."""
    verdicts = [v for v in planted_verdicts(200, seed=4) if v.status == "ok"]
    table = judged_battles(verdicts, PairwiseConfig(length_k=-1))
    for column, read in (("item_id", lambda v: v.item_id), ("request_id", lambda v: v.request_id),
                         ("model_a", lambda v: v.data["model_a"]), ("raw_level", lambda v: v.data["level"])):
        assert table[column].dtype == object
        assert all(a is read(v) for a, v in zip(table[column], verdicts, strict=True)), column


def test_no_parsed_verdict_gives_the_same_empty_table() -> None:
    verdicts = [v for v in planted_verdicts(50, seed=1) if v.status != "ok"]
    pd.testing.assert_frame_equal(judged_battles(verdicts, PairwiseConfig()), row_by_row(verdicts, PairwiseConfig()))


def test_alpaca_eval_lc_without_a_finite_fit_is_said_not_a_crash() -> None:
    """Two models beat the baseline on every item: AlpacaEval's unpenalised joint fit has no finite
    optimum (its Newton step met a singular matrix and the aggregate died with an internal error,
    after every judge call was paid). Its column stays empty, with the reason; the harness's own
    length-controlled win rate is still computed."""
    from harness.importers.common import pairwise_verdict as imported_verdict
    from harness_plugins.pairwise.aggregate import aggregate_pairwise
    from harness_plugins.pairwise.config import PairwiseConfig

    verdicts = [imported_verdict("t", item_id=f"q{i}", model=model, opponent="base", model_is_a=True, level="A>>B",
                                 judge="j", len_model=100 + 10 * i, len_opponent=80 + i)
                for model in ("good", "mid") for i in range(6)]
    config = PairwiseConfig(baselines=["base"], alpaca_eval_lc=True, n_bootstrap=20)
    aggregate = aggregate_pairwise(verdicts, config)
    scores = aggregate.scores.set_index("model")
    assert scores["alpaca_eval_lc"].isna().all()
    assert scores.loc[["good", "mid"], "length_controlled_win_rate"].notna().all()
    assert any("AlpacaEval LC (its GLM): not computed" in note for note in aggregate.summary["notes"])
