"""`replay:RUN_DIR`: a judge that answers from another run's stored verdicts.

It costs nothing and answers thousands of requests a second, so any protocol option, sampling
design or statistic can be tried on real judgments ("what would this have cost with a smaller
design?"). The source run is read once, when the judge is made; each request is then one lookup:
pairwise by item and the models in positions A and B (mirrored from the other order when only
that one was stored), rubric by item and model, checklists by item, model and question (either
mode's verdicts answer either mode's requests). The
answer is written in the form the request asks for and read by the protocol's own parser, so a
replay stores exactly what the protocol makes of that verdict. A request with no stored verdict
is rejected: stored as failed with the reason, and the run exits 1 as for any failed call.

Replayed answers bypass the shared judgment cache: they are not a judge's answers to a prompt.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pydantic import ValidationError

from harness.errors import BadInput
from harness.judges.base import JudgeBackend, RequestRejected
from harness.judges.options import ReplayOptions
from harness.judges.replay_answers import (
    UNREADABLE,
    all_answers,
    pairwise_answer,
    questions_answer,
    rubric_answer,
    single_answer,
)
from harness.judges.replay_source import ReplaySource, Stored
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec


class ReplayBackend(JudgeBackend):
    capabilities = frozenset({"logprobs", "choices"})
    #: Replayed answers are not a judge's answers to a prompt: keep them out of the judgment cache.
    cacheable: ClassVar[bool] = False

    def __init__(self, spec: JudgeSpec):
        super().__init__(spec)
        if not spec.model:
            raise BadInput("--judge replay:RUN_DIR: name the run directory to replay")
        try:
            options = ReplayOptions.model_validate(spec.options)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise BadInput(f"judge option {'.'.join(map(str, error['loc']))}: {error['msg']}") from None
        self.source = ReplaySource.load(spec.model, options.judge)
        self.mirrored = 0

    async def complete(self, request: JudgeRequest) -> JudgeResponse:
        await asyncio.sleep(0)  # let the run store verdicts while a long replay goes on
        return self.answer(request)

    def answer(self, request: JudgeRequest) -> JudgeResponse:
        """The stored verdict for this request, written as the protocol's parser reads it."""
        stored, what = self._lookup(request)
        if stored is None:
            raise RequestRejected(f"replay: no stored verdict for {what} in {self.source.path}")
        if stored.status == "failed":
            raise RequestRejected(f"replay: the stored call for {what} failed: {stored.error}")
        if stored.status != "ok":
            return JudgeResponse(text=UNREADABLE)
        return _render(request, stored)

    def _lookup(self, request: JudgeRequest) -> tuple[Stored | None, str]:
        """The stored verdict matching the request's protocol facts, and how to name them."""
        meta, item = request.meta, request.item_id
        stage, model = meta.get("stage"), str(meta.get("model"))
        if "model_a" in meta and "model_b" in meta:
            found = self.source.pair(item, meta["model_a"], meta["model_b"])
            if found is not None and found[1]:
                self.mirrored += 1
                self.notice("replay: answer orders the source run did not judge are answered with the other "
                            "order's verdict mirrored (A>>B read as B>>A, ...)")
            return (found[0] if found else None), (
                f"item {item!r} with {meta['model_a']!r} as A and {meta['model_b']!r} as B (either order)")
        if stage == "generate":
            return self.source.checklists.get(item), f"the checklist of item {item!r}"
        if stage == "judge" and "question" in meta:
            question = meta["question"]
            return (self.source.single(item, model, question),
                    f"item {item!r}, model {model!r}, question {question!r}")
        if stage == "judge":
            questions = list(meta.get("questions") or [])
            return self.source.every(item, model, questions), f"item {item!r}, model {model!r}"
        if "model" in meta:
            return self.source.graded.get((item, model)), f"item {item!r}, model {model!r}"
        raise RequestRejected("replay: the request names no model (not a pairwise, rubric or checklist request)")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "replayed_run": str(self.source.path.resolve()),
                "replayed_judge": self.source.judge, "stored_verdicts": len(self.source)}


def _render(request: JudgeRequest, stored: Stored) -> JudgeResponse:
    data, stage = stored.data, request.meta.get("stage")
    try:
        if "level" in data:
            return pairwise_answer(request, data["level"], data.get("probs"))
        if stage == "generate":
            return questions_answer(request, list(data["questions"]))
        if "answers" in data:
            return all_answers(request, list(data["answers"]), data.get("p_yes"))
        if "answer" in data:
            return single_answer(request, data["answer"], data.get("p_yes"))
        score = float(data["score"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RequestRejected(
            f"replay: the stored verdict of {request.id!r} is not one this protocol reads ({exc})") from None
    if score != int(score):
        raise RequestRejected(f"replay: the stored score {score:g} of {request.id!r} is not a whole number")
    probs = {str(s): float(p) for s, p in data["probs"].items()} if isinstance(data.get("probs"), dict) else None
    return rubric_answer(request, int(score), probs)
