"""harness aggregate keeps the previous export's verdict order (so an unchanged run reproduces its
files); checked on exports of thousands of lines, a panel, and exports with a line that is no record."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness.models import Verdict
from harness.running.recompute import ordered_verdicts
from harness.store import STORE_FILE, VERDICTS_FILE, export_lines, line_request_key, store_line

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


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", "NaN", '{"request_key": [1]}'])
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


@pytest.mark.parametrize("request_id, request_key", [
    ("r1", "k1"), ('q"uote', "k2"), ("back\\slash", "k3"), ("ünï", "kü"), ("tab\t", "k5"), ("r6", 'k"6'),
    ("r7", "k\\7"), ('"', '"'),
])
def test_the_key_read_off_a_line_start_is_the_parsed_key_or_none(request_id: str, request_key: str) -> None:
    verdict = Verdict(request_id=request_id, request_key=request_key, item_id="i", judge="j", status="ok",
                      output='","request_key":"forged"')
    line = store_line(verdict).encode()
    got = line_request_key(line)
    escaped = any(c in '"\\\t' for c in request_id + request_key)
    assert got == (None if escaped else request_key)
    assert json.loads(line)["request_key"] == request_key


@pytest.mark.parametrize("line", [
    b'{"data": {}, "request_id": "r", "request_key": "k"}\n',  # another writer's key order and spacing
    b'{"request_id": "r", "request_key": "k"}\n',
    b'{"request_id":"r","request_key":"k","item_id":"i"\n',  # not a whole object
    b'{"request_id":"r","request_key":"k\xff"}\n',  # not UTF-8
    b'[{"request_id":"r","request_key":"k"}]\n',
])
def test_lines_in_another_form_are_left_to_the_full_parse(line: bytes) -> None:
    assert line_request_key(line) is None


def test_store_lines_begin_with_the_request_id_then_the_key() -> None:
    # line_request_key reads the key where store_line puts it: the model's first two fields
    assert list(Verdict.model_fields)[:2] == ["request_id", "request_key"]


def test_an_export_mixing_line_forms_gives_the_same_order(tmp_path: Path) -> None:
    verdicts = store(tmp_path, 40)
    ours = export_lines(verdicts[::-1]).splitlines()
    theirs = [json.dumps(json.loads(line), sort_keys=True) for line in ours]  # an older writer's lines
    mixed = [a if i % 3 else b for i, (a, b) in enumerate(zip(ours, theirs))]
    (tmp_path / VERDICTS_FILE).write_text("\n".join(mixed) + "\n")
    assert ordered_verdicts(tmp_path) == verdicts[::-1]


def test_a_panel_export_line_whose_judge_cannot_be_a_key_is_ignored(tmp_path: Path) -> None:
    verdicts = store(tmp_path, 20, judges=("j1", "j2"))
    lines = export_lines(verdicts[::-1]).splitlines()
    lines[5] = '{"judge": {}, "request_key": "k1"}'
    (tmp_path / VERDICTS_FILE).write_text("\n".join(lines) + "\n")
    assert ordered_verdicts(tmp_path, panel=True) == verdicts
