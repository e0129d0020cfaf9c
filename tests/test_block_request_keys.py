"""An export's order is read a block at a time (block_request_keys) where every line is in
store_line's form: the keys must be line_request_key's, line for line, whatever the block size,
and any line that function would leave to the full parse must send the whole read back to it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from harness.models import Verdict
from harness.running import recompute
from harness.running.recompute import ordered_verdicts
from harness.store import STORE_FILE, VERDICTS_FILE, block_request_keys, export_lines, line_request_key


def verdicts(n: int) -> list[Verdict]:
    return [Verdict(request_id=f"r{i}::ünï", request_key=f"k{i:04d}", item_id=f"i{i % 7}", judge="j", status="ok",
                    output="\n".join(["x"] * (i % 5)), data={"note": '{"request_id":"r0","request_key":"k0"}'})
            for i in range(n)]


def keys_by_blocks(data: bytes, block: int) -> list[str] | None:
    found: list[str] = []
    for keys in block_request_keys(io.BytesIO(data), block=block):
        if keys is None:
            return None
        found += keys
    return found


@pytest.mark.parametrize("block", [1, 7, 100, 333, 1 << 20])
@pytest.mark.parametrize("last_newline", [True, False])
def test_the_keys_are_line_request_keys_for_any_block_size(block: int, last_newline: bool) -> None:
    data = export_lines(verdicts(60)[::-1]).encode()
    if not last_newline:
        data = data[:-1]
    expected = [line_request_key(line) for line in io.BytesIO(data)]
    assert None not in expected and len(expected) == 60
    assert keys_by_blocks(data, block) == expected


@pytest.mark.parametrize("change", [
    lambda line: line.replace(b"}\n", b"} \n"),  # trailing space: the line-at-a-time read decides
    lambda line: line.replace(b"}\n", b"}\r\n"),
    lambda line: line.replace(b'"request_key":"', b'"request_key": "'),
    lambda line: line.replace(b'"r', b'"\\u0072', 1),  # an escape in the id
    lambda line: line.replace(b'"k00', b'"k\xff0'),  # a key that is not UTF-8
    lambda line: line[:-2] + b"\n",  # not a whole object
    lambda line: b"\n",
    lambda line: json.dumps(json.loads(line), sort_keys=True).encode() + b"\n",
])
@pytest.mark.parametrize("block", [5, 1 << 20])
def test_a_line_in_another_form_gives_no_keys_for_its_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change, block: int,
) -> None:
    written = stored(tmp_path, 30)
    lines = [line.encode() + b"\n" for line in export_lines(written[::-1]).splitlines()]
    lines[17] = change(lines[17])
    assert keys_by_blocks(b"".join(lines), block) is None
    # and the order is then the line-at-a-time read's, whatever that makes of the line
    (tmp_path / VERDICTS_FILE).write_bytes(b"".join(lines))
    got = [v.request_key for v in ordered_verdicts(tmp_path)]
    monkeypatch.setattr(recompute, "_listed_in_blocks", lambda previous, records: None)
    assert got == [v.request_key for v in ordered_verdicts(tmp_path)]


def stored(tmp_path: Path, n: int) -> list[Verdict]:
    written = verdicts(n)
    (tmp_path / STORE_FILE).write_text(export_lines(written))
    return written


def test_an_export_of_store_lines_is_read_in_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = stored(tmp_path, 50)
    order = written[::3] + written[1::3] + written[2::3]
    (tmp_path / VERDICTS_FILE).write_text(export_lines(order))
    monkeypatch.setattr(recompute, "_export_record", lambda line: pytest.fail("read a line at a time"))
    monkeypatch.setattr(recompute, "line_request_key", lambda line: pytest.fail("read a line at a time"))
    assert [v.request_key for v in ordered_verdicts(tmp_path)] == [v.request_key for v in order]


@pytest.mark.parametrize("case", ["twice", "stranger", "fewer"])
def test_what_the_blocks_cannot_list_exactly_is_left_to_the_line_read(tmp_path: Path, case: str) -> None:
    written = stored(tmp_path, 40)
    order = written[::-1]
    if case == "twice":
        order = [*order[:10], order[3], *order[10:]]  # listed once; the later line is not a record again
    elif case == "stranger":
        order = [*order[:5], Verdict(request_id="gone", request_key="gone", item_id="i", judge="j", status="ok"),
                 *order[5:]]
    else:
        order = order[:25]
    (tmp_path / VERDICTS_FILE).write_text(export_lines(order))
    blocks = recompute._listed_in_blocks(tmp_path / VERDICTS_FILE, {v.request_key: v for v in written})
    assert (blocks is None) if case != "fewer" else (blocks == order)
    listed, only_records = recompute._previous_order(tmp_path / VERDICTS_FILE,
                                                     {v.request_key: v for v in written}, False)
    unique = [v for i, v in enumerate(order) if v.request_key != "gone" and v not in order[:i]]
    assert [v.request_key for v in listed] == [v.request_key for v in unique]
    assert only_records is (case == "fewer")
    got = ordered_verdicts(tmp_path)
    assert [v.request_key for v in got] == [v.request_key for v in unique] + [
        v.request_key for v in written if v.request_key not in {u.request_key for u in unique}]
