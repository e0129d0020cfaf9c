"""Read items (instruction + every model's answer) from JSONL, CSV or Parquet.

Two layouts are accepted so users need not reshape their data:
- wide: one row per item, answers in an `answers` object ({model: text}) or in `answer:MODEL`
  columns (handy for CSV);
- long: one row per (item, model) with `model` and `answer` columns; rows of one item are merged.
A multi-turn item carries a `conversation` (list of {role, content}, ending with a user turn;
a JSON string in CSV) instead of, or besides, an `instruction`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.models import DatasetSpec, Item, Message

ANSWER_COLUMN_PREFIX = "answer:"
#: Fields `harness generate` writes beside a model's answers (its settings, every turn's answer):
#: facts about answers, not about the item, so they stay out of its metadata (a dataset that
#: gains a generated model is the same items with one more model's answers).
GENERATION_FIELDS = ("generation", "answer_turns")


def load_items(spec: DatasetSpec, base_dir: Path) -> list[Item]:
    """All items of the dataset, in file order, each with the answers of the selected models."""
    path = (base_dir / spec.path).resolve()
    if not path.is_file():
        raise BadInput(f"dataset.path: no such file {spec.path!r} (looked in {base_dir})")
    rows = _read_rows(path, _detect_format(spec, path))
    if not rows:
        raise BadInput(f"{path.name}: the dataset has no rows")
    items = _rows_to_items(rows, spec, path.name)
    if spec.models:
        items = [_select_models(item, spec.models, path.name) for item in items]
    return items


def _detect_format(spec: DatasetSpec, path: Path) -> str:
    if spec.format != "auto":
        return spec.format
    suffix = path.suffix.lower()
    formats = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
    if suffix not in formats:
        raise BadInput(f"dataset.format: cannot tell the format of {path.name!r}; set jsonl, csv or parquet")
    return formats[suffix]


def _read_rows(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "jsonl":
        return _read_jsonl(path)
    import pandas as pd  # only for CSV and Parquet; keeps the CLI quick to start

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False) if fmt == "csv" else pd.read_parquet(path)
        header = _csv_header(path) if fmt == "csv" else [str(name) for name in frame.columns]
    except Exception as exc:
        raise BadInput(f"{path.name}: cannot read as {fmt}: {str(exc).splitlines()[0][:200]}") from None
    # pandas renames a repeated column (answer:base, answer:base.1): a model nobody named
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise BadInput(f"{path.name}: column {repeated[0]!r} appears {header.count(repeated[0])} times in the header")
    return frame.to_dict(orient="records")


def _csv_header(path: Path) -> list[str]:
    """A CSV file's column names as written (pandas renames repeated ones)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle), [])


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path.name}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    return [row for _, row in json_objects(text, path.name)]


def jsonl_lines(text: str) -> list[str]:
    """The lines of JSON Lines text: split on "\\n" only, as the format defines them.

    `str.splitlines()` also splits on U+2028, U+2029, U+0085 and other Unicode line breaks, which
    JSON allows raw inside strings (and which `json.dumps(..., ensure_ascii=False)` writes raw),
    so it would cut a valid record in two. A "\\r" before the "\\n" is JSON whitespace and stays.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def json_objects(lines: Iterable[str] | str, where: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of JSON Lines text (given whole, it is
    split by `jsonl_lines`); a bad line is one `BadInput` naming `where:line`."""
    if isinstance(lines, str):
        lines = jsonl_lines(lines)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{where}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise BadInput(f"{where}:{number}: each line must be a JSON object")
        yield number, row


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return not (isinstance(value, str) and value == "")


def _rows_to_items(rows: list[dict[str, Any]], spec: DatasetSpec, name: str) -> list[Item]:
    long_layout = spec.model_field in rows[0] and spec.answer_field in rows[0]
    merged: dict[str, dict[str, Any]] = {}
    for number, row in enumerate(rows, start=1):
        where = f"{name} row {number}"
        if not _present(row.get(spec.id_field)):
            raise BadInput(f"{where}: missing {spec.id_field!r}")
        item_id = str(row[spec.id_field])
        answers = _long_answers(row, spec, where) if long_layout else _wide_answers(row, spec, where)
        if item_id in merged:
            if not long_layout:
                raise BadInput(f"{where}: duplicate id {item_id!r}")
            clash = set(answers) & set(merged[item_id]["answers"])
            if clash:
                raise BadInput(f"{where}: item {item_id!r} has two answers of {sorted(clash)[0]!r}")
            merged[item_id]["answers"].update(answers)
            continue
        merged[item_id] = {
            "id": item_id,
            "conversation": _conversation(row, spec, where),
            "answers": answers,
            "reference": str(row[spec.reference_field]) if _present(row.get(spec.reference_field)) else None,
            "category": str(row[spec.category_field]) if _present(row.get(spec.category_field)) else None,
            "checklist": _checklist(row, spec, where),
            "metadata": _metadata(row, spec),
        }
    return [Item(**fields) for fields in merged.values()]


