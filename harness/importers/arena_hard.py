"""Arena-Hard-Auto judgments (`model_judgment/<judge>/<model>.jsonl`) as a pairwise run.

One line per question and model, in either of the formats lmarena/arena-hard-auto writes:
- v0.1: `question_id` (or `uid` in today's code), `model`, `judge`, `games`; each game's
  `user_prompt` holds the judge's prompt with both answers, `judgment` its text;
- v2.0 (`gen_judgment.py`): `uid`, `category`, `judge`, `model`, `baseline`, `games`; each game
  holds `prompt` (the judge's messages), `judgment` (a dict, its text under `answer`), `score`,
  or is null where the judge call failed.
In game 1 the baseline's answer is shown as A and the model's as B; game 2 swaps them. `score` is
the judge's label, "A>>B" ... "B>>A" (null when the judge gave none: stored as invalid). A null
game is dropped and counted, as Arena-Hard drops it. The baseline is the records' `baseline`
(v2.0: one per category, so a run may have several), else --baseline; a --baseline that
contradicts the records is an error. The baseline judged against itself (Arena-Hard's results
include that file) says nothing about a ranking and gives no verdict, but its games are kept in
the options (`arena_hard_self_games`), because Arena-Hard's style-controlled fit counts them.

`--answers` takes Arena-Hard's answer files (and `question.jsonl`): the answers' texts and
lengths, and `conv_metadata`, Arena-Hard's own style features, which style control then uses as
they are (see harness.importers.arena_hard_answers). With the prompts and answers present the
items are also written as `dataset.jsonl` with `judge_task.yaml` (harness.importers.item_texts).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.importers.arena_hard_answers import AnswerFiles, jsonl_files, read_answer_files
from harness.importers.common import (
    PAIRWISE_LEVELS,
    ImportedRun,
    id_field,
    name_field,
    pairwise_verdict,
    read_jsonl,
)
from harness.importers.item_texts import ItemTexts
from harness.models import Verdict

_QUESTION = re.compile(r"<\|User Prompt\|>\n?(.*?)\n*<\|The Start of Assistant A's Answer\|>", re.S)
_ANSWER = re.compile(r"<\|The Start of Assistant ([AB])'s Answer\|>\n?(.*?)\n?<\|The End of Assistant \1's Answer\|>", re.S)
ALIASES = {"A<B": "B>A", "A<<B": "B>>A", "B<A": "A>B", "B<<A": "A>>B", "B=A": "A=B"}


class _Reader:
    """State of one import: verdicts, texts, and what was left out."""

    def __init__(self, baseline: str | None, judge: str | None, answers: AnswerFiles | None):
        self.baseline, self.judge, self.answers = baseline, judge, answers
        self.verdicts: list[Verdict] = []
        self.judges: set[str] = set()
        self.baselines: set[str] = set()
        self.texts = ItemTexts()
        self.null_games = 0
        #: Every model a record names, judged or not: one whose games are all null is still listed.
        self.models: set[str] = set()
        self.self_games: dict[str, dict[str, Counter[str]]] = {}
        self.unstyled: set[str] = set()

    def record(self, record: dict[str, Any], where: str) -> None:
        key = "question_id" if "question_id" in record else "uid"
        for needed in (key, "model", "games"):
            if needed not in record:
                raise BadInput(f"{where}: missing field " + ("'question_id' (or 'uid')" if needed == "uid" else repr(needed)))
        item = id_field(record, key, where)
        model = name_field(record, "model", where)
        games = record["games"]
        if not isinstance(games, list) or not 1 <= len(games) <= 2:
            raise BadInput(f"{where}: games: expected a list of two games")
        base = self._baseline(record, where)
        judge = self._judge(record, where)
        self.models.add(model)
        category = record.get("category")
        if category is None and self.answers is not None:
            category = self.answers.categories.get(item)
        for index, game in enumerate(games):
            if game is None:
                self.null_games += 1
                continue
            if not isinstance(game, dict):
                raise BadInput(f"{where}: games[{index}]: expected an object or null")
            if "score" not in game:
                raise BadInput(f"{where}: games[{index}]: missing field 'score'")
            level = _level(game["score"], f"{where}: games[{index}]")
            if model == base:
                if level is not None:
                    self.self_games.setdefault(base, {}).setdefault(str(index + 1), Counter())[level] += 1
                continue
            self.verdicts.append(self._verdict(game, item, model, base, judge, index, level, category))
            self._add_texts(game, item, model, base, index, category)

    def _baseline(self, record: dict[str, Any], where: str) -> str:
        stated = record.get("baseline")
        if stated is not None:
            stated = name_field(record, "baseline", where)
            if self.baseline is not None and stated != self.baseline:
                raise BadInput(f"{where}: baseline {stated!r} differs from --baseline {self.baseline!r}; "
                               "leave --baseline out to use the records' baselines")
        base = stated or self.baseline
        if not base:
            raise BadInput(f"{where}: no baseline in the data; give --baseline (Arena-Hard v0.1: gpt-4-0314)")
        self.baselines.add(base)
        return base

    def _judge(self, record: dict[str, Any], where: str) -> str:
        stated = record.get("judge")
        if stated is not None and not isinstance(stated, str):
            raise BadInput(f"{where}: judge {stated!r} is not a judge name (expected text)")
        if stated and self.judge and stated != self.judge:
            raise BadInput(f"{where}: judge {stated!r} differs from --judge {self.judge!r}")
        judge = stated or self.judge or "arena_hard"
        self.judges.add(judge)
        return judge

    def _answer(self, game: dict[str, Any], model: str, item: str, slot: str) -> str | None:
        """The model's answer: from the answer files, else from the judge's prompt (slot A or B)."""
        if self.answers is not None and (model, item) in self.answers.texts:
            return self.answers.texts[(model, item)]
        return _prompt_answers(game).get(slot)

    def _verdict(self, game: dict[str, Any], item: str, model: str, base: str, judge: str, index: int,
                 level: str | None, category: Any) -> Verdict:
        model_slot, base_slot = ("B", "A") if index == 0 else ("A", "B")  # game 1: baseline as A
        mine, theirs = self._answer(game, model, item, model_slot), self._answer(game, base, item, base_slot)
        verdict = pairwise_verdict(
            "arena_hard", item_id=item, model=model, opponent=base, model_is_a=index == 1, level=level,
            judge=judge, len_model=None if mine is None else len(mine), len_opponent=None if theirs is None else len(theirs),
            category=category, output=_judgment_text(game.get("judgment")),
            error="the judge gave no verdict label",
        )
        if self.answers is not None:
            style_model, style_base = self.answers.style(model, item), self.answers.style(base, item)
            if style_model is None or style_base is None:
                self.unstyled.update(m for m, s in ((model, style_model), (base, style_base)) if s is None)
            else:
                a, b = (style_model, style_base) if index == 1 else (style_base, style_model)
                verdict.data["style_a"], verdict.data["style_b"] = dict(a), dict(b)
        return verdict

    def _add_texts(self, game: dict[str, Any], item: str, model: str, base: str, index: int, category: Any) -> None:
        """The question and both answers, from the answer files or as the judge saw them."""
        model_slot, base_slot = ("B", "A") if index == 0 else ("A", "B")
        question = self.answers.prompts.get(item) if self.answers is not None else None
        if question is None:
            found = _QUESTION.search(_prompt_text(game))
            question = found.group(1) if found else None
        self.texts.add(item, instruction=question, category=category if isinstance(category, str) else None,
                       answers={model: self._answer(game, model, item, model_slot),
                                base: self._answer(game, base, item, base_slot)})

    def unjudged(self) -> list[str]:
        """Models the records name that no kept verdict is about."""
        judged = {m for v in self.verdicts for m in (v.data.get("model_a"), v.data.get("model_b"))}
        return sorted(self.models - judged - self.baselines)

    def notes(self) -> list[str]:
        notes = []
        if self.null_games:
            notes.append(f"{self.null_games} game(s) are null (a failed judge call); left out, as Arena-Hard drops them")
        if unjudged := self.unjudged():
            notes.append(f"no judged game of {', '.join(unjudged)} (every one null, or the baseline's own): "
                         "listed in every table without a score")
        for base, games in sorted(self.self_games.items()):
            n = sum(sum(c.values()) for c in games.values())
            notes.append(f"{n} game(s) judge the baseline {base} against itself (Arena-Hard's results include them): "
                         "no verdicts; kept only for Arena-Hard's style-controlled scores, whose fit counts them")
        if self.unstyled:
            notes.append(f"no answer file gives the style features of {', '.join(sorted(self.unstyled))}: "
                         "style control leaves their battles out")
        if self.answers is not None and self.answers.repeated:
            notes.append(f"{self.answers.repeated} answer row(s) repeat a model's answer to a question already read "
                         f"({self.answers.repeated_differ} with another text); kept the first of each")
        if self.answers is not None and "markdown only" in self.answers.sources:
            notes.append("some answers have no conv_metadata and tiktoken is not installed: their token counts "
                         "are unknown, so Arena-Hard's length and style control cannot use them")
        return notes


def import_arena_hard(paths: list[Path], baseline: str | None = None, *, answers: list[Path] | None = None,
                      judge: str | None = None) -> ImportedRun:
    reader = _Reader(baseline, judge, read_answer_files(answers) if answers else None)
    files = jsonl_files(paths)
    for path in files:
        for number, record in read_jsonl(path):
            reader.record(record, f"{path}:{number}")
    if not reader.verdicts:
        raise BadInput(f"{files[0]}: no judgments" + (" other than the baseline's against itself" if reader.self_games else ""))
    config: dict[str, Any] = {"baselines": sorted(reader.baselines), "verdict_format": "labels", "strong_weight": 3.0,
                              "length_k": -1, "arena_hard": True}
    if reader.self_games:
        config["arena_hard_self_games"] = {
            base: {game: dict(sorted(counts.items())) for game, counts in sorted(games.items())}
            for base, games in sorted(reader.self_games.items())
        }
    return ImportedRun(
        format="arena_hard", name="arena_hard", protocol="pairwise", config=config,
        judge=", ".join(sorted(reader.judges)), verdicts=reader.verdicts, sources=[str(p.resolve()) for p in files],
        notes=reader.notes(), texts=reader.texts, unjudged_models=reader.unjudged(),
    )


def _level(score: Any, where: str) -> str | None:
    if score is None:
        return None
    label = str(score).replace(" ", "").upper()
    label = ALIASES.get(label, label)
    if label not in PAIRWISE_LEVELS:
        raise BadInput(f"{where}: score {score!r} is not one of {', '.join(PAIRWISE_LEVELS)} or null")
    return label


def _prompt_text(game: dict[str, Any]) -> str:
    """The judge's user prompt: v0.1 `user_prompt`, v2.0 the user message of `prompt`."""
    prompt = game.get("user_prompt")
    if isinstance(prompt, str):
        return prompt
    messages = game.get("prompt")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), str):
                return message["content"]
    return ""


def _prompt_answers(game: dict[str, Any]) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _ANSWER.finditer(_prompt_text(game))}


def _judgment_text(judgment: Any) -> str | None:
    """The judge's text: v0.1 a string, v2.0 a dict with it under `answer`."""
    if isinstance(judgment, dict):
        judgment = judgment.get("answer")
    return judgment if isinstance(judgment, str) else None
