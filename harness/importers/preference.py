"""Preference pairs: `prompt`, `chosen`, `rejected` (RewardBench, HH-RLHF, UltraFeedback-binarized).

Each row is one human (or curated) preference: the `chosen` answer beats the `rejected` one. The
two answers are the "models" `chosen` and `rejected`, `chosen` in position A; the win rate of
`chosen` under a judge is then that judge's accuracy on the preferences. Optional: `id` (item
id, else `pref-<row>`), `subset` or `category`. Answers may be texts or chat message lists (the
last assistant message is the answer, the last user message before it the prompt). HH-RLHF rows
have no `prompt`: it is the transcript both answers share, up to the last `Assistant:` turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.importers.common import ImportedRun
from harness.importers.human import (
    PAIRWISE_CONFIG,
    HumanLabels,
    at_record,
    message_text,
    pairwise_task,
    read_rows,
    text_or_none,
)

MODELS = ("chosen", "rejected")
_HH_TURN = "\n\nAssistant:"


def import_preference(paths: list[Path], baseline: str | None = None, *, judge: str | None = None) -> ImportedRun:
    if baseline is not None:
        raise BadInput("--baseline: preference pairs compare chosen with rejected; there is no baseline")
    labels = HumanLabels("preference", judge)
    for path in paths:
        for number, record in read_rows(path):
            where = f"{path}:{number}"
            with at_record(where):
                prompt, chosen, rejected = _texts(record, where)
                item_id = text_or_none(record.get("id")) or f"pref-{len(labels.verdicts):06d}"
                category = text_or_none(record.get("subset")) or text_or_none(record.get("category"))
                labels.texts.add(where, item_id, prompt, {"chosen": chosen, "rejected": rejected}, category)
                labels.pair(
                    where,
                    item_id=item_id,
                    model_a="chosen",
                    model_b="rejected",
                    level="A>>B",
                    category=category,
                    len_a=len(chosen),
                    len_b=len(rejected),
                    output="chosen over rejected",
                )
    config = {**PAIRWISE_CONFIG, "baselines": ["rejected"]}
    task = pairwise_task()
    task["options"] = {**task["options"], "baselines": ["rejected"]}
    return labels.run(
        name="preference_pairs",
        protocol="pairwise",
        config=config,
        paths=paths,
        task=task,
        notes=("chosen = position A; its judge win rate is the judge's accuracy",),
    )


def _texts(record: dict[str, Any], where: str) -> tuple[str, str, str]:
    for key in ("chosen", "rejected"):
        if key not in record:
            raise BadInput(f"{where}: missing field {key!r}")
    prompt = text_or_none(record.get("prompt")) if not isinstance(record.get("prompt"), list) else None
    chosen, chosen_prompt = _answer(record["chosen"], "chosen", where)
    rejected, _ = _answer(record["rejected"], "rejected", where)
    prompt = prompt or chosen_prompt
    if prompt is None and isinstance(record["chosen"], str):
        prompt, chosen, rejected = _split_transcripts(chosen, rejected, where)
    if prompt is None:
        raise BadInput(f"{where}: missing field 'prompt' (and chosen is no transcript or message list to take it from)")
    return prompt, chosen, rejected


def _answer(value: Any, key: str, where: str) -> tuple[str, str | None]:
    """The answer text, and the prompt when the value is a message list."""
    if isinstance(value, list):
        messages = [m for m in value if isinstance(m, dict)]
        answers = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
        if not answers or not message_text(messages[answers[-1]].get("content")):
            raise BadInput(f"{where}: {key}: a message list without an assistant answer as text")
        users = [m for m in messages[: answers[-1]] if m.get("role") == "user"]
        return str(messages[answers[-1]]["content"]), message_text(users[-1].get("content")) if users else None
    if not isinstance(value, str):  # an object or a number is no answer (its repr would become one)
        raise BadInput(f"{where}: {key} is {type(value).__name__}, expected text or a message list")
    if text_or_none(value) is None:
        raise BadInput(f"{where}: {key}: empty")
    return value, None


def _split_transcripts(chosen: str, rejected: str, where: str) -> tuple[str, str, str]:
    """HH-RLHF: both transcripts share the conversation up to the last assistant turn."""
    cut = chosen.rfind(_HH_TURN)
    if cut < 0 or not rejected.startswith(chosen[: cut + len(_HH_TURN)]):
        raise BadInput(f"{where}: missing field 'prompt'")
    head = cut + len(_HH_TURN)
    return chosen[:cut].strip(), chosen[head:].strip(), rejected[head:].strip()