def _long_answers(row: dict[str, Any], spec: DatasetSpec, where: str) -> dict[str, str]:
    model, answer = row.get(spec.model_field), row.get(spec.answer_field)
    if not _present(model):
        raise BadInput(f"{where}: missing {spec.model_field!r}")
    if answer is None or not isinstance(answer, str):
        raise BadInput(f"{where}: {spec.answer_field!r} must be a string")
    return {str(model): answer}


def _wide_answers(row: dict[str, Any], spec: DatasetSpec, where: str) -> dict[str, str]:
    answers = row.get(spec.answers_field)
    if isinstance(answers, str) and answers.strip().startswith("{"):
        answers = _json_field(answers, spec.answers_field, where)
    if answers is None:
        answers = {k[len(ANSWER_COLUMN_PREFIX):]: v for k, v in row.items() if k.startswith(ANSWER_COLUMN_PREFIX)}
    if isinstance(answers, dict):
        # null / NaN: this model has no answer for this item (Parquet structs and columns fill
        # absent models with nulls); an empty string stays an (empty) answer.
        answers = {m: t for m, t in answers.items() if t is not None and not (isinstance(t, float) and math.isnan(t))}
    if not isinstance(answers, dict) or not answers:
        raise BadInput(
            f"{where}: no answers (give {spec.answers_field!r} as {{model: text}}, "
            f"'{ANSWER_COLUMN_PREFIX}MODEL' columns, or one row per item and model)"
        )
    for model, text in answers.items():
        if not isinstance(text, str):
            raise BadInput(f"{where}: {spec.answers_field}.{model} must be a string")
    return {str(model): text for model, text in answers.items()}


def _conversation(row: dict[str, Any], spec: DatasetSpec, where: str) -> tuple[Message, ...]:
    raw: Any = row.get(spec.conversation_field)
    if _present(raw) and not (hasattr(raw, "__len__") and len(raw) == 0):
        if isinstance(raw, str):
            raw = _json_field(raw, spec.conversation_field, where)
        try:
            turns = tuple(Message(role=t["role"], content=t["content"]) for t in raw)
        except Exception:
            raise BadInput(f"{where}: {spec.conversation_field!r} must be a list of {{role, content}}") from None
        if not turns or turns[-1].role != "user":
            raise BadInput(f"{where}: {spec.conversation_field!r} must end with a user turn")
        return turns
    instruction = row.get(spec.instruction_field)
    if not _present(instruction) or not isinstance(instruction, str):
        raise BadInput(f"{where}: missing {spec.instruction_field!r} (or a {spec.conversation_field!r})")
    return (Message(role="user", content=instruction),)


def _checklist(row: dict[str, Any], spec: DatasetSpec, where: str) -> tuple[str, ...] | None:
    raw = row.get(spec.checklist_field)
    if raw is None or (isinstance(raw, float) and math.isnan(raw)) or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, str):
        raw = _json_field(raw, spec.checklist_field, where)
    if hasattr(raw, "tolist"):  # a Parquet list column arrives as a numpy array
        raw = raw.tolist()
    if not isinstance(raw, list) or not all(isinstance(q, str) and q.strip() for q in raw):
        raise BadInput(f"{where}: {spec.checklist_field!r} must be a list of non-empty questions")
    return tuple(q.strip() for q in raw) or None


def _json_field(text: str, field: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise BadInput(f"{where}: {field!r} is not valid JSON") from None


def _metadata(row: dict[str, Any], spec: DatasetSpec) -> dict[str, Any]:
    known = {
        spec.id_field, spec.instruction_field, spec.conversation_field, spec.reference_field,
        spec.category_field, spec.answers_field, spec.model_field, spec.answer_field, spec.checklist_field,
    }
    return {
        k: v for k, v in row.items()
        if k not in known and not k.startswith(ANSWER_COLUMN_PREFIX) and k.partition(":")[0] not in GENERATION_FIELDS
        and _present(v) and _jsonable(v)
    }


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _select_models(item: Item, models: list[str], name: str) -> Item:
    missing = [m for m in models if m not in item.answers]
    if missing:
        raise BadInput(f"{name}: item {item.id!r} has no answer from {missing[0]!r} (dataset.models)")
    return item.model_copy(update={"answers": {m: item.answers[m] for m in models}})


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


def dataset_facts(items: list[Item]) -> dict[str, Any]:
    """Content digests of the whole dataset (before `--limit`): the items without their answers,
    and each model's answers, so a rerun can tell a changed dataset from one that gained a model."""
    questions = [item.model_dump(mode="json", exclude={"answers"}) for item in items]
    models = sorted({m for item in items for m in item.answers})
    answers = {m: _digest([[item.id, item.answers.get(m)] for item in items]) for m in models}
    return {"items_sha256_16": _digest(questions), "answers_sha256_16": answers}
