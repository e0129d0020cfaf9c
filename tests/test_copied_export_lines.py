"""A store whose lines are not store_line's (another tool's, or an older version's with sorted keys
and spaces) is exported by copying each line that is its verdict's own fields as they are, instead
of encoding a million verdicts again; a line the reading had to convert, one with NaN, and an
export of anything but the listed records are encoded as before. Either way every export line is
its verdict's record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.models import Verdict
from harness.running.recompute import ordered_verdicts
from harness.store import STORE_FILE, VERDICTS_FILE, RunDirectory, export_lines, store_line
from tests.test_adopted_export import EMPTY, aggregate_again  # what recompute does with a store


def verdict(i: int, **data: object) -> Verdict:
    return Verdict(request_id=f"req-{i}", request_key=f"k{i}", item_id=f"item-{i % 3}", judge="j", status="ok",
                   data={"level": "A>B", "model_a": "a", "model_b": f"b{i % 2}", "x": 1e-05, **data},
                   output="é \u2028 \"quoted\"")


def foreign(v: Verdict) -> str:
    """An older writer's line: keys sorted, spaces, non-ASCII escaped, 1e-05 as Python writes it."""
    return json.dumps(json.loads(store_line(v)), sort_keys=True) + "\n"


def records(path: Path) -> list[object]:
    return [json.loads(line) for line in path.read_bytes().split(b"\n")[:-1]]


@pytest.mark.parametrize("previous_export", [False, True])
def test_foreign_lines_are_copied_and_mean_what_encoding_them_would(tmp_path: Path, previous_export: bool) -> None:
    written = [verdict(i) for i in range(12)]
    lines = [foreign(v) for v in written]
    (tmp_path / STORE_FILE).write_text("".join(lines))
    if previous_export:  # a previous export in another order, of store_line's lines: not the stored bytes
        (tmp_path / VERDICTS_FILE).write_text(export_lines(written[::-1]))
    got = aggregate_again(tmp_path)
    order = written[::-1] if previous_export else written
    assert [v.request_key for v in got] == [v.request_key for v in order]
    exported = (tmp_path / VERDICTS_FILE).read_text()
    assert exported == "".join(foreign(v) for v in order)  # the stored lines, as they were
    assert exported != export_lines(order)
    assert records(tmp_path / VERDICTS_FILE) == [json.loads(store_line(v)) for v in order]
    # the next aggregation finds the export is the stored lines: kept (in another order than the
    # store's), or, being the store's bytes, copied whole
    before = (tmp_path / VERDICTS_FILE).stat().st_ino
    aggregate_again(tmp_path)
    assert ((tmp_path / VERDICTS_FILE).stat().st_ino == before) is previous_export
    assert (tmp_path / VERDICTS_FILE).read_text() == exported


def test_lines_the_reading_converted_or_with_nan_are_encoded(tmp_path: Path) -> None:
    written = [verdict(i) for i in range(6)]
    lines = [foreign(v) for v in written]
    lines[1] = lines[1].replace('"tokens_in": 0', '"tokens_in": 0.0')  # validated: becomes 0
    lines[2] = lines[2].replace('"error": null, ', "")  # a field left to its default
    lines[3] = lines[3].replace('"x": 1e-05', '"x": NaN')  # an export writes null
    lines[4] = lines[4].replace('"error": null', '"error": null, "extra": 1')  # a field the model drops
    (tmp_path / STORE_FILE).write_text("".join(lines))
    got = aggregate_again(tmp_path)
    exported = [line + "\n" for line in (tmp_path / VERDICTS_FILE).read_text().split("\n")[:-1]]
    assert len(exported) == 6  # (str.splitlines would also split at the answer's U+2028)
    assert exported[0] == lines[0] and exported[5] == lines[5]
    for i in (1, 2, 3, 4):
        assert exported[i] == store_line(got[i])
    assert json.loads(exported[3])["data"]["x"] is None
    assert "extra" not in exported[4] and '"tokens_in":0,' in exported[1]


def test_a_retried_call_exports_its_latest_line(tmp_path: Path) -> None:
    first = verdict(0, level="B>A")
    written = [verdict(i) for i in range(4)]
    (tmp_path / STORE_FILE).write_text(foreign(first) + "".join(foreign(v) for v in written))
    aggregate_again(tmp_path)
    assert (tmp_path / VERDICTS_FILE).read_text() == "".join(foreign(v) for v in written)


def test_other_verdicts_than_the_listed_ones_are_encoded(tmp_path: Path) -> None:
    written = [verdict(i) for i in range(5)]
    (tmp_path / STORE_FILE).write_text("".join(foreign(v) for v in written))
    with RunDirectory(tmp_path, index_lines=True) as store:
        verdicts = ordered_verdicts(tmp_path, records=store.latest(), store=store)
        store.write_exports(verdicts[1:], EMPTY, EMPTY)  # a subset (a category's): not the kept list
    assert (tmp_path / VERDICTS_FILE).read_text() == export_lines(written[1:])


def test_storing_after_the_read_encodes(tmp_path: Path) -> None:
    written = [verdict(i) for i in range(5)]
    (tmp_path / STORE_FILE).write_text("".join(foreign(v) for v in written))
    with RunDirectory(tmp_path, index_lines=True) as store:
        verdicts = ordered_verdicts(tmp_path, records=store.latest(), store=store)
        store.append(verdict(9))
        store.write_exports(verdicts, EMPTY, EMPTY)
    assert (tmp_path / VERDICTS_FILE).read_text() == export_lines(written)


def test_a_failed_adoption_hands_its_spans_to_the_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the previous export lists every record, in store_line's form: not the stored lines, so not
    # adopted; the same list is then copied from, and its records are matched to lines once
    written = [verdict(i) for i in range(8)]
    (tmp_path / STORE_FILE).write_text("".join(foreign(v) for v in written))
    (tmp_path / VERDICTS_FILE).write_text(export_lines(written[::-1]))
    calls: list[int] = []
    matched = RunDirectory._latest_lines

    def counted(self: RunDirectory, verdicts: list[Verdict]) -> object:
        calls.append(len(verdicts))
        return matched(self, verdicts)

    monkeypatch.setattr(RunDirectory, "_latest_lines", counted)
    aggregate_again(tmp_path)
    assert calls == [8]
    assert (tmp_path / VERDICTS_FILE).read_text() == "".join(foreign(v) for v in written[::-1])
