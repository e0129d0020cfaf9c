"""harness aggregate keeps the previous export's verdict order (so an unchanged run reproduces its
files); checked on exports of thousands of lines, a panel, and exports with a line that is no record."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.models import Verdict
from harness.running.recompute import ordered_verdicts
from harness.store import STORE_FILE, VERDICTS_FILE, export_lines

MANY = 5_000


def store(tmp_path: Path, n: int, judges: tuple[str, ...] = ("j",)) -> list[Verdict]:
    verdicts = [Verdict(request_id=f"r{i}", request_key=f"k{i}", item_id="i", judge=judge, status="ok")
                for i in range(n) for judge in judges]
    (tmp_path / STORE_FILE).write_text(export_lines(verdicts))
    return verdicts


@pytest.mark.parametrize("panel", [False, True])
def test_the_previous_export_order_comes_first_then_the_store_order(tmp_path: Path, panel: bool) -> None:
    verdicts = store(tmp_path, MANY + 50, judges=("j1", "j2") if panel else ("j",))
    previous = random.Random(3).sample(verdicts, MANY + 7)
    stranger = Verdict(request_id="gone", request_key="gone", item_id="i", judge="j1", status="ok")
    (tmp_path / VERDICTS_FILE).write_text(export_lines([*previous[:10], stranger, *previous[10:]]))
    ids = {id(v) for v in previous}
    expected = previous + [v for v in verdicts if id(v) not in ids]
    got = ordered_verdicts(tmp_path, panel=panel)
    assert [(v.judge, v.request_key) for v in got] == [(v.judge, v.request_key) for v in expected]


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", "NaN"])
def test_a_previous_export_with_a_line_that_is_no_record_is_ignored(tmp_path: Path, bad: str) -> None:
    verdicts = store(tmp_path, MANY + 5)
    lines = export_lines(list(reversed(verdicts))).splitlines()
    lines[MANY + 2] = bad
    (tmp_path / VERDICTS_FILE).write_text("\n".join(lines) + "\n")
    assert ordered_verdicts(tmp_path) == verdicts


def test_nan_in_a_previous_export_is_read_as_the_standard_library_reads_it(tmp_path: Path) -> None:
    verdicts = store(tmp_path, 6)
    lines = [line.replace('"data":{}', '"data":{"x":NaN}') for line in export_lines(verdicts[::-1]).splitlines()]
    assert all('"x":NaN' in line for line in lines)
    (tmp_path / VERDICTS_FILE).write_text("\n".join(lines) + "\n")
    assert ordered_verdicts(tmp_path) == verdicts[::-1]


def test_a_previous_export_line_that_is_not_utf8_still_gives_its_order(tmp_path: Path) -> None:
    # the export was read as text with bad bytes replaced: such a line's record keeps its place
    verdicts = store(tmp_path, 8)
    lines = [line.encode() for line in export_lines(verdicts[::-1]).splitlines()]
    lines[3] = lines[3].replace(b'"data":{}', b'"data":{"x":"\xff"}')
    assert b"\xff" in lines[3]
    (tmp_path / VERDICTS_FILE).write_bytes(b"\n".join(lines) + b"\n")
    assert ordered_verdicts(tmp_path) == verdicts[::-1]
