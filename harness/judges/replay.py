"""`replay:RUN_DIR`: a judge that answers from another run's stored verdicts.

It costs nothing and answers thousands of requests a second, so any protocol option, sampling
design or statistic can be tried on real judgments ("what would this have cost with a smaller
design?"). The source run is read once, when the judge is made, and filed under the keys the
replaying protocol gives its verdicts (`Task.replay_view()`: pairwise by item and the models in
positions A and B, mirrored from the other order when only that one was stored; rubric by item
and model; checklists by item, model and question, either mode's verdicts answering either mode's
requests; any other protocol by request id, else item and model); each request is then a lookup.
The answer is written in the form the request asks for and read by the protocol's own parser, so
a replay stores exactly what the protocol makes of that verdict. A request with no stored verdict
is rejected: stored as failed with the reason, and the run exits 1 as for any failed call.

Replayed answers bypass the shared judgment cache: they are not a judge's answers to a prompt.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError

from harness.errors import BadInput
from harness.judges.base import JudgeBackend, RequestRejected
from harness.judges.options import ReplayOptions
from harness.judges.replay_answers import UNREADABLE
from harness.judges.replay_source import ReplaySource
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec
from harness.protocol.replay_view import ReplayView

if TYPE_CHECKING:
    from harness.protocol import Task


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
        self._use_view(ReplayView())

    def bind_task(self, task: Task) -> None:
        self._use_view(type(task).replay_view())

    def _use_view(self, view: ReplayView) -> None:
        """Answer as `view` says, its keys filing the source run's verdicts."""
        self.view = view
        self.source.file_under(view)

    async def complete(self, request: JudgeRequest) -> JudgeResponse:
        await asyncio.sleep(0)  # let the run store verdicts while a long replay goes on
        return self.answer(request)

    def answer(self, request: JudgeRequest) -> JudgeResponse:
        """The stored verdict for this request, written as the protocol's parser reads it."""
        found = self.view.find(self.source.index, request)
        stored, what = found.stored, found.what
        if stored is None:
            raise RequestRejected(f"replay: no stored verdict for {what} in {self.source.path}")
        if found.notice:
            self.notice(found.notice)
        if stored.status == "failed":
            raise RequestRejected(f"replay: the stored call for {what} failed: {stored.error}")
        if stored.status != "ok":
            return JudgeResponse(text=UNREADABLE)
        try:
            return self.view.answer(request, stored)
        except (KeyError, TypeError, ValueError) as exc:
            raise RequestRejected(
                f"replay: the stored verdict of {request.id!r} is not one this protocol reads ({exc})") from None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "replayed_run": str(self.source.path.resolve()),
                "replayed_judge": self.source.judge, "stored_verdicts": len(self.source)}
