"""flat_records_frame (harness.bulk_reads) builds, a column at a time, exactly the frame pd.DataFrame gives for the
flattened records: columns, order, missing values and every dtype (pandas' own inference is the
reference, on whatever pandas is installed)."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import pytest

import harness.bulk_reads as bulk_reads
from harness.bulk_reads import flat_records_frame


def reference_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """The former construction: every record flattened in place, then pandas over the list."""
    flat = copy.deepcopy(records)
    for record in flat:
        data = record.pop("data", None)
        if isinstance(data, dict):
            for key, value in data.items():
                record.setdefault(key, value)
    return pd.DataFrame(flat)


AWKWARD = [
    {"request_id": "r1", "item_id": "i1", "status": "ok", "error": None,
     "data": {"model_a": "a", "model_b": "b", "level": "A>B", "len_a": 3, "probs": {"A>B": 0.7}}},
    # a key only later records have, one the first lacks, a data key shadowed by a top-level one
    {"request_id": "r2", "item_id": 7, "status": "invalid", "error": "no verdict", "late": True,
     "data": {"model_a": "b", "level": None, "status": "shadowed", "score": 2.5}},
    {"request_id": "r3", "item_id": "i1", "status": "failed", "data": None, "big": 2**70},
    {"request_id": "r4", "item_id": "i2", "status": "ok",
     "data": {"model_a": "a", "model_b": "c", "len_a": 10, "tags": ["x", "y"], "score": 1}},
]


@pytest.mark.parametrize("records", [
    AWKWARD,
    AWKWARD[::-1],
    [{"request_id": f"r{i}", "item_id": f"i{i % 3}", "status": "ok", "data": {"model_a": "a", "model_b": "b"}}
     for i in range(50)],
    [{"request_id": "r", "status": "ok"}],
    [{"data": {}}],
], ids=["awkward", "awkward-reversed", "repeated-texts", "one", "empty-data"])
def test_the_frame_pandas_builds_from_the_records(records: list[dict[str, Any]]) -> None:
    expected = reference_frame(records)
    built = flat_records_frame(copy.deepcopy(record) for record in records)
    pd.testing.assert_frame_equal(built, expected, check_exact=True)
    assert list(built.columns) == list(expected.columns)


def test_no_records_give_pandas_empty_frame() -> None:
    pd.testing.assert_frame_equal(flat_records_frame(iter(())), pd.DataFrame([]))


def test_repeated_texts_are_held_once_until_a_column_has_too_many(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_reads, "SHARED_TEXTS_LIMIT", 4)
    handed: list[list[Any]] = []  # the lists handed to pandas, before conversion
    original = pd.Series

    def capture(values: list[Any], *args: Any, **kwargs: Any) -> pd.Series:
        handed.append(values)
        return original(values, *args, **kwargs)

    monkeypatch.setattr(pd, "Series", capture)
    # texts built at run time, so equal ones are distinct objects, as a JSON parser makes them
    ids = [f"id-{i % 6}" for i in range(12)]  # 6 distinct: past the limit of 4 after the 5th
    records = [{"model": "".join(["model-", "x"]), "id": "".join(["", ids[i]])} for i in range(12)]
    frame = flat_records_frame(records)
    models, id_column = handed
    assert len({id(text) for text in models}) == 1  # twelve equal texts: one object kept
    assert id_column[6] is not id_column[0]  # "id-0" again, after the column stopped sharing
    assert id_column[1] is not id_column[7]
    assert list(frame["id"]) == ids and list(frame["model"]) == ["model-x"] * 12
