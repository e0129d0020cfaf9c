"""MT-Bench human judgments (FastChat / lmsys `mt_bench_human_judgments`, split `human`).

Each row: `question_id`, `model_a` (Assistant A), `model_b`, `winner` (`model_a`, `model_b` or
`tie`), `judge` (the expert, e.g. `expert_12`), `turn` (1 or 2), optionally `conversation_a` and
`conversation_b`. Items are `mt-<question_id>-t<turn>`, as the `mt_bench` importer names them,
so GPT-4's pairwise judgments imported with `mt_bench` match these labels in `harness calibrate`.
Each expert is a judge of its own (`human:expert_12`). Turn-1 conversations go into dataset.jsonl;
a turn-2 answer follows each model's own first turn, which a shared item cannot hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.importers.common import ImportedRun, turn_field
from harness.importers.human import (
    PAIRWISE_CONFIG,
    WINNER_LEVELS,
    HumanLabels,
    at_record,
    last_user_turn_only,
    pairwise_task,
    read_rows,
    required_text,
)


def import_mt_bench_human(paths: list[Path], baseline: str | None = None, *, judge: str | None = None) -> ImportedRun:
    labels = HumanLabels("mt_bench_human", judge)
    for path in paths:
        for number, record in read_rows(path):
            where = f"{path}:{number}"
            with at_record(where):
                question = required_text(record, "question_id", where)
                model_a, model_b = required_text(record, "model_a", where), required_text(record, "model_b", where)
                winner = required_text(record, "winner", where)
                if winner not in WINNER_LEVELS:
                    raise BadInput(f"{where}: winner: {winner!r} is not model_a, model_b or tie")
                turn = turn_field(record, where)
                item_id = f"mt-{question}-t{turn}"
                if turn == 1:
                    instruction, answer_a = last_user_turn_only(_first_turn(record.get("conversation_a")))
                    second, answer_b = last_user_turn_only(_first_turn(record.get("conversation_b")))
                    if instruction is not None and second == instruction:
                        labels.texts.add(where, item_id, instruction, {model_a: answer_a, model_b: answer_b})
                labels.pair(
                    where,
                    item_id=item_id,
                    model_a=model_a,
                    model_b=model_b,
                    level=WINNER_LEVELS[winner],
                    annotator=record.get("judge"),
                    output=f"winner {winner}",
                )
    config = {**PAIRWISE_CONFIG, "baselines": [baseline] if baseline else []}
    return labels.run(name="mt_bench_human", protocol="pairwise", config=config, paths=paths, task=pairwise_task())


def _first_turn(conversation: Any) -> Any:
    """The first user turn and the reply to it, from a conversation of any length."""
    return conversation[:2] if isinstance(conversation, list) else None
