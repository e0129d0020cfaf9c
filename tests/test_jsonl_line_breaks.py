"""JSON Lines are split on "\\n" only: U+2028 / U+2029 (and U+0085) inside a JSON string are
valid JSON, and `json.dumps(..., ensure_ascii=False)` writes them raw, so every reader of a
.jsonl file in the project must keep such a record whole (`str.splitlines()` cuts it in two)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.datasets import json_objects, jsonl_lines, load_items
from harness.judges.replay_source import ReplaySource
from harness.models import DatasetSpec
from harness.store import load_run
from tests.importers.helpers import harness_cli, shared_data

BREAKS = "line\u2028separator, paragraph\u2029separator, next line\u0085end"


def test_jsonl_lines_keep_unicode_line_breaks_inside_strings() -> None:
    text = json.dumps({"a": BREAKS}, ensure_ascii=False) + "\n" + json.dumps({"a": 2}) + "\r\n"
    assert len(text.splitlines()) > 2  # what the readers used to do
    assert [row for _, row in json_objects(text, "x")] == [{"a": BREAKS}, {"a": 2}]
    assert jsonl_lines("") == [] and jsonl_lines("{}") == ["{}"]


def test_dataset_jsonl_with_unicode_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    rows = [{"id": "1", "instruction": f"q {BREAKS}", "answers": {"m": BREAKS, "n": "b"}},
            {"id": "2", "instruction": "q2", "answers": {"m": "c", "n": "d"}}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    items = load_items(DatasetSpec(path="data.jsonl"), tmp_path)
    assert [i.id for i in items] == ["1", "2"] and items[0].answers["m"] == BREAKS


def _arena_line(qid: str, score1: str, score2: str) -> str:
    games = [{"score": score1, "judgment": f"A is {BREAKS} [[{score1}]]"},
             {"score": score2, "judgment": f"B is {BREAKS} [[{score2}]]"}]
    return json.dumps({"question_id": qid, "model": "m", "judge": "j", "games": games}, ensure_ascii=False)


def test_imported_store_exports_and_replay_with_unicode_line_breaks(tmp_path: Path) -> None:
    """The import reads the file; aggregate re-reads store and export; report reads the export;
    replay reads the export: every one of them must keep the records whole."""
    source = tmp_path / "m.jsonl"
    source.write_text("\n".join(_arena_line(f"q{i}", "A>B", "B>A") for i in range(3)) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    result = harness_cli("import", "arena_hard", source, "--out", out, "--baseline", "base")
    assert result.returncode == 0, result.stderr
    assert "\u2028" in (out / "verdicts.jsonl").read_text(encoding="utf-8")  # written raw
    again = harness_cli("aggregate", out)
    assert again.returncode == 0, again.stderr
    assert len(load_run(out).verdicts) == 6
    assert len(ReplaySource.load(out).records) == 6


def test_labels_jsonl_and_csv_with_unicode_line_breaks(tmp_path: Path) -> None:
    rows = [{"item_id": f"i{k}", "model_a": "x", "model_b": "y", "winner": "model_a",
             "instruction": f"q{k} {BREAKS}", "answer_a": BREAKS, "answer_b": "short"} for k in range(2)]
    jsonl = tmp_path / "labels.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = harness_cli("import", "labels", jsonl, "--out", tmp_path / "a")
    assert result.returncode == 0, result.stderr
    csv_path = tmp_path / "labels.csv"
    header = list(rows[0])
    body = "".join(",".join('"' + str(r[k]).replace('"', '""') + '"' for k in header) + "\n" for r in rows)
    csv_path.write_text(",".join(header) + "\n" + body, encoding="utf-8")
    result = harness_cli("import", "labels", csv_path, "--out", tmp_path / "b")
    assert result.returncode == 0, result.stderr
    dataset = (tmp_path / "b" / "dataset.jsonl").read_text(encoding="utf-8")
    assert [json.loads(x)["answers"]["x"] for x in jsonl_lines(dataset)] == [BREAKS, BREAKS]


def test_real_arena_hard_answer_file_with_u2028() -> None:
    """ko-arena-hard's o4-mini-low answers hold U+2028 inside strings on 3 lines."""
    path = shared_data("arena_hard_ko", "model_answer", "o4-mini-low.jsonl")
    text = path.read_text(encoding="utf-8")
    assert "\u2028" in text
    rows = [row for _, row in json_objects(text, str(path))]
    assert len(rows) == text.count("\n") == 500


@pytest.mark.parametrize("name", ["store.jsonl", "verdicts.jsonl"])
def test_hand_checked_run_files_are_not_split(tmp_path: Path, name: str) -> None:
    source = tmp_path / "m.jsonl"
    source.write_text(_arena_line("q1", "A>>B", "B>A") + "\n", encoding="utf-8")
    out = tmp_path / "run"
    assert harness_cli("import", "arena_hard", source, "--out", out, "--baseline", "base").returncode == 0
    lines = (out / name).read_text(encoding="utf-8").split("\n")
    assert len([x for x in lines if x]) == 2 and all(json.loads(x) for x in lines if x)
