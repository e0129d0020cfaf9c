"""A run's verdicts.jsonl lists its requests in the design's order while the store holds them in
the order they were judged, with retried calls superseded: when every line of the previous export
is the stored line of one latest record, each once, `harness aggregate` keeps the file instead of
encoding a million verdicts again. Anything else is encoded as before."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pandas as pd

from harness.models import Verdict
from harness.running.recompute import ordered_verdicts
from harness.store import STORE_FILE, VERDICTS_FILE, RunDirectory, export_lines

EMPTY = pd.DataFrame({"x": [1.0]})


def verdict(key: str, status: str = "ok") -> Verdict:
    return Verdict(request_id=f"req-{key}", request_key=key, item_id=f"item-{key}", judge="j", status=status,
                   data={"level": "A>B", "model_a": "a", "model_b": "b"} if status == "ok" else {},
                   error="timeout" if status == "failed" else None)


def judged_run(directory: Path, n: int = 30) -> list[Verdict]:
    """A store in judging order with some calls failed first and retried, and the export a run
    writes: the latest records in the design's order (k0, k1, ...)."""
    design = [verdict(f"k{i}") for i in range(n)]
    judged = random.Random(5).sample(design, n)
    failed_first = [verdict(v.request_key, "failed") for v in judged[::7]]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / STORE_FILE).write_text(export_lines(failed_first + judged))
    (directory / VERDICTS_FILE).write_text(export_lines(design))
    return design


def aggregate_again(directory: Path) -> list[Verdict]:
    """What recompute does with the store: order the records, then write the export."""
    with RunDirectory(directory, index_lines=True) as store:
        verdicts = store.exported_as_stored() or ordered_verdicts(directory, records=store.latest(), store=store)
        store.write_exports(verdicts, EMPTY, EMPTY)
    return verdicts


def keys(path: Path) -> list[str]:
    return [json.loads(line)["request_key"] for line in path.read_text().splitlines()]


def test_an_export_of_the_stored_lines_in_another_order_is_kept(tmp_path: Path) -> None:
    design = judged_run(tmp_path)
    os.utime(tmp_path / VERDICTS_FILE, ns=(1, 1))  # written long before the store's last line
    before = (tmp_path / VERDICTS_FILE).stat()
    got = aggregate_again(tmp_path)
    assert [v.request_key for v in got] == [v.request_key for v in design]
    assert all(v.status == "ok" for v in got)  # the retried calls' latest records
    after = (tmp_path / VERDICTS_FILE).stat()
    assert after.st_ino == before.st_ino  # not replaced: an encoded export is a new file
    assert after.st_mtime_ns >= (tmp_path / STORE_FILE).stat().st_mtime_ns  # newer than the store, as rewritten
    assert (tmp_path / VERDICTS_FILE).read_text() == export_lines(design)


def test_a_kept_export_is_what_encoding_would_have_written(tmp_path: Path) -> None:
    judged_run(tmp_path / "kept")
    judged_run(tmp_path / "encoded")
    aggregate_again(tmp_path / "kept")
    with RunDirectory(tmp_path / "encoded") as store:  # no line index: encoded
        verdicts = ordered_verdicts(tmp_path / "encoded", records=store.latest())
        store.write_exports(verdicts, EMPTY, EMPTY)
    assert (tmp_path / "kept" / VERDICTS_FILE).read_bytes() == (tmp_path / "encoded" / VERDICTS_FILE).read_bytes()


def test_an_export_line_in_another_form_is_encoded_again(tmp_path: Path) -> None:
    design = judged_run(tmp_path)
    lines = export_lines(design).splitlines()
    lines[4] = json.dumps(json.loads(lines[4]), sort_keys=True)  # an older writer's line of the same record
    (tmp_path / VERDICTS_FILE).write_text("\n".join(lines) + "\n")
    before = (tmp_path / VERDICTS_FILE).stat().st_ino
    aggregate_again(tmp_path)
    assert (tmp_path / VERDICTS_FILE).stat().st_ino != before
    assert (tmp_path / VERDICTS_FILE).read_text() == export_lines(design)


def test_an_export_of_the_same_size_with_other_bytes_is_encoded_again(tmp_path: Path) -> None:
    # the sizes agree (checked first, before the export is read), so the lines themselves decide
    design = judged_run(tmp_path)
    text = export_lines(design)
    edited = text.replace('"level":"A>B"', '"level":"B>A"', 1)
    assert len(edited) == len(text) and edited != text
    (tmp_path / VERDICTS_FILE).write_text(edited)
    aggregate_again(tmp_path)
    assert (tmp_path / VERDICTS_FILE).read_text() == text


def test_an_export_of_a_superseded_record_is_encoded_again(tmp_path: Path) -> None:
    design = judged_run(tmp_path)
    stale = [verdict(v.request_key, "failed") if i == 3 else v for i, v in enumerate(design)]
    (tmp_path / VERDICTS_FILE).write_text(export_lines(stale))  # k3 as it was before its retry
    aggregate_again(tmp_path)
    assert (tmp_path / VERDICTS_FILE).read_text() == export_lines(design)


def test_an_export_with_a_stranger_or_without_a_record_is_encoded_again(tmp_path: Path) -> None:
    design = judged_run(tmp_path)
    (tmp_path / VERDICTS_FILE).write_text(export_lines([*design[:5], verdict("gone"), *design[5:]]))
    aggregate_again(tmp_path)
    assert keys(tmp_path / VERDICTS_FILE) == [v.request_key for v in design]
    (tmp_path / VERDICTS_FILE).write_text(export_lines(design[1:]))
    aggregate_again(tmp_path)
    assert keys(tmp_path / VERDICTS_FILE) == [v.request_key for v in design[1:]] + ["k0"]


def test_a_duplicated_export_line_neither_counts_twice_nor_is_kept(tmp_path: Path) -> None:
    design = judged_run(tmp_path)
    (tmp_path / VERDICTS_FILE).write_text(export_lines([*design[:-1], design[0]]))
    got = aggregate_again(tmp_path)
    assert [v.request_key for v in got] == [v.request_key for v in design]  # k0 once, then the unlisted k29
    assert (tmp_path / VERDICTS_FILE).read_text() == export_lines(design)


def test_storing_after_the_read_keeps_nothing_adopted(tmp_path: Path) -> None:
    design = judged_run(tmp_path, 5)
    with RunDirectory(tmp_path, index_lines=True) as store:
        store.append(verdict("k9"))
        listed = [store.latest()[v.request_key] for v in design]
        assert not store.adopt_export(listed)


def test_without_the_line_index_nothing_is_adopted(tmp_path: Path) -> None:
    design = judged_run(tmp_path, 5)
    with RunDirectory(tmp_path) as store:
        assert not store.adopt_export([store.latest()[v.request_key] for v in design])
    with RunDirectory(tmp_path, index_lines=True) as store:
        assert store.adopt_export([store.latest()[v.request_key] for v in design])


def test_an_empty_store_with_an_empty_export_is_no_verdicts_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / STORE_FILE).write_text("")
    (tmp_path / VERDICTS_FILE).write_text("")
    assert aggregate_again(tmp_path) == []
    with RunDirectory(tmp_path, index_lines=True) as store:
        assert not store.adopt_export([])  # an empty file cannot be mapped: nothing to keep


def test_verdicts_that_are_not_the_stored_records_are_not_adopted(tmp_path: Path) -> None:
    design = judged_run(tmp_path, 5)
    with RunDirectory(tmp_path, index_lines=True) as store:
        assert not store.adopt_export(design)  # equal records, other objects: not what the store read
