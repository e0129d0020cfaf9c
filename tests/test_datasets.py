"""harness.datasets: real JSONL, CSV and Parquet files in both layouts, and every input error."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.datasets import load_items
from harness.errors import BadInput
from harness.models import DatasetSpec

CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name a prime number."},
    {"role": "assistant", "content": "7"},
    {"role": "user", "content": "And an even one?"},
]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def load(tmp_path: Path, filename: str, **spec: Any):
    return load_items(DatasetSpec(path=filename, **spec), tmp_path)


def bad(tmp_path: Path, filename: str, **spec: Any) -> str:
    with pytest.raises(BadInput) as info:
        load(tmp_path, filename, **spec)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- wide layout ---------------------------------------------------------------------------------


def test_jsonl_wide_answers_object(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [
        {"id": "q1", "instruction": "Say hi", "answers": {"m1": "hi", "m2": "hello"}},
        {"id": "q2", "instruction": "Say bye", "answers": {"m1": "bye", "m2": ""}},
    ])
    items = load(tmp_path, "d.jsonl")
    assert [i.id for i in items] == ["q1", "q2"]
    assert items[0].answers == {"m1": "hi", "m2": "hello"}
    assert items[1].answers == {"m1": "bye", "m2": ""}  # an empty answer is still an answer
    assert items[0].instruction == "Say hi"
    assert [(m.role, m.content) for m in items[0].conversation] == [("user", "Say hi")]
    assert items[0].reference is None and items[0].category is None and items[0].metadata == {}


def test_jsonl_numeric_ids_become_strings(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [{"id": 7, "instruction": "x", "answers": {"m1": "a"}}])
    assert load(tmp_path, "d.jsonl")[0].id == "7"


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text(
        json.dumps({"id": "q1", "instruction": "x", "answers": {"m": "a"}}) + "\n\n   \n"
        + json.dumps({"id": "q2", "instruction": "y", "answers": {"m": "b"}}) + "\n",
        encoding="utf-8",
    )
    assert [i.id for i in load(tmp_path, "d.jsonl")] == ["q1", "q2"]


def test_csv_answer_columns(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", [
        {"id": "q1", "instruction": "Say hi", "answer:m1": "hi", "answer:m2": "hello, there"},
        {"id": "q2", "instruction": "Say bye", "answer:m1": "bye", "answer:m2": "see you\nlater"},
    ])
    items = load(tmp_path, "d.csv")
    assert [i.id for i in items] == ["q1", "q2"]
    assert items[0].answers == {"m1": "hi", "m2": "hello, there"}
    assert items[1].answers == {"m1": "bye", "m2": "see you\nlater"}
    assert items[1].instruction == "Say bye"
    assert items[0].metadata == {}  # answer:* columns are answers, not metadata


def test_a_csv_column_named_twice_is_bad_input(tmp_path: Path) -> None:
    """pandas renames the second `answer:base` to `answer:base.1`: a model nobody named, judged and ranked."""
    (tmp_path / "d.csv").write_text("id,instruction,answer:base,answer:base,answer:good\nq1,hi,a,b,c\n")
    with pytest.raises(BadInput, match="column 'answer:base' appears 2 times in the header"):
        load_items(DatasetSpec(path="d.csv"), tmp_path)


def test_parquet_wide_struct_with_a_missing_model(tmp_path: Path) -> None:
    """Parquet fills a model absent from one row's struct with null: that item has no answer of it."""
    pd.DataFrame([
        {"id": "q1", "instruction": "a", "answers": {"m1": "x1", "m2": "y1"}},
        {"id": "q2", "instruction": "b", "answers": {"m1": "x2"}},
    ]).to_parquet(tmp_path / "d.parquet")
    items = load(tmp_path, "d.parquet")
    assert items[0].answers == {"m1": "x1", "m2": "y1"}
    assert items[1].answers == {"m1": "x2"}


# -- long layout ---------------------------------------------------------------------------------

LONG_ROWS = [
    {"id": "q1", "instruction": "Say hi", "model": "m1", "answer": "hi"},
    {"id": "q2", "instruction": "Say bye", "model": "m1", "answer": "bye"},
    {"id": "q1", "instruction": "Say hi", "model": "m2", "answer": "hello"},
    {"id": "q2", "instruction": "Say bye", "model": "m2", "answer": "goodbye"},
    {"id": "q1", "instruction": "Say hi", "model": "m3", "answer": "hey"},
]


def check_long(items: list) -> None:
    assert [i.id for i in items] == ["q1", "q2"]  # first-appearance order, rows merged per item
    assert items[0].answers == {"m1": "hi", "m2": "hello", "m3": "hey"}
    assert items[1].answers == {"m1": "bye", "m2": "goodbye"}
    assert items[0].instruction == "Say hi" and items[1].instruction == "Say bye"
    assert all(i.metadata == {} for i in items)  # model/answer are not metadata


