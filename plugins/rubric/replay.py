"""How the replay judge answers rubric requests: a stored grade is found by item and model and
written as the `[[N]]` (or JSON) the score parser reads, its distribution as the exact log P of
every `[[N]]`."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from harness.judges.base import RequestRejected
from harness.judges.replay_answers import json_answer, logs, respond, schema_enum
from harness.models import JudgeRequest, JudgeResponse
from harness.protocol.replay_view import Found, ReplayView, Stored


class RubricReplayView(ReplayView):
    def keys(self, item_id: str, request_id: str, stored: Stored) -> tuple[Hashable, ...]:
        return ((item_id, stored.data["model"]),) if "model" in stored.data else ()

    def find(self, stored: Mapping[Hashable, Stored], request: JudgeRequest) -> Found:
        item, model = request.item_id, str(request.meta.get("model"))
        return Found(stored.get((item, model)), f"item {item!r}, model {model!r}")

    def answer(self, request: JudgeRequest, stored: Stored) -> JudgeResponse:
        score = float(stored.data["score"])
        if score != int(score):
            raise RequestRejected(f"replay: the stored score {score:g} of {request.id!r} is not a whole number")
        probs = stored.data.get("probs")
        return rubric_answer(request, int(score), {str(s): float(p) for s, p in probs.items()}
                             if isinstance(probs, dict) else None)


def rubric_answer(request: JudgeRequest, score: int, probs: dict[str, float] | None) -> JudgeResponse:
    """A grade; its distribution as the exact log P of every `[[N]]` (read before any token)."""
    choice_logprobs = {f"[[{s}]]": lp for s, lp in logs(probs).items()} if probs else None
    if schema_enum(request, "score") is not None:
        return json_answer(request, "score", score, str(score), None, choice_logprobs)
    return respond([(f"[[{score}]]", None)], request, choice_logprobs)
