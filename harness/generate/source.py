"""The dataset a generation reads and the file it writes: same rows, one more model's answers.

`harness generate` takes a task file (its `dataset:` and column names) or a dataset file, reads
its rows as they are, and writes them back in the layout it found, with the new model's answer
added where `harness run` looks for answers: the `answers` object (or JSON column), an
`answer:MODEL` column, or, in the long layout, one more row per item. Everything else in a row is
kept as it was.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.datasets import ANSWER_COLUMN_PREFIX, GENERATION_FIELDS, _conversation, _detect_format, _read_rows
from harness.errors import BadInput
from harness.models import DatasetSpec, Message

#: Where the settings that produced a model's answers go, per row, beside the answers; and where
#: a multi-turn item's answer to every turn goes (the final one is also the answer).
SETTINGS_FIELD, TURNS_FIELD = GENERATION_FIELDS


@dataclass(frozen=True)
class SourceItem:
    """One item to answer: its id and its conversation (user turns answered one by one)."""

    id: str
    conversation: tuple[Message, ...]

    @property
    def user_turns(self) -> int:
        return sum(1 for m in self.conversation if m.role == "user")


@dataclass
class Source:
    path: Path
    format: str
    spec: DatasetSpec
    rows: list[dict[str, Any]]
    items: list[SourceItem]
    long_layout: bool

    def existing_answers(self, model: str) -> dict[str, str]:
        """The answers `model` already has in the file, by item id."""
        found: dict[str, str] = {}
        for row in self.rows:
            item_id = str(row.get(self.spec.id_field))
            if self.long_layout:
                if str(row.get(self.spec.model_field)) == model and isinstance(row.get(self.spec.answer_field), str):
                    found[item_id] = row[self.spec.answer_field]
                continue
            answers = _answers_object(row, self.spec)
            if isinstance(answers, dict) and isinstance(answers.get(model), str):
                found[item_id] = answers[model]
            elif isinstance(row.get(ANSWER_COLUMN_PREFIX + model), str) and row[ANSWER_COLUMN_PREFIX + model] != "":
                found[item_id] = row[ANSWER_COLUMN_PREFIX + model]
        return found


def read_source(target: str | Path) -> Source:
    """The rows of a task file's dataset (with its column names) or of a dataset file."""
    from harness.tasks import read_task_file

    path = Path(target)
    if path.suffix.lower() in (".yaml", ".yml"):
        task = read_task_file(path)
        spec = task.dataset
        data = (path.resolve().parent / spec.path).resolve()
    else:
        spec = DatasetSpec(path=str(path))
        data = path.resolve()
    if not data.is_file():
        raise BadInput(f"{target}: no such dataset file {str(data)!r}")
    fmt = _detect_format(spec, data)
    rows = [dict(row) for row in _read_rows(data, fmt)]
    if not rows:
        raise BadInput(f"{data.name}: the dataset has no rows")
    long_layout = spec.model_field in rows[0] and spec.answer_field in rows[0]
    items: dict[str, SourceItem] = {}
    for number, row in enumerate(rows, start=1):
        where = f"{data.name} row {number}"
        raw_id = row.get(spec.id_field)
        if raw_id is None or raw_id == "":
            raise BadInput(f"{where}: missing {spec.id_field!r}")
        item_id = str(raw_id)
        if item_id in items:
            if not long_layout:
                raise BadInput(f"{where}: duplicate id {item_id!r}")
            continue
        items[item_id] = SourceItem(item_id, _conversation(row, spec, where))
    return Source(path=data, format=fmt, spec=spec, rows=rows, items=list(items.values()), long_layout=long_layout)


def _answers_object(row: dict[str, Any], spec: DatasetSpec) -> Any:
    answers = row.get(spec.answers_field)
    if isinstance(answers, str) and answers.strip().startswith("{"):
        try:
            return json.loads(answers)
        except json.JSONDecodeError:
            return None
    return answers


def merged_rows(source: Source, model: str, turns: dict[str, list[str]], settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The source rows with `model`'s answers added in the source's own layout (replacing any
    answers of `model` already there: the caller decides whether that is allowed). Every row is
    kept; an item without an entry in `turns` (beyond `--limit`) gets no answer of `model`."""
    spec = source.spec
    csv = source.format == "csv"

    def annotate(row: dict[str, Any], item_id: str) -> None:
        answers = turns[item_id]
        if len(answers) > 1:
            row[TURNS_FIELD + (f":{model}" if csv else "")] = (
                json.dumps(answers, ensure_ascii=False) if csv else {**(row.get(TURNS_FIELD) or {}), model: answers})
        if csv:
            row[f"{SETTINGS_FIELD}:{model}"] = json.dumps(settings, ensure_ascii=False, sort_keys=True)
        else:
            row[SETTINGS_FIELD] = {**(row.get(SETTINGS_FIELD) or {}), model: settings}

    if source.long_layout:
        out: list[dict[str, Any]] = []
        first: dict[str, dict[str, Any]] = {}
        for row in source.rows:
            item_id = str(row[spec.id_field])
            first.setdefault(item_id, row)
            if str(row.get(spec.model_field)) != model:
                out.append(dict(row))
        for item in source.items:
            if item.id not in turns:
                continue
            row = {k: v for k, v in first[item.id].items() if k not in (SETTINGS_FIELD, TURNS_FIELD)}
            row[spec.model_field], row[spec.answer_field] = model, turns[item.id][-1]
            annotate(row, item.id)
            out.append(row)
        return out
    uses_object = any(spec.answers_field in row for row in source.rows)
    uses_columns = any(k.startswith(ANSWER_COLUMN_PREFIX) for row in source.rows for k in row)
    out = []
    for row in source.rows:
        row = dict(row)
        item_id = str(row[spec.id_field])
        if item_id not in turns:
            out.append(row)
            continue
        final = turns[item_id][-1]
        if uses_object or not (uses_columns or csv):
            answers = _answers_object(row, spec)
            answers = {**(answers if isinstance(answers, dict) else {}), model: final}
            row[spec.answers_field] = json.dumps(answers, ensure_ascii=False) if csv else answers
        else:
            row[ANSWER_COLUMN_PREFIX + model] = final
        annotate(row, item_id)
        out.append(row)
    return out


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """JSON Lines or CSV by the file's suffix, written to a temporary file and renamed, so a
    reader (or a crash) never sees half a dataset."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv"):
        raise BadInput(f"--out {path}: write the answers to a .jsonl or .csv file")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    if suffix == ".csv":
        import pandas as pd

        pd.DataFrame(rows).to_csv(temporary, index=False)
    else:
        with temporary.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False, default=_plain) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temporary, path)


def _plain(value: Any) -> Any:
    """Parquet's numpy values as JSON (arrays as lists, numbers as numbers)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
