"""harness.store: the crash-safe verdict store, its lock, the manifest and the exports, on real
files, with real second processes (one holding the lock, one SIGKILLed mid-append)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import BadInput
from harness.models import Verdict
from harness.store import (
    LOCK_FILE,
    MANIFEST_FILE,
    RANKING_FILE,
    SCORES_FILE,
    STORE_FILE,
    VERDICTS_FILE,
    RunDirectory,
    frame_to_csv,
    read_store,
)


def verdict(key: str, status: str = "ok", **data: object) -> Verdict:
    return Verdict(
        request_id=f"req-{key}", request_key=key, item_id=f"item-{key}", judge="local", status=status,
        data=data or {"level": "A>B"}, output="[[2]]" if status != "failed" else None,
        error="timeout" if status == "failed" else None, tokens_in=11, tokens_out=3,
    )


def store_lines(directory: Path) -> list[str]:
    return (directory / STORE_FILE).read_text(encoding="utf-8").splitlines()


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HARNESS_DEBUG", None)
    return env


# -- records -------------------------------------------------------------------------------------


def test_append_and_reopen_reads_back(tmp_path: Path) -> None:
    written = [verdict("k1"), verdict("k2", "invalid"), verdict("k3", "failed"),
               verdict("k4", level="B>>A", probs={"A>B": 0.25, "B>>A": 0.75}, note="ünïcode ✓")]
    with RunDirectory(tmp_path / "run") as store:
        for v in written:
            store.append(v)
        assert store.get("k2") == written[1]  # visible before close
    assert len(store_lines(tmp_path / "run")) == 4
    with RunDirectory(tmp_path / "run") as store:
        for v in written:
            assert store.get(v.request_key) == v
        assert store.get("never") is None
        assert store.verdicts_for(["k4", "never", "k1"]) == [written[3], written[0]]
    assert read_store(tmp_path / "run" / STORE_FILE) == {v.request_key: v for v in written}


def test_each_record_is_one_json_line(tmp_path: Path) -> None:
    with RunDirectory(tmp_path) as store:
        store.append(verdict("a", note="line one\nline two"))
        store.append(verdict("b"))
    lines = store_lines(tmp_path)
    assert len(lines) == 2
    assert [json.loads(line)["request_key"] for line in lines] == ["a", "b"]
    assert json.loads(lines[0])["data"]["note"] == "line one\nline two"


def test_last_record_of_a_key_wins(tmp_path: Path) -> None:
    failed, ok = verdict("k", "failed"), verdict("k", "ok", level="A=B")
    with RunDirectory(tmp_path) as store:
        store.append(failed)
        assert not store.is_done("k")
        store.append(ok)
        assert store.get("k") == ok and store.is_done("k")
    assert len(store_lines(tmp_path)) == 2  # append-only: the failure stays on disk
    with RunDirectory(tmp_path) as store:
        assert store.get("k") == ok
        assert store.verdicts_for(["k"]) == [ok]


def test_indexes_by_judge_as_one_dict_per_judge_would_whatever_judges_come(tmp_path: Path) -> None:
    """One judge's records are indexed by key alone until a second judge's arrive; every answer
    is still the one of a plain (judge, key) index, in first-stored order."""
    def by(judge: str, key: str, level: str) -> Verdict:
        return verdict(key, level=level).model_copy(update={"judge": judge})

    sequence = [by("one", "k1", "A>B"), by("one", "k2", "A=B"), by("one", "k1", "B>A"),  # k1 again
                by("two", "k2", "A>>B"), by("two", "k3", "B>>A"), by("one", "k3", "A=B"), by("two", "k1", "A>B")]
    for stored in range(1, len(sequence) + 1):
        folder = tmp_path / f"first-{stored}"
        expected_by_judge: dict[tuple[str, str], Verdict] = {}
        expected: dict[str, Verdict] = {}
        for record in sequence[:stored]:
            expected_by_judge[(record.judge, record.request_key)] = record
            expected[record.request_key] = record
        with RunDirectory(folder) as store:
            for record in sequence[:stored]:
                store.append(record)
            assert list(store.latest(by_judge=True).items()) == list(expected_by_judge.items())
        with RunDirectory(folder) as store:  # read back from the file, and as appended above
            assert list(store.latest(by_judge=True).items()) == list(expected_by_judge.items())
            assert list(store.latest().items()) == list(expected.items())
            for judge in ("one", "two", "three"):
                for key in ("k1", "k2", "k3", "k4"):
                    assert store.get(key, judge) == expected_by_judge.get((judge, key)), (stored, judge, key)
                wanted = [expected_by_judge[(judge, k)] for k in ("k3", "k1", "k4") if (judge, k) in expected_by_judge]
                assert store.verdicts_for(["k3", "k1", "k4"], judge) == wanted
            assert store.verdicts_for(["k3", "k1"]) == [expected[k] for k in ("k3", "k1") if k in expected]


def test_is_done_for_ok_and_invalid_not_failed(tmp_path: Path) -> None:
    with RunDirectory(tmp_path) as store:
        store.append(verdict("ok", "ok"))
        store.append(verdict("invalid", "invalid"))
        store.append(verdict("failed", "failed"))
    with RunDirectory(tmp_path) as store:
        assert store.is_done("ok") and store.is_done("invalid")
        assert not store.is_done("failed")
        assert not store.is_done("never-called")


def test_torn_last_line_is_ignored_and_cut(tmp_path: Path) -> None:
    with RunDirectory(tmp_path) as store:
        store.append(verdict("k1"))
        store.append(verdict("k2"))
    path = tmp_path / STORE_FILE
    intact = path.read_bytes()
    full_line = json.dumps(verdict("k3").model_dump(mode="json")).encode()
    with path.open("ab") as handle:
        handle.write(full_line[: len(full_line) // 2])  # killed mid-write: no newline
    assert set(read_store(path)) == {"k1", "k2"}  # readers skip the torn line
    with RunDirectory(tmp_path) as store:
        assert store.get("k3") is None and store.is_done("k1") and store.is_done("k2")
        assert path.read_bytes() == intact  # the torn bytes are cut on reopen
        store.append(verdict("k4"))
    lines = store_lines(tmp_path)
    assert [json.loads(line)["request_key"] for line in lines] == ["k1", "k2", "k4"]
    with RunDirectory(tmp_path) as store:
        assert {k for k in ("k1", "k2", "k3", "k4") if store.is_done(k)} == {"k1", "k2", "k4"}


def test_torn_only_line(tmp_path: Path) -> None:
    (tmp_path / STORE_FILE).write_bytes(b'{"request_id": "r", "requ')
    with RunDirectory(tmp_path) as store:
        store.append(verdict("k1"))
    assert [json.loads(line)["request_key"] for line in store_lines(tmp_path)] == ["k1"]


def test_corrupt_complete_line_is_bad_input(tmp_path: Path) -> None:
    with RunDirectory(tmp_path) as store:
        store.append(verdict("k1"))
    with (tmp_path / STORE_FILE).open("a", encoding="utf-8") as handle:
        handle.write("this is not a verdict\n")
        handle.write(json.dumps(verdict("k2").model_dump(mode="json")) + "\n")
    with pytest.raises(BadInput) as info, RunDirectory(tmp_path):
        pass
    assert f"{STORE_FILE}:2" in str(info.value) and "corrupt" in str(info.value)
    # the failed open released its lock: once the file is repaired, the run opens again
    lines = store_lines(tmp_path)
    (tmp_path / STORE_FILE).write_text(lines[0] + "\n" + lines[2] + "\n", encoding="utf-8")
    with RunDirectory(tmp_path) as store:
        assert store.is_done("k1") and store.is_done("k2")


def test_valid_json_that_is_not_a_verdict(tmp_path: Path) -> None:
    (tmp_path / STORE_FILE).write_text('{"request_key": "k"}\n', encoding="utf-8")
    with pytest.raises(BadInput, match=rf"{STORE_FILE}:1"):
        RunDirectory(tmp_path).open()


# -- the lock ------------------------------------------------------------------------------------


def test_second_open_in_same_process_is_refused(tmp_path: Path) -> None:
    with RunDirectory(tmp_path) as first:
        with pytest.raises(BadInput) as info:
            RunDirectory(tmp_path).open()
        assert str(tmp_path) in str(info.value) and "another harness process" in str(info.value)
        first.append(verdict("k1"))  # the holder is unaffected
    with RunDirectory(tmp_path) as again:  # released on close
        assert again.is_done("k1")
    assert (tmp_path / LOCK_FILE).exists()


def test_lock_held_by_another_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys
            from harness.store import RunDirectory
            with RunDirectory(sys.argv[1]):
                print("locked", flush=True)
                sys.stdin.readline()
            print("released", flush=True)
        """), str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env(),
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(BadInput, match="another harness process"):
            RunDirectory(tmp_path).open()
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        assert holder.wait(timeout=30) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    with RunDirectory(tmp_path) as store:
        assert store.get("anything") is None


