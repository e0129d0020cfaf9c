"""Chatbot Arena battles (lmsys `chatbot_arena_conversations`, or the `clean_battle` JSON dumps).

Each row is one vote: `model_a` (shown on the left, position A), `model_b`, `winner` (`model_a`,
`model_b`, `tie` or `tie (bothbad)`; both ties are A=B, the bad-both ties counted in the notes),
optionally `question_id`, `judge` (the voter), `conversation_a`/`conversation_b`, `turn`,
`language`. Every battle is its own item (`question_id`, else `arena-<row>`): Arena prompts are
written per vote. One-turn battles with their conversations go into dataset.jsonl.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import BadInput
from harness.importers.common import ImportedRun
from harness.importers.human import (
    PAIRWISE_CONFIG,
    HumanLabels,
    at_record,
    last_user_turn_only,
    pairwise_task,
    read_rows,
    required_text,
    text_or_none,
)

WINNERS = {"model_a": "A>>B", "model_b": "B>>A", "tie": "A=B", "tie (bothbad)": "A=B"}


def import_arena(paths: list[Path], baseline: str | None = None, *, judge: str | None = None) -> ImportedRun:
    labels = HumanLabels("arena", judge)
    bothbad = 0
    for path in paths:
        for number, record in read_rows(path):
            where = f"{path}:{number}"
            with at_record(where):
                model_a, model_b = required_text(record, "model_a", where), required_text(record, "model_b", where)
                winner = required_text(record, "winner", where)
                if winner not in WINNERS:
                    raise BadInput(f"{where}: winner: {winner!r} is not model_a, model_b, tie or tie (bothbad)")
                bothbad += winner == "tie (bothbad)"
                item_id = text_or_none(record.get("question_id")) or f"arena-{len(labels.verdicts):06d}"
                instruction, answer_a = last_user_turn_only(record.get("conversation_a"))
                second, answer_b = last_user_turn_only(record.get("conversation_b"))
                if instruction is not None and second == instruction:
                    labels.texts.add(
                        where,
                        item_id,
                        instruction,
                        {model_a: answer_a, model_b: answer_b},
                        text_or_none(record.get("language")),
                    )
                labels.pair(
                    where,
                    item_id=item_id,
                    model_a=model_a,
                    model_b=model_b,
                    level=WINNERS[winner],
                    annotator=record.get("judge"),
                    category=text_or_none(record.get("language")),
                    len_a=len(answer_a) if answer_a else None,
                    len_b=len(answer_b) if answer_b else None,
                    output=f"winner {winner}",
                )
    config = {**PAIRWISE_CONFIG, "baselines": [baseline] if baseline else []}
    return labels.run(
        name="arena_battles",
        protocol="pairwise",
        config=config,
        paths=paths,
        task=pairwise_task(),
        notes=(f"{bothbad} 'tie (bothbad)' votes stored as ties",),
    )
