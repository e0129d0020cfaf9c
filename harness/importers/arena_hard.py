"""Arena-Hard-Auto judgments (`model_judgment/<judge>/<model>.jsonl`) as a pairwise run.

One line per question and model: `question_id`, `model`, `judge`, `games` (two games). In game 1
the baseline's answer is shown as A and the model's as B; game 2 swaps them. Each game's `score`
is the judge's label, "A>>B" ... "B>>A" (null when the judge gave none: stored as invalid).
Answer lengths are read from the game's `user_prompt` when it holds the two answers (for the
length rule); otherwise they are unknown. The baseline comes from --baseline, else a
`baseline` field in the line. With the prompts present, the question and both answers are also
written as `dataset.jsonl` with `judge_task.yaml` (see harness.importers.item_texts).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.importers.common import (
    PAIRWISE_LEVELS,
    ImportedRun,
    id_field,
    name_field,
    pairwise_verdict,
    read_jsonl,
    require,
)
from harness.importers.item_texts import ItemTexts
from harness.models import Verdict

_QUESTION = re.compile(r"<\|User Prompt\|>\n?(.*?)\n*<\|The Start of Assistant A's Answer\|>", re.S)
_ANSWER = re.compile(r"<\|The Start of Assistant ([AB])'s Answer\|>\n?(.*?)\n?<\|The End of Assistant \1's Answer\|>", re.S)
ALIASES = {"A<B": "B>A", "A<<B": "B>>A", "B<A": "A>B", "B<<A": "A>>B", "B=A": "A=B"}


def import_arena_hard(paths: list[Path], baseline: str | None = None) -> ImportedRun:
    verdicts: list[Verdict] = []
    judges: set[str] = set()
    baselines: set[str] = set()
    texts = ItemTexts()
    for path in paths:
        for number, record in read_jsonl(path):
            where = f"{path}:{number}"
            require(record, ("question_id", "model", "games"), where)
            id_field(record, "question_id", where)
            name_field(record, "model", where)
            games = record["games"]
            if not isinstance(games, list) or not 1 <= len(games) <= 2:
                raise BadInput(f"{where}: games: expected a list of two games")
            base = baseline or record.get("baseline")
            if not base:
                raise BadInput(f"{where}: no baseline in the data; give --baseline (Arena-Hard v0.1: gpt-4-0314)")
            if not baseline:
                name_field(record, "baseline", where)
            judge = str(record.get("judge") or "arena_hard")
            judges.add(judge)
            baselines.add(str(base))
            for index, game in enumerate(games):
                verdicts.append(_verdict(game, record, str(base), judge, index, f"{where}: games[{index}]"))
                _add_texts(texts, game, record, str(base), index)
    if not verdicts:
        raise BadInput(f"{paths[0]}: no judgments")
    if len(baselines) != 1:
        raise BadInput(f"the files have several baselines ({', '.join(sorted(baselines))}); give --baseline")
    return ImportedRun(
        format="arena_hard", name="arena_hard", protocol="pairwise",
        config={"baselines": sorted(baselines), "verdict_format": "labels", "strong_weight": 3.0, "length_k": -1},
        judge=", ".join(sorted(judges)), verdicts=verdicts, sources=[str(p.resolve()) for p in paths],
        texts=texts,
    )


def _add_texts(texts: ItemTexts, game: Any, record: dict[str, Any], baseline: str, index: int) -> None:
    """The question and both answers, as the judge saw them in the game's prompt."""
    prompt = str(game.get("user_prompt") or "") if isinstance(game, dict) else ""
    question = _QUESTION.search(prompt)
    answers = {m.group(1): m.group(2) for m in _ANSWER.finditer(prompt)}
    model_slot, base_slot = ("B", "A") if index == 0 else ("A", "B")  # game 1: baseline as A
    texts.add(str(record["question_id"]), instruction=question.group(1) if question else None,
              answers={str(record["model"]): answers.get(model_slot), baseline: answers.get(base_slot)})


def _verdict(game: Any, record: dict[str, Any], baseline: str, judge: str, index: int, where: str) -> Verdict:
    if not isinstance(game, dict):
        raise BadInput(f"{where}: expected an object")
    require(game, ("score",), where)
    score = game["score"]
    level: str | None = None
    if score is not None:
        label = ALIASES.get(str(score).replace(" ", ""), str(score).replace(" ", ""))
        if label not in PAIRWISE_LEVELS:
            raise BadInput(f"{where}: score {score!r} is not one of {', '.join(PAIRWISE_LEVELS)} or null")
        level = label
    answers = {m.group(1): m.group(2) for m in _ANSWER.finditer(str(game.get("user_prompt") or ""))}
    model_is_a = index == 1  # game 1: baseline as A; game 2: the model as A
    len_model = len(answers[("B", "A")[index]]) if len(answers) == 2 else None
    len_base = len(answers[("A", "B")[index]]) if len(answers) == 2 else None
    return pairwise_verdict(
        "arena_hard", item_id=str(record["question_id"]), model=str(record["model"]), opponent=baseline,
        model_is_a=model_is_a, level=level, judge=judge, len_model=len_model, len_opponent=len_base,
        output=game.get("judgment") if isinstance(game.get("judgment"), str) else None,
        error="the judge gave no verdict label",
    )
