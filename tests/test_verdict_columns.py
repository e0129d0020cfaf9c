"""The verdicts' fields gathered once as columns (harness.protocol.verdict_columns): each column
holds what each verdict holds, a list's columns are shared only within columns_shared() and only
for that very list, a released column is gathered again when asked for, and an aggregation gives
the same numbers whether its steps shared the columns or each read the verdicts itself."""

from __future__ import annotations

import random
from typing import Any

import pandas as pd
import pytest

from harness.models import Verdict
from harness.protocol.verdict_columns import (
    MISSING,
    Absent,
    Released,
    columns_if_shared,
    columns_shared,
    gather_columns,
    kept_columns,
    release_columns,
    subset_of,
    verdict_columns,
)


def verdicts(n: int = 60, seed: int = 3) -> list[Verdict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.sample(["m1", "m2", "m3", "m4"], 2)
        data: dict[str, Any] = {"model_a": a, "model_b": b, "level": rng.choice(["A>>B", "A>B", "A=B", "B>A", "B>>A"]),
                                "len_a": rng.randint(5, 500), "len_b": rng.randint(5, 500),
                                "category": f"c{i % 3}"}
        if i % 2:
            data["probs"] = {"A>B": 0.25, "B>A": 0.75}
        if i % 7 == 0:
            data["length_unknown"] = True
        if i % 5 == 0:
            data["probs"] = None  # a value of None is kept as None, not as MISSING
        status = "ok" if i % 9 else ("invalid" if i % 2 else "failed")
        out.append(Verdict(request_id=f"r{i}", request_key=f"k{i}", item_id=f"q{i % 20}", judge="j",
                           status=status, data=data))
    return out


def test_each_column_holds_each_verdicts_field_and_missing_where_its_data_lacks_it() -> None:
    listed = verdicts()
    columns = gather_columns(listed)
    assert columns.status == [v.status for v in listed]
    assert columns.item_id == [v.item_id for v in listed]
    assert columns.request_id == [v.request_id for v in listed]
    for name in ("model_a", "model_b", "level", "len_a", "len_b", "probs", "length_unknown", "category"):
        assert list(getattr(columns, name)) == [v.data.get(name, MISSING) for v in listed], name
    assert columns.probs[5] is None and columns.probs[2] is MISSING and not MISSING
    # a field no verdict has is an Absent column: MISSING everywhere, without a list of them
    for name in ("model", "style_a", "style_b"):
        column = getattr(columns, name)
        assert isinstance(column, Absent) and len(column) == len(listed)
        assert column[0] is MISSING and column[-1] is MISSING and list(column[2:5]) == [MISSING] * 3
        assert column.count(MISSING) == len(listed) and MISSING in column and None not in column
        with pytest.raises(IndexError):
            column[len(listed)]
    assert columns.ok_positions() == [i for i, v in enumerate(listed) if v.status == "ok"]
    assert not columns.all_ok()
    assert gather_columns([v for v in listed if v.status == "ok"]).all_ok()


def test_columns_are_shared_within_the_block_for_that_list_only() -> None:
    listed = verdicts()
    assert verdict_columns(listed) is not verdict_columns(listed)  # outside: gathered each time
    assert kept_columns(listed) is None
    with columns_shared():
        first = verdict_columns(listed)
        assert verdict_columns(listed) is first and kept_columns(listed) is first
        with columns_shared():  # a nested block shares the outer one's
            assert verdict_columns(listed) is first
        copy = list(listed)  # an equal list is another list
        assert kept_columns(copy) is None and verdict_columns(copy) is not first
        listed.append(listed[0])  # a list that changed is gathered again
        assert kept_columns(listed) is None
        again = verdict_columns(listed)
        assert again is not first and again.request_id[-1] == listed[0].request_id
        listed[-1] = listed[-1].model_copy(update={"status": "failed"})  # its end replaced: the same length
        assert kept_columns(listed) is None and verdict_columns(listed).status[-1] == "failed"
        assert columns_if_shared(listed) is verdict_columns(listed)
    assert kept_columns(listed) is None  # the block's end drops them
    assert columns_if_shared(listed) is None


def test_a_released_column_cannot_be_read_and_is_gathered_again_when_asked_for() -> None:
    listed = verdicts()
    with columns_shared():
        first = verdict_columns(listed)
        release_columns(listed, "level", "probs")
        kept = kept_columns(listed)
        assert kept is not None and kept.released() == {"level", "probs"}
        assert kept.status is first.status  # the others stay
        assert isinstance(kept.level, Released)
        with pytest.raises(RuntimeError, match="released"):
            kept.level[0]
        with pytest.raises(RuntimeError, match="released"):
            list(kept.probs)
        assert kept_columns(listed, "level") is None and kept_columns(listed, "status", "item_id") is kept
        regathered = verdict_columns(listed)
        assert not regathered.released() and regathered.level == first.level


def test_a_subsets_columns_are_taken_from_the_whole_lists_and_dropped_after_its_block() -> None:
    listed = verdicts()
    positions = [1, 4, 9, 10, 33]
    with columns_shared():
        verdict_columns(listed)
        release_columns(listed, "level")
        with subset_of(listed, positions) as subset:
            assert subset == [listed[i] for i in positions]
            taken = kept_columns(subset)
            assert taken is not None
            expected = gather_columns(subset)
            assert taken.status == expected.status and taken.len_a == expected.len_a
            assert isinstance(taken.style_a, Absent) and isinstance(taken.level, Released)
        assert kept_columns(subset) is None
    with subset_of(listed, positions) as subset:  # outside a block: only the list
        assert kept_columns(subset) is None and len(subset) == 5


def test_the_pairwise_aggregation_gives_the_same_numbers_with_shared_columns() -> None:
    """aggregate_pairwise reads the gathered columns and releases those only its battles use;
    the categories' scores after it read the statuses and items from them."""
    from harness_plugins.pairwise.aggregate import aggregate_pairwise, reward_scores
    from harness_plugins.pairwise.config import PairwiseConfig

    listed = verdicts(240, seed=11)
    config = PairwiseConfig(n_bootstrap=30, baselines=["m1"], soft=True)
    alone = aggregate_pairwise(listed, config)
    alone_category = reward_scores(listed[::2], config)
    with columns_shared():
        verdict_columns(listed)
        shared = aggregate_pairwise(listed, config)
        assert kept_columns(listed, "level") is None  # released after use
        with subset_of(listed, list(range(0, len(listed), 2))) as subset:
            shared_category = reward_scores(subset, config)
    pd.testing.assert_frame_equal(shared.scores, alone.scores, check_exact=True)
    pd.testing.assert_frame_equal(shared.ranking, alone.ranking, check_exact=True)
    pd.testing.assert_frame_equal(shared_category, alone_category, check_exact=True)
    assert shared.summary == alone.summary