def test_unusable_out_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(BadInput, match="--out"):
        RunDirectory(tmp_path / "file" / "run").open()


# -- SIGKILL -------------------------------------------------------------------------------------

WRITER = """
import sys
from harness.models import Verdict
from harness.store import RunDirectory

with RunDirectory(sys.argv[1]) as store:
    for i in range(100000):
        store.append(Verdict(request_id=f"r{i}", request_key=f"k{i}", item_id=f"i{i}", judge="local",
                             status="ok", data={"level": "A>B", "pad": "x" * (i % 700)}, output="[[2]]"))
        print(i + 1, flush=True)
"""


def test_sigkill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              env=child_env())
    acknowledged = 0
    try:
        while acknowledged < 25:
            line = writer.stdout.readline()
            assert line, "the writer stopped before being killed"
            acknowledged = int(line)
        os.kill(writer.pid, signal.SIGKILL)
        assert writer.wait(timeout=30) == -signal.SIGKILL
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    with RunDirectory(tmp_path) as store:  # the kernel dropped the dead writer's lock
        done = [i for i in range(acknowledged + 10000) if store.is_done(f"k{i}")]
        assert len(done) >= acknowledged
        assert done == list(range(len(done)))  # a prefix: nothing skipped, nothing invented
        assert store.get(f"k{acknowledged - 1}").data["pad"] == "x" * ((acknowledged - 1) % 700)
        store.append(verdict("after"))
    lines = store_lines(tmp_path)
    assert [json.loads(line)["request_key"] for line in lines] == [f"k{i}" for i in done] + ["after"]


