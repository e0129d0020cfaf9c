"""The items behind imported verdicts, written next to them as a harness dataset and task file.

When another tool's files carry the instructions and answers, an import writes `dataset.jsonl`
(wide format: one row per item, every model's answer, the verdicts' item ids) and
`judge_task.yaml` (the import's protocol and options), so that

    harness run DIR/judge_task.yaml --judge replay:DIR     # reproduces the import's numbers
    harness run DIR/judge_task.yaml --judge openai:MODEL   # judges the same items again

need no other file. An importer fills an `ItemTexts` while it reads and hands it over as
`ImportedRun.texts`; the writer turns it into the two files once the verdicts are final (after
screening). The files are written only when every verdict's item has its instruction and the
answers of the models it compares; otherwise the import says in its notes why not (a dataset that
lacks some verdicts' answers would replay to other numbers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from harness.importers.common import ImportedRun

DATASET_FILE = "dataset.jsonl"
TASK_FILE = "judge_task.yaml"


@dataclass
class ItemTexts:
    """Instructions and answers gathered while importing, by item id."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Answers of one model to one item that differ between records (the first is kept).
    conflicts: int = 0
    #: Items whose instruction the source lacks, given a stand-in text by the importer.
    placeholders: int = 0
    #: The task file's description (a default naming the format when None).
    description: str | None = None

    def add(
        self, item_id: str, *, instruction: str | None = None, conversation: list[dict[str, str]] | None = None,
        answers: Mapping[str, str | None] | None = None, category: str | None = None,
    ) -> None:
        """Record what one source record says about an item; None means the record lacks it."""
        row = self.rows.setdefault(item_id, {"id": item_id, "answers": {}})
        if conversation and "conversation" not in row:
            row["conversation"] = conversation
        if instruction is not None and "instruction" not in row:
            row["instruction"] = instruction
        if category is not None and "category" not in row:
            row["category"] = category
        for model, text in (answers or {}).items():
            if text is None:
                continue
            known = row["answers"].setdefault(model, text)
            self.conflicts += known != text

    def missing(self, run: ImportedRun) -> str | None:
        """Why the dataset cannot stand for the run's verdicts, or None when it can."""
        for verdict in run.verdicts:
            row = self.rows.get(verdict.item_id)
            if row is None or not (row.get("instruction") or row.get("conversation")):
                return f"the source has no instruction for item {verdict.item_id!r}"
            data = verdict.data
            for model in (data.get("model_a"), data.get("model_b"), data.get("model")):
                if isinstance(model, str) and model not in row["answers"]:
                    return f"the source has no answer of {model!r} to item {verdict.item_id!r}"
        return None


def with_dataset(run: ImportedRun, texts: ItemTexts) -> ImportedRun:
    """The run with `dataset.jsonl` and `judge_task.yaml` among its files, or with a note why not."""
    why_not = texts.missing(run)
    if why_not is not None:
        return replace(run, notes=[*run.notes, f"no {DATASET_FILE} / {TASK_FILE} written: {why_not}"])
    notes = list(run.notes)
    if texts.conflicts:
        notes.append(f"{texts.conflicts} answer(s) differ between records of the same item and model; "
                     f"{DATASET_FILE} keeps the first")
    used = {v.item_id for v in run.verdicts}
    rows = [row for item_id, row in texts.rows.items() if item_id in used]
    dataset = "".join(json.dumps(_clean(row), ensure_ascii=False) + "\n" for row in rows)
    task = {
        "name": run.name,
        "description": texts.description
        or f"the items of a {run.format} import, to replay (--judge replay:DIR) or judge again",
        "protocol": run.protocol,
        "dataset": {"path": DATASET_FILE},
        "judge": "local",
        "options": run.config,
    }
    text = yaml.safe_dump(task, sort_keys=False, allow_unicode=True, width=100)
    return replace(run, notes=notes, extra_files={**run.extra_files, DATASET_FILE: dataset, TASK_FILE: text},
                   dataset_file=DATASET_FILE)


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """A dataset row, fields in reading order: the conversation when there is one, else the
    instruction; no empty fields."""
    prompt = ("conversation",) if row.get("conversation") else ("instruction",)
    return {k: row[k] for k in ("id", *prompt, "category", "answers") if row.get(k) is not None}