def test_long_layout_jsonl(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", LONG_ROWS)
    check_long(load(tmp_path, "d.jsonl"))


def test_long_layout_csv(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", LONG_ROWS)
    check_long(load(tmp_path, "d.csv"))


def test_long_layout_parquet(tmp_path: Path) -> None:
    pd.DataFrame(LONG_ROWS).to_parquet(tmp_path / "d.parquet")
    check_long(load(tmp_path, "d.parquet"))


def test_long_layout_parquet_with_conversation(tmp_path: Path) -> None:
    rows = [{"id": "c1", "conversation": CONVERSATION, "model": m, "answer": a} for m, a in (("m1", "2"), ("m2", "4"))]
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    [item] = load(tmp_path, "d.parquet")
    assert [m.model_dump() for m in item.conversation] == CONVERSATION
    assert item.answers == {"m1": "2", "m2": "4"}


def test_custom_field_names(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [
        {"uid": "a", "prompt": "P", "system": "s1", "output": "o1", "gold": "G"},
        {"uid": "a", "prompt": "P", "system": "s2", "output": "o2", "gold": "G"},
    ])
    [item] = load(tmp_path, "d.jsonl", id_field="uid", instruction_field="prompt", model_field="system",
                  answer_field="output", reference_field="gold")
    assert item.id == "a" and item.instruction == "P" and item.reference == "G"
    assert item.answers == {"s1": "o1", "s2": "o2"}


def test_explicit_format_overrides_extension(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.txt", [{"id": "q1", "instruction": "x", "answers": {"m": "a"}}])
    assert load(tmp_path, "d.txt", format="jsonl")[0].answers == {"m": "a"}


# -- multi-turn ----------------------------------------------------------------------------------


def test_conversation_list_in_jsonl(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [{"id": "c1", "conversation": CONVERSATION, "answers": {"m1": "2", "m2": "4"}}])
    [item] = load(tmp_path, "d.jsonl")
    assert [m.model_dump() for m in item.conversation] == CONVERSATION
    assert item.instruction == CONVERSATION[-1]["content"]


def test_conversation_json_string_in_csv(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", [{"id": "c1", "conversation": json.dumps(CONVERSATION), "answer:m1": "2"}])
    [item] = load(tmp_path, "d.csv")
    assert [m.model_dump() for m in item.conversation] == CONVERSATION
    assert item.instruction == "And an even one?"


def test_conversation_wins_over_instruction(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [
        {"id": "c1", "instruction": "ignored?", "conversation": CONVERSATION, "answers": {"m1": "2"}},
    ])
    [item] = load(tmp_path, "d.jsonl")
    assert len(item.conversation) == len(CONVERSATION)
    assert item.instruction == CONVERSATION[-1]["content"]


# -- reference, category, metadata, model selection ----------------------------------------------


def test_reference_category_metadata(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [
        {"id": "q1", "instruction": "2+2?", "reference": "4", "category": "math", "source": "gsm",
         "difficulty": 3, "tags": ["a", "b"], "empty": "", "none": None, "answers": {"m1": "4"}},
        {"id": "q2", "instruction": "hi", "answers": {"m1": "hello"}},
    ])
    first, second = load(tmp_path, "d.jsonl")
    assert first.reference == "4" and first.category == "math"
    assert first.metadata == {"source": "gsm", "difficulty": 3, "tags": ["a", "b"]}
    assert second.reference is None and second.category is None and second.metadata == {}


def test_reference_category_in_csv(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", [
        {"id": "q1", "instruction": "2+2?", "reference": "4", "category": "math", "note": "n", "answer:m1": "4"},
        {"id": "q2", "instruction": "hi", "reference": "", "category": "", "note": "", "answer:m1": "hello"},
    ])
    first, second = load(tmp_path, "d.csv")
    assert (first.reference, first.category, first.metadata) == ("4", "math", {"note": "n"})
    assert (second.reference, second.category, second.metadata) == (None, None, {})


def test_models_selection_keeps_only_those_in_that_order(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [
        {"id": "q1", "instruction": "x", "answers": {"m1": "a", "m2": "b", "m3": "c"}},
        {"id": "q2", "instruction": "y", "answers": {"m1": "d", "m2": "e", "m3": "f"}},
    ])
    items = load(tmp_path, "d.jsonl", models=["m3", "m1"])
    assert [list(i.answers) for i in items] == [["m3", "m1"], ["m3", "m1"]]
    assert items[1].answers == {"m3": "f", "m1": "d"}


def test_models_selection_missing_model(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [
        {"id": "q1", "instruction": "x", "answers": {"m1": "a", "m2": "b"}},
        {"id": "q2", "instruction": "y", "answers": {"m1": "d"}},
    ])
    message = bad(tmp_path, "d.jsonl", models=["m1", "m2"])
    assert "d.jsonl" in message and "'q2'" in message and "'m2'" in message and "dataset.models" in message


# -- errors --------------------------------------------------------------------------------------


def test_bad_json_line_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text(
        json.dumps({"id": "q1", "instruction": "x", "answers": {"m": "a"}}) + "\n"
        + json.dumps({"id": "q2", "instruction": "y", "answers": {"m": "b"}}) + "\n"
        + '{"id": "q3", "instruction": \n',
        encoding="utf-8",
    )
    message = bad(tmp_path, "d.jsonl")
    assert message.startswith("d.jsonl:3:") and "JSON" in message


def test_json_line_that_is_not_an_object(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [{"id": "q1", "instruction": "x", "answers": {"m": "a"}}, [1, 2]])
    message = bad(tmp_path, "d.jsonl")
    assert message.startswith("d.jsonl:2:") and "object" in message


def test_missing_id(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [
        {"id": "q1", "instruction": "x", "answers": {"m": "a"}},
        {"instruction": "y", "answers": {"m": "b"}},
    ])
    message = bad(tmp_path, "d.jsonl")
    assert "d.jsonl row 2" in message and "'id'" in message


def test_missing_id_in_csv(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", [{"id": "", "instruction": "x", "answer:m": "a"}])
    message = bad(tmp_path, "d.csv")
    assert "d.csv row 1" in message and "'id'" in message


def test_duplicate_id_in_wide_layout(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [
        {"id": "q1", "instruction": "x", "answers": {"m": "a"}},
        {"id": "q2", "instruction": "y", "answers": {"m": "b"}},
        {"id": "q1", "instruction": "z", "answers": {"n": "c"}},
    ])
    message = bad(tmp_path, "d.jsonl")
    assert "d.jsonl row 3" in message and "duplicate" in message and "'q1'" in message


def test_two_answers_of_one_model_in_long_layout(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", [
        {"id": "q1", "instruction": "x", "model": "m1", "answer": "a"},
        {"id": "q1", "instruction": "x", "model": "m2", "answer": "b"},
        {"id": "q1", "instruction": "x", "model": "m1", "answer": "c"},
    ])
    message = bad(tmp_path, "d.csv")
    assert "d.csv row 3" in message and "'q1'" in message and "'m1'" in message


def test_long_layout_missing_model(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [
        {"id": "q1", "instruction": "x", "model": "m1", "answer": "a"},
        {"id": "q1", "instruction": "x", "model": "", "answer": "b"},
    ])
    message = bad(tmp_path, "d.jsonl")
    assert "d.jsonl row 2" in message and "'model'" in message


def test_conversation_must_end_with_user_turn(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [
        {"id": "c1", "conversation": CONVERSATION[:3], "answers": {"m": "a"}},
    ])
    message = bad(tmp_path, "d.jsonl")
    assert "d.jsonl row 1" in message and "'conversation'" in message and "user turn" in message


def test_conversation_bad_json_string_in_csv(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", [{"id": "c1", "conversation": '[{"role": "user",', "answer:m": "a"}])
    message = bad(tmp_path, "d.csv")
    assert "d.csv row 1" in message and "'conversation'" in message and "JSON" in message


def test_conversation_with_bad_turns(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [
        {"id": "c1", "conversation": [{"role": "wizard", "content": "hi"}], "answers": {"m": "a"}},
    ])
    message = bad(tmp_path, "d.jsonl")
    assert "d.jsonl row 1" in message and "'conversation'" in message


def test_missing_instruction_and_conversation(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [{"id": "q1", "answers": {"m": "a"}}])
    message = bad(tmp_path, "d.jsonl")
    assert "d.jsonl row 1" in message and "'instruction'" in message


def test_no_answers(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [
        {"id": "q1", "instruction": "x", "answers": {"m": "a"}},
        {"id": "q2", "instruction": "y"},
    ])
    message = bad(tmp_path, "d.jsonl")
    assert "d.jsonl row 2" in message and "no answers" in message


def test_empty_answers_object(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [{"id": "q1", "instruction": "x", "answers": {}}])
    assert "no answers" in bad(tmp_path, "d.jsonl")


def test_answer_that_is_not_a_string(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [{"id": "q1", "instruction": "x", "answers": {"m1": 42}}])
    message = bad(tmp_path, "d.jsonl")
    assert "d.jsonl row 1" in message and "answers.m1" in message


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text("\n", encoding="utf-8")
    message = bad(tmp_path, "d.jsonl")
    assert "d.jsonl" in message and "no rows" in message


def test_unknown_extension(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.txt", [{"id": "q1", "instruction": "x", "answers": {"m": "a"}}])
    message = bad(tmp_path, "d.txt")
    assert "d.txt" in message and "dataset.format" in message


def test_missing_file(tmp_path: Path) -> None:
    message = bad(tmp_path, "nowhere.jsonl")
    assert "nowhere.jsonl" in message and "dataset.path" in message


def test_unreadable_parquet(tmp_path: Path) -> None:
    (tmp_path / "d.parquet").write_bytes(b"this is not parquet at all")
    message = bad(tmp_path, "d.parquet")
    assert "d.parquet" in message and "parquet" in message