# -- manifest and exports ------------------------------------------------------------------------


def test_manifest_round_trip(tmp_path: Path) -> None:
    manifest = {"task": {"name": "demo", "options": {"length_k": 500}}, "counts": {"ok": 3, "failed": 1},
                "ratio": 0.125, "models": ["b", "a"], "note": "ünïcode", "nothing": None}
    with RunDirectory(tmp_path) as store:
        assert store.read_manifest() is None
        store.write_manifest(manifest)
        assert store.read_manifest() == manifest
        store.write_manifest({**manifest, "status": "finished", "where": tmp_path})
    with RunDirectory(tmp_path) as store:
        again = store.read_manifest()
    assert again == {**manifest, "status": "finished", "where": str(tmp_path)}
    assert json.loads((tmp_path / MANIFEST_FILE).read_text(encoding="utf-8")) == again
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_invalid_manifest_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    with RunDirectory(tmp_path) as store, pytest.raises(BadInput, match=MANIFEST_FILE):
        store.read_manifest()


def test_exports_are_written_whole_and_replaced_atomically(tmp_path: Path) -> None:
    first = [verdict("k1"), verdict("k2", "invalid")]
    scores = pd.DataFrame({"model": ["a", "b"], "score": [1 / 3, -2.5], "n": [4, 4]})
    ranking = pd.DataFrame({"model": ["a", "b"], "rank": [1, 2], "score": [1012.345678912, 987.6543]})
    with RunDirectory(tmp_path) as store:
        store.write_exports(first, scores, ranking)
        old_inode = (tmp_path / VERDICTS_FILE).stat().st_ino
        reader = (tmp_path / VERDICTS_FILE).open(encoding="utf-8")  # someone reading the old export
        try:
            second = [*first, verdict("k3")]
            store.write_exports(second, scores, ranking)
            # the reader still sees the complete old file; the path now holds the complete new one
            assert [json.loads(line)["request_key"] for line in reader] == ["k1", "k2"]
        finally:
            reader.close()
    assert (tmp_path / VERDICTS_FILE).stat().st_ino != old_inode  # replaced by rename, not rewritten
    exported = [Verdict.model_validate_json(line) for line in
                (tmp_path / VERDICTS_FILE).read_text(encoding="utf-8").splitlines()]
    assert exported == second
    read_scores = pd.read_csv(tmp_path / SCORES_FILE)
    assert list(read_scores["model"]) == ["a", "b"] and list(read_scores["n"]) == [4, 4]
    assert read_scores["score"].tolist() == pytest.approx([1 / 3, -2.5], abs=1e-6)
    assert (tmp_path / RANKING_FILE).read_text(encoding="utf-8") == frame_to_csv(ranking)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_frame_to_csv_fixed_six_decimals() -> None:
    values = [1 / 3, 2.0, 1e-7, -1234.56789012, 123456789.0]
    frame = pd.DataFrame({"model": ["a", "b", "c", "d", "e"], "score": values, "n": [1, 2, 3, 4, 5],
                          "ci": [0.5, math.nan, 0.25, 0.125, 1.0]})
    text = frame_to_csv(frame)
    lines = text.split("\n")
    assert lines[0] == "model,score,n,ci"
    assert lines[-1] == "" and "\r" not in text  # \n line ends, one at the end
    for line, model, value, n, ci in zip(lines[1:-1], frame["model"], values, frame["n"], frame["ci"]):
        expected_ci = "" if math.isnan(ci) else format(ci, ".6f")
        assert line == f"{model},{format(value, '.6f')},{n},{expected_ci}"
    # identical numbers, identical bytes
    assert frame_to_csv(frame.copy()) == text


