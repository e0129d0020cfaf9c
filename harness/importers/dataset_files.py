"""The `dataset.jsonl` and `judge_task.yaml` an import writes beside its verdicts, from the texts its
source held (harness.importers.item_texts), so the run can be replayed or judged again."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import orjson
import yaml

from harness.importers.common import ImportedRun
from harness.importers.item_texts import DATASET_FILE, TASK_FILE, ItemTexts, clean_row


def dataset_line(row: dict[str, Any]) -> bytes:
    """One dataset row as a JSON line, in UTF-8: orjson's bytes as they come (the answers are most
    of an import's bytes: 51 ms against the standard library's 246 ms for 47 MB of rows, and no
    text made of them to encode again: 927 MB at a million verdicts), or the standard library for
    what orjson refuses (an integer beyond 64 bits) or would not keep (NaN and infinities, which
    orjson writes as null)."""
    try:
        line = orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        line = b""
    if not line or (b"null" in line and _has_non_finite(row)):
        line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    return line


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False


def with_dataset(run: ImportedRun, texts: ItemTexts) -> ImportedRun:
    """The run with `dataset.jsonl` and `judge_task.yaml` among its files, or with a note why not."""
    why_not = texts.missing(run.verdicts)
    if why_not is not None:
        return replace(run, notes=[*run.notes, f"no {DATASET_FILE} / {TASK_FILE} written: {why_not}"])
    notes = list(run.notes)
    if texts.conflicts:
        notes.append(f"{texts.conflicts} answer(s) differ between records of the same item and model; "
                     f"{DATASET_FILE} keeps the first")
    used = {v.item_id for v in run.verdicts}
    rows = [row for item_id, row in texts.rows.items() if item_id in used]

    def dataset() -> Iterator[bytes]:  # row by row: 100 models' answers to 5,000 items are 750 MB of text
        for row in rows:
            yield dataset_line(clean_row(row))

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
