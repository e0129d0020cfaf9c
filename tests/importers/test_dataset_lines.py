"""An import's dataset.jsonl lines (UTF-8 bytes): orjson for speed, but never at the cost of a value: what
orjson refuses (an integer beyond 64 bits) or would write as null (NaN, infinities) is written
as the standard library writes it, and every line reads back as its row."""

from __future__ import annotations

import json
import math

import pytest

from harness.importers.dataset_files import dataset_line

ORDINARY = {"id": "q1", "instruction": "Say «hi»\u2028twice\n", "category": "x",
            "answers": {"m": "hi\thi \"quoted\" \\ \x01", "n": ""}}


def test_an_ordinary_row_is_one_line_that_reads_back_as_it() -> None:
    line = dataset_line(ORDINARY)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert line == (json.dumps(ORDINARY, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    assert json.loads(line) == ORDINARY


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 2**70, -(2**64)])
def test_values_orjson_cannot_keep_are_written_as_the_standard_library_writes_them(value: float | int) -> None:
    row = {**ORDINARY, "meta": {"weight": [1.5, value]}}
    line = dataset_line(row)
    back = json.loads(line)["meta"]["weight"][1]
    assert back is not None
    assert (math.isnan(back) and math.isnan(value)) or back == value
    assert line == (json.dumps(row, ensure_ascii=False) + "\n").encode()


def test_a_null_that_is_a_null_stays_the_fast_line() -> None:
    row = {**ORDINARY, "category": None, "answers": {"m": None}}
    assert json.loads(dataset_line(row)) == row
    assert b", " not in dataset_line(row)  # orjson's compact form: no fallback was needed