def write_store_as_import(directory: Path, verdicts: list[Verdict]) -> None:
    from harness.store import export_lines

    directory.mkdir(parents=True, exist_ok=True)
    (directory / STORE_FILE).write_text(export_lines(verdicts), encoding="utf-8")


def test_written_verdicts_are_taken_as_read_and_exported_by_copy(tmp_path: Path) -> None:
    """An import hands the verdicts it just wrote: they are the store's records without a
    second read, and their export is the store's bytes, exactly what encoding them gives."""
    verdicts = [verdict(f"k{i}", model_a=f"m{i % 3}", model_b="base", level="A>B") for i in range(5)]
    write_store_as_import(tmp_path / "a", verdicts)
    with RunDirectory(tmp_path / "a", written=verdicts) as store:
        assert list(store.latest().values()) == verdicts
        assert all(a is b for a, b in zip(store.latest().values(), verdicts, strict=True))
        store.write_exports(verdicts, pd.DataFrame({"x": [1.0]}), pd.DataFrame({"x": [1.0]}))
    write_store_as_import(tmp_path / "b", verdicts)
    with RunDirectory(tmp_path / "b") as store:  # the ordinary path: read, then encoded
        store.write_exports(list(store.latest().values()), pd.DataFrame({"x": [1.0]}), pd.DataFrame({"x": [1.0]}))
    copied = (tmp_path / "a" / VERDICTS_FILE).read_bytes()
    assert copied == (tmp_path / "b" / VERDICTS_FILE).read_bytes() == (tmp_path / "a" / STORE_FILE).read_bytes()


