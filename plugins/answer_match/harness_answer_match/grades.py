"""The `answer_match_grades` import format: answer-match judgments made elsewhere (by people or
another tool), one JSON object per line, become an answer_match run directory that `harness
report`, `harness compare` and `harness calibrate` read like a judged one.

A line: `{"id": "q1", "model": "ada", "match": true, "grader": "human:kim"}`; `match` true or false
(null: the grader gave no usable verdict, stored as invalid); `grader` is optional (`human`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import BadInput
from harness.models import Verdict

if TYPE_CHECKING:
    from harness.importers.common import ImportedRun

FORMAT = "answer_match_grades"


def import_grades(paths: list[Path], baseline: str | None) -> ImportedRun:
    """answer_match judgments from JSONL lines: id, model, match (true/false/null), grader."""
    from harness.importers.common import ImportedRun, read_jsonl  # pandas and scipy: only when importing

    if baseline is not None:
        raise BadInput(f"--baseline: {FORMAT} grades each answer on its own; there is no baseline")
    verdicts = [_verdict(record, f"{path}:{number}") for path in paths for number, record in read_jsonl(path)]
    if not verdicts:
        raise BadInput(f"{paths[0] if paths else FORMAT}: no grades to import")
    graders = sorted({v.judge for v in verdicts})
    return ImportedRun(format=FORMAT, name=paths[0].stem, protocol="answer_match", config={},
                       judge=graders[0] if len(graders) == 1 else "+".join(graders), verdicts=verdicts,
                       sources=[str(p) for p in paths])


def _verdict(record: dict[str, Any], where: str) -> Verdict:
    from harness.importers.common import request_key, require

    require(record, ("id", "model", "match"), where)
    match, model, grader = record["match"], record["model"], record.get("grader", "human")
    if match is not None and not isinstance(match, bool):
        raise BadInput(f"{where}: match {match!r} is not true, false or null")
    if not isinstance(model, str) or not model or not isinstance(grader, str) or not grader:
        raise BadInput(f"{where}: model and grader must be non-empty text")
    item_id = str(record["id"])
    request_id = f"{item_id}::{model}"
    data: dict[str, Any] = {"model": model, "category": None}
    if match is not None:
        data.update(verdict="MATCH" if match else "MISMATCH", match=match)
    return Verdict(request_id=request_id, request_key=request_key(FORMAT, request_id, grader), item_id=item_id,
                   judge=grader, status="ok" if match is not None else "invalid", data=data,
                   error=None if match is not None else "the grader gave no verdict")
