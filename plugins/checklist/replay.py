"""How the replay judge answers checklist requests: a generated checklist by item, answers by item,
model and question. Answers are found whichever mode judged them: one question's answer is read
out of an `all`-mode verdict, and an `all`-mode request is put together from `each`-mode answers."""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping

from harness.judges.replay_answers import Piece, json_answer, logs, respond, schema_enum
from harness.models import JudgeRequest, JudgeResponse
from harness.protocol.replay_view import Found, ReplayView, Stored

#: Key kinds: a generated checklist, an `all`-mode verdict, an `each`-mode answer.
GENERATED, ALL, EACH = "checklist", "all", "each"


class ChecklistReplayView(ReplayView):
    def keys(self, item_id: str, request_id: str, stored: Stored) -> tuple[Hashable, ...]:
        data = stored.data
        if data.get("stage") == "generate":
            return ((GENERATED, item_id),)
        if data.get("stage") == "judge" and "question" in data:
            return ((EACH, item_id, str(data.get("model")), data["question"]),)
        if data.get("stage") == "judge":
            return ((ALL, item_id, str(data.get("model"))),)
        return ()

    def find(self, stored: Mapping[Hashable, Stored], request: JudgeRequest) -> Found:
        meta, item = request.meta, request.item_id
        model = str(meta.get("model"))
        if meta.get("stage") == "generate":
            return Found(stored.get((GENERATED, item)), f"the checklist of item {item!r}")
        if "question" in meta:
            question = meta["question"]
            return Found(single(stored, item, model, question), f"item {item!r}, model {model!r}, question {question!r}")
        return Found(every(stored, item, model, list(meta.get("questions") or [])), f"item {item!r}, model {model!r}")

    def answer(self, request: JudgeRequest, stored: Stored) -> JudgeResponse:
        data = stored.data
        if request.meta.get("stage") == "generate":
            return questions_answer(request, list(data["questions"]))
        if "answers" in data:
            return all_answers(request, list(data["answers"]), data.get("p_yes"))
        return single_answer(request, data["answer"], data.get("p_yes"))


def single(stored: Mapping[Hashable, Stored], item: str, model: str, question: str) -> Stored | None:
    """One checklist question's answer (`each` mode), from either mode's verdicts."""
    found = stored.get((EACH, item, model, question))
    whole = stored.get((ALL, item, model)) if found is None else None
    if whole is None or question not in (whole.data.get("questions") or []):
        return found
    if whole.status != "ok":
        return whole
    index = whole.data["questions"].index(question)
    p_yes = whole.data.get("p_yes")
    return Stored("ok", {"answer": whole.data["answers"][index], "p_yes": p_yes[index] if p_yes else None})


def every(stored: Mapping[Hashable, Stored], item: str, model: str, questions: list[str]) -> Stored | None:
    """All of a checklist's answers (`all` mode), from either mode's verdicts."""
    found = stored.get((ALL, item, model))
    if found is not None or not questions:
        return found
    parts = [stored.get((EACH, item, model, q)) for q in questions]
    if any(part is None for part in parts):
        return None
    for part in parts:
        if part is not None and part.status != "ok":
            return part
    answers = [part.data.get("answer") for part in parts if part is not None]
    p_yes = [part.data.get("p_yes") for part in parts if part is not None]
    return Stored("ok", {"answers": answers, "p_yes": None if None in p_yes else p_yes})


def yes_no_top(p_yes: float | None) -> dict[str, float] | None:
    return None if p_yes is None else logs({"YES": p_yes, "NO": 1.0 - p_yes})


def single_answer(request: JudgeRequest, answer: str, p_yes: float | None) -> JudgeResponse:
    """One YES/NO answer (`each` mode)."""
    top = yes_no_top(p_yes)
    if schema_enum(request, "answer") is not None:
        return json_answer(request, "answer", answer, answer, top)
    return respond([(answer, top)], request, top if request.constraint else None)


def all_answers(request: JudgeRequest, answers: list[str], p_yes: list[float] | None) -> JudgeResponse:
    """One YES/NO per question (`all` mode), each word its own token."""
    tops = [yes_no_top(p) for p in p_yes] if p_yes and len(p_yes) == len(answers) else [None] * len(answers)
    pieces: list[Piece] = []
    if request.json_schema is not None and "answers" in request.json_schema.get("properties", {}):
        pieces.append(('{"answers": [', None))
        for index, (answer, top) in enumerate(zip(answers, tops, strict=True)):
            pieces += [(', "' if index else '"', None), (answer, top), ('"', None)]
        pieces.append(("]}", None))
    else:
        for index, (answer, top) in enumerate(zip(answers, tops, strict=True)):
            pieces += [(f"{index + 1}. ", None), (answer, top), ("\n", None)]
    return respond(pieces, request)


def questions_answer(request: JudgeRequest, questions: list[str]) -> JudgeResponse:
    """A generated checklist, as the numbered list (or JSON) the generation parser reads."""
    if request.json_schema is not None:
        return respond([(json.dumps({"questions": questions}, ensure_ascii=False), None)], request)
    return respond([("".join(f"{i + 1}. {q}\n" for i, q in enumerate(questions)), None)], request)