def test_export_of_other_verdicts_than_the_written_ones_is_encoded(tmp_path: Path) -> None:
    """A subset, another order, or a store appended to since: the copy would be wrong."""
    verdicts = [verdict(f"k{i}", level="A>B") for i in range(4)]
    empty = pd.DataFrame({"x": [1.0]})
    write_store_as_import(tmp_path, verdicts)
    with RunDirectory(tmp_path, written=verdicts) as store:
        store.write_exports(verdicts[:2], empty, empty)
        assert [json.loads(line)["request_key"] for line in
                (tmp_path / VERDICTS_FILE).read_text().splitlines()] == ["k0", "k1"]
        store.write_exports(verdicts[::-1], empty, empty)
        assert [json.loads(line)["request_key"] for line in
                (tmp_path / VERDICTS_FILE).read_text().splitlines()] == ["k3", "k2", "k1", "k0"]
        store.append(verdict("k9", level="B>A"))
        store.write_exports(verdicts, empty, empty)  # the store now holds k9 too: not copied
        assert "k9" not in (tmp_path / VERDICTS_FILE).read_text()
        assert len((tmp_path / VERDICTS_FILE).read_text().splitlines()) == 4


def test_stored_verdicts_share_their_names_and_fields_set(tmp_path: Path) -> None:
    """A read store's verdicts repeat model names and the fields they were given on every line:
    they are kept once (half the memory), and the verdicts are unchanged."""
    verdicts = [verdict(f"k{i}", model_a="model-a", model_b="model-b", level="A>B") for i in range(3)]
    write_store_as_import(tmp_path, verdicts)
    read = list(read_store(tmp_path / STORE_FILE).values())
    assert read == verdicts
    assert read[0].data["model_a"] is read[2].data["model_a"]
    assert read[0].model_fields_set is read[1].model_fields_set
    copy = read[0].model_copy(update={"status": "invalid"})  # pydantic copies the set before adding to it
    assert copy.status == "invalid" and read[1].status == "ok"
    assert read[1].model_fields_set == set(Verdict.model_fields)


def test_an_import_aggregated_again_exports_its_store_by_copy_only_while_unchanged(tmp_path: Path) -> None:
    """When the previous verdicts.jsonl is the store byte for byte, the records in store order are
    the verdicts, and their export is a copy; a superseded record or a different export is read
    and encoded as before."""
    verdicts = [verdict(f"k{i}", level="A>B") for i in range(3)]
    write_store_as_import(tmp_path, verdicts)
    (tmp_path / VERDICTS_FILE).write_bytes((tmp_path / STORE_FILE).read_bytes())
    with RunDirectory(tmp_path) as store:
        adopted = store.exported_as_stored()
        assert adopted == verdicts
    (tmp_path / VERDICTS_FILE).write_bytes((tmp_path / STORE_FILE).read_bytes()[:-5] + b"x}}\n\n")
    with RunDirectory(tmp_path) as store:
        assert store.exported_as_stored() is None  # same size, other bytes
    (tmp_path / VERDICTS_FILE).write_bytes((tmp_path / STORE_FILE).read_bytes())
    with RunDirectory(tmp_path) as store:
        store.append(verdict("k1", level="B>A"))  # supersedes k1: the store is no export any more
    (tmp_path / VERDICTS_FILE).write_bytes((tmp_path / STORE_FILE).read_bytes())
    with RunDirectory(tmp_path) as store:
        assert store.exported_as_stored() is None


