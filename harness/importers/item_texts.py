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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.models import Verdict

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

    def missing(self, verdicts: list[Verdict]) -> str | None:
        """Why the dataset cannot stand for these verdicts, or None when it can."""
        for verdict in verdicts:
            row = self.rows.get(verdict.item_id)
            if row is None or not (row.get("instruction") or row.get("conversation")):
                return f"the source has no instruction for item {verdict.item_id!r}"
            data = verdict.data
            for model in (data.get("model_a"), data.get("model_b"), data.get("model")):
                if isinstance(model, str) and model not in row["answers"]:
                    return f"the source has no answer of {model!r} to item {verdict.item_id!r}"
        return None


def clean_row(row: dict[str, Any]) -> dict[str, Any]:
    """A dataset row, fields in reading order: the conversation when there is one, else the
    instruction; no empty fields."""
    prompt = ("conversation",) if row.get("conversation") else ("instruction",)
    return {k: row[k] for k in ("id", *prompt, "category", "answers") if row.get(k) is not None}
