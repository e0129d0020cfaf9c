"""harness.store reads a store in slices (one pydantic call per slice); every verdict, every torn
tail and every bad line must read as it did line by line, at and across the slice boundaries."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import BadInput
from harness.models import Verdict
from harness.store import STORE_FILE, STORE_SLICE, export_lines, load_run, read_store, stored_verdicts


def verdicts(n: int) -> list[Verdict]:
    return [Verdict(request_id=f"req-{i}", request_key=f"k{i}", item_id=f"item-{i % 7}", judge="j",
                    status="ok" if i % 5 else "failed", data={"level": "A>B", "model_a": "x", "model_b": "y", "i": i},
                    tokens_in=i) for i in range(n)]


def store_with(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / STORE_FILE
    path.write_bytes(b"".join(lines))
    return path


def lines_of(n: int) -> list[bytes]:
    return [line.encode() + b"\n" for line in export_lines(verdicts(n)).splitlines()]


@pytest.mark.parametrize("n", [1, STORE_SLICE - 1, STORE_SLICE, STORE_SLICE + 1, 2 * STORE_SLICE + 3])
def test_every_verdict_reads_back_in_order(tmp_path: Path, n: int) -> None:
    assert list(stored_verdicts(store_with(tmp_path, lines_of(n)))) == verdicts(n)


@pytest.mark.parametrize("n", [STORE_SLICE - 1, STORE_SLICE, STORE_SLICE + 1])
def test_a_torn_last_line_ends_the_store_at_a_slice_boundary(tmp_path: Path, n: int) -> None:
    lines = lines_of(n + 1)
    lines[-1] = lines[-1][:20]  # cut mid-record, no newline
    assert list(stored_verdicts(store_with(tmp_path, lines))) == verdicts(n)


@pytest.mark.parametrize("bad", [STORE_SLICE - 1, STORE_SLICE, STORE_SLICE + 2])
def test_a_corrupt_line_is_named_by_its_number(tmp_path: Path, bad: int) -> None:
    lines = lines_of(STORE_SLICE + 10)
    lines[bad - 1] = b'{"request_id": 3}\n'
    with pytest.raises(BadInput, match=rf"{STORE_FILE}:{bad}: corrupt record"):
        read_store(store_with(tmp_path, lines))


def test_two_records_on_one_line_are_corrupt_not_two_verdicts(tmp_path: Path) -> None:
    """Joined with the others into one JSON list, `{...},{...}` would parse as two records."""
    lines = lines_of(4)
    lines[1] = lines[1].rstrip(b"\n") + b"," + lines[2]
    with pytest.raises(BadInput, match=rf"{STORE_FILE}:2: corrupt record"):
        read_store(store_with(tmp_path, lines))


def test_the_first_bad_line_is_named_whatever_its_fault(tmp_path: Path) -> None:
    """A data shape fault on line 3 comes before a corrupt line 5 in the same slice."""
    lines = lines_of(8)
    lines[2] = lines[2].replace(b'"model_a": "x"', b'"model_a": 7')
    lines[4] = b"not json\n"
    with pytest.raises(BadInput, match=rf"{STORE_FILE}:3: data.model_a must be text"):
        read_store(store_with(tmp_path, lines))


def run_dir_with_export(tmp_path: Path, lines: list[bytes]) -> Path:
    (tmp_path / "run.json").write_text('{"counts": {}}')
    (tmp_path / "verdicts.jsonl").write_bytes(b"".join(lines))
    return tmp_path


def test_an_export_reads_back_as_line_by_line(tmp_path: Path) -> None:
    """Slices parsed in one orjson call each give the records one json call per line gave, NaN
    (which only the standard library reads) and lenient fields included."""
    lines = lines_of(STORE_SLICE + 5)
    lines[3] = b'{"request_id": "r", "item_id": 4, "status": "ok", "data": {"x": NaN, "category": null}}\n'
    lines[STORE_SLICE + 1] = b'{"request_id": null, "item_id": "i", "data": {}}\n'
    frame = load_run(run_dir_with_export(tmp_path, lines)).verdicts
    rows = []
    for line in lines:  # the frame load_run built from one json.loads per line
        record = json.loads(line)
        data = record.pop("data", {})
        rows.append({**record, **{k: v for k, v in data.items() if k not in record}})
    pd.testing.assert_frame_equal(frame, pd.DataFrame(rows))
    assert frame.loc[3, "item_id"] == 4 and math.isnan(frame.loc[3, "x"])


@pytest.mark.parametrize(("line", "message"), [
    (b'{"request_id": "r", "item_id": "i", "status": null}\n', "status None is not ok"),
    (b'{"request_id": "r", "item_id": "i", "data": {"model_a": "m", "model_b": "m"}}\n', "compares 'm' with itself"),
    (b'{"request_id": "r", "item_id": "i", "data": {"category": 3}}\n', "data.category must be text"),
    (b'{"request_id": "r", "item_id": "i", "data": []}\n', "data must be an object"),
    (b'[1, 2]\n', "not a verdict record"),
    (b'\n', "not a verdict record"),
])
def test_a_bad_export_line_is_named_by_its_number(tmp_path: Path, line: bytes, message: str) -> None:
    lines = lines_of(STORE_SLICE + 10)
    lines[STORE_SLICE + 3] = line
    with pytest.raises(BadInput, match=rf"verdicts.jsonl:{STORE_SLICE + 4}: .*{message}"):
        load_run(run_dir_with_export(tmp_path, lines))