def test_aggregating_an_import_again_rewrites_the_same_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`harness aggregate` of an import (its export copied from the store) gives the files the
    import gave, and after a store change the encoded export holds the change."""
    from harness.cli import main

    files = []
    for m, model in enumerate(("model-x", "model-y")):
        rows = [{"instruction": f"Say {i}.", "output_1": "b" * (20 + i), "generator_1": "base",
                 "output_2": "m" * (10 + 3 * i + m), "generator_2": model, "preference": 1.0 + (i * (m + 2) % 7) / 6}
                for i in range(30)]
        (tmp_path / model).mkdir()
        files.append(tmp_path / model / "annotations.json")
        files[-1].write_text(json.dumps(rows), encoding="utf-8")
    run = tmp_path / "run"
    assert main(["import", "alpaca_eval", *map(str, files), "--out", str(run)]) == 0
    before = {name: (run / name).read_bytes() for name in (VERDICTS_FILE, SCORES_FILE, RANKING_FILE)}
    assert before[VERDICTS_FILE] == (run / STORE_FILE).read_bytes()
    assert main(["aggregate", str(run)]) == 0
    assert {name: (run / name).read_bytes() for name in before} == before
    first = json.loads((run / STORE_FILE).read_text().splitlines()[0])
    first["data"]["level"] = "A=B" if first["data"]["level"] != "A=B" else "A>B"
    with (run / STORE_FILE).open("a") as handle:  # a later record of the first request supersedes it
        handle.write(json.dumps(first) + "\n")
    main(["aggregate", str(run)])
    exported = [json.loads(line) for line in (run / VERDICTS_FILE).read_text().splitlines()]
    assert len(exported) == len(before[VERDICTS_FILE].splitlines())
    assert exported[0]["data"]["level"] == first["data"]["level"]
    capsys.readouterr()


def test_an_exported_file_is_read_line_by_line_as_its_bytes_say(tmp_path: Path) -> None:
    """verdicts.jsonl is read line by line as bytes: a line break JSON allows raw inside a string
    (U+2028) stays inside its record, NaN (which only the standard library reads) still reads,
    and a byte that is not UTF-8 on a later line is named by its offset in the file."""
    from harness.store import load_run

    (tmp_path / MANIFEST_FILE).write_text("{}", encoding="utf-8")
    first = json.dumps(verdict("a", note="one\u2028two").model_dump(mode="json"), ensure_ascii=False)
    second = json.dumps(verdict("b", score=math.nan).model_dump(mode="json"))
    (tmp_path / VERDICTS_FILE).write_text(first + "\n" + second + "\n", encoding="utf-8")
    frame = load_run(tmp_path).verdicts
    assert frame["request_key"].tolist() == ["a", "b"]
    assert frame["note"].iloc[0] == "one\u2028two" and math.isnan(frame["score"].iloc[1])
    prefix = (first + "\n").encode("utf-8")
    (tmp_path / VERDICTS_FILE).write_bytes(prefix + b'{"request_id": "\xff"}\n')
    with pytest.raises(BadInput, match=rf"not UTF-8 text \(byte {len(prefix) + 16}\)"):
        load_run(tmp_path)


def test_an_export_is_streamed_in_chunks_to_the_same_bytes(tmp_path: Path) -> None:
    """verdicts.jsonl is written a few thousand lines at a time (half a gigabyte at a million
    verdicts was held whole, as text and as bytes): chunk boundaries change nothing."""
    import io

    from harness.store import export_lines, write_export

    verdicts = [verdict(f"k{i}", level="A>B", note="\u2028é" * i) for i in range(7)]
    for chunk in (1, 2, 3, 7, 100):
        handle = io.BytesIO()
        write_export(handle, verdicts, chunk=chunk)
        assert handle.getvalue() == export_lines(verdicts).encode("utf-8")


def test_a_large_store_shares_more_of_its_verdicts_texts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past THOROUGH_FROM_BYTES the judge, status, item id, probability levels and lengths of the
    records read are one object each; below it the lengths are the parser's own (cheaper to read)."""
    import harness.store as store_module

    with RunDirectory(tmp_path) as store:
        for key in ("a", "b"):
            store.append(verdict(key, len_a=1000 + 234, probs={"A>B": 0.5, "B>A": 0.5}).model_copy(
                update={"item_id": "item-shared"}))
    for threshold, shared in ((0, True), (1 << 40, False)):
        monkeypatch.setattr(store_module, "THOROUGH_FROM_BYTES", threshold)
        first, second = read_store(tmp_path / STORE_FILE).values()
        assert first == second.model_copy(update={"request_id": first.request_id, "request_key": first.request_key})
        same = [first.judge is second.judge, first.item_id is second.item_id, first.status is second.status,
                first.data["len_a"] is second.data["len_a"],
                next(iter(first.data["probs"])) is next(iter(second.data["probs"]))]
        # (pydantic's own cache of short strings may share the judge and item id either way, and
        # its parser's cache of keys the probability levels)
        assert all(same) if shared else not same[3], (threshold, same)
