"""FastChat MT-Bench judgments (`model_judgment/gpt-4_single.jsonl`, `gpt-4_pair.jsonl`).

Single grading lines (`question_id`, `model`, `judge`, `score` 1-10 or -1, `turn`) become a
rubric run (mt_bench preset); -1 (no rating found) is an invalid verdict. Pairwise lines
(`question_id`, `model_1`, `model_2`, `g1_winner`, `g2_winner`, `judge`, `turn`) become a
pairwise run: game 1 shows model_1 as A, game 2 swaps them; winners are named as model_1,
model_2 or tie (anything else, e.g. "error", is invalid). MT-Bench has no "slightly better",
so a win is stored as a clear win and counts once in Bradley-Terry (strong_weight 1).
Each (question, turn) is one item: `mt-<question_id>-t<turn>`. When every judgment is of turn 1
and carries FastChat's judge prompt (`user_prompt`, `g1_user_prompt`), the questions and answers are also written as
`dataset.jsonl` with `judge_task.yaml` (see harness.importers.item_texts).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.importers.common import (
    ImportedRun,
    id_field,
    name_field,
    pairwise_verdict,
    read_jsonl,
    require,
    rubric_verdict,
    turn_field,
)
from harness.importers.item_texts import ItemTexts
from harness.models import Verdict

#: FastChat's turn-1 judge prompts: the question, then the answer(s) (a reference answer may sit between).
_QUESTION = re.compile(r"^\[(?:User )?Question\]\n(.*?)\n\n\[The Start of ", re.S)
_ANSWER = re.compile(
    r"\[The Start of Assistant(?: ([AB]))?'s Answer\]\n(.*?)\n\[The End of Assistant(?: \1)?'s Answer\]", re.S)


def import_mt_bench(paths: list[Path], baseline: str | None = None) -> ImportedRun:
    records = [(f"{path}:{number}", record) for path in paths for number, record in read_jsonl(path)]
    if not records:
        raise BadInput(f"{paths[0]}: no judgments")
    pairwise = "model_1" in records[0][1]
    verdicts: list[Verdict] = []
    judges: set[str] = set()
    texts = ItemTexts()
    for where, record in records:
        if ("model_1" in record) != pairwise:
            raise BadInput(f"{where}: mixes single and pairwise judgments; import them separately")
        record = {**record, "turn": turn_field(record, where)}  # the item id holds it: 1 or 2, nothing else
        judge = _judge_name(record.get("judge"), where)
        judges.add(judge)
        verdicts.extend(_pair_verdicts(record, judge, where) if pairwise else [_single_verdict(record, judge, where)])
        _add_texts(texts, record)
    sources = [str(p.resolve()) for p in paths]
    if pairwise:
        config: dict[str, Any] = {"baselines": [baseline] if baseline else [], "verdict_format": "labels",
                                  "strong_weight": 1.0, "length_k": -1}
        return ImportedRun(format="mt_bench", name="mt_bench_pair", protocol="pairwise", config=config,
                           judge=", ".join(sorted(judges)), verdicts=verdicts, sources=sources, texts=texts)
    return ImportedRun(format="mt_bench", name="mt_bench_single", protocol="rubric", config={"preset": "mt_bench"},
                       judge=", ".join(sorted(judges)), verdicts=verdicts, sources=sources, texts=texts)


def _add_texts(texts: ItemTexts, record: dict[str, Any]) -> None:
    """Question and answer(s) from a turn-1 judge prompt. A turn-2 prompt holds each model's own
    first answer in the conversation, which one dataset row shared by all models cannot hold."""
    prompt = str(record.get("g1_user_prompt") or record.get("user_prompt") or "")  # a pair: game 1's
    question = _QUESTION.match(prompt)
    if record.get("turn", 1) != 1 or question is None:
        return
    found = {m.group(1) or "": m.group(2) for m in _ANSWER.finditer(prompt)}
    if "model_1" in record:  # game 1 shows model_1 as A
        answers = {str(record["model_1"]): found.get("A"), str(record["model_2"]): found.get("B")}
    else:
        answers = {str(record["model"]): found.get("")}
    texts.add(_item(record), instruction=question.group(1), category=record.get("category"), answers=answers)


def _judge_name(judge: Any, where: str) -> str:
    if isinstance(judge, list) and judge:
        judge = judge[0]  # FastChat: [judge model, prompt name]
    if judge is not None and not isinstance(judge, str):
        raise BadInput(f"{where}: judge: expected a name or [name, prompt], not {type(judge).__name__}")
    return judge or "mt_bench"


def _item(record: dict[str, Any]) -> str:
    return f"mt-{record['question_id']}-t{record.get('turn', 1)}"


def _single_verdict(record: dict[str, Any], judge: str, where: str) -> Verdict:
    require(record, ("question_id", "model", "score"), where)
    id_field(record, "question_id", where)
    name_field(record, "model", where)
    try:
        score = float(record["score"])
    except (TypeError, ValueError):
        raise BadInput(f"{where}: score {record['score']!r} is not a number") from None
    if score != -1 and not 1 <= score <= 10:
        raise BadInput(f"{where}: score {score} is outside 1-10 (or -1 for no rating)")
    judgment = record.get("judgment")
    if judgment is not None and not isinstance(judgment, str):
        raise BadInput(f"{where}: judgment is {type(judgment).__name__}, expected the judge's text")
    return rubric_verdict(
        "mt_bench", item_id=_item(record), model=str(record["model"]), score=None if score == -1 else score,
        judge=judge, category=record.get("category"), output=record.get("judgment"),
        error="the judge gave no rating",
    )


def _pair_verdicts(record: dict[str, Any], judge: str, where: str) -> list[Verdict]:
    require(record, ("question_id", "model_1", "model_2", "g1_winner", "g2_winner"), where)
    id_field(record, "question_id", where)
    model_1, model_2 = name_field(record, "model_1", where), name_field(record, "model_2", where)
    verdicts = []
    for game, winner_key in enumerate(("g1_winner", "g2_winner")):
        winner = record[winner_key]
        model_1_is_a = game == 0
        if winner == "tie":
            level: str | None = "A=B"
        elif winner in ("model_1", "model_2"):
            a_wins = (winner == "model_1") == model_1_is_a
            level = "A>>B" if a_wins else "B>>A"
        elif winner in ("error", None, "inconsistent"):
            level = None
        else:
            raise BadInput(f"{where}: {winner_key} {winner!r} is not model_1, model_2, tie or error")
        judgment = record.get("g1_judgment" if game == 0 else "g2_judgment")
        verdicts.append(pairwise_verdict(
            "mt_bench", item_id=_item(record), model=model_1, opponent=model_2, model_is_a=model_1_is_a,
            level=level, judge=judge, len_model=None, len_opponent=None,
            output=judgment if isinstance(judgment, str) else None, error=f"{winner_key}: {winner}",
        ))
    return verdicts
