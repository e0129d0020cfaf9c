"""The contract every judge backend meets.

Backends only talk to a model and classify what went wrong; the runner owns retries, storage and
progress. That split keeps retry policy in one place and makes new backends small.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from harness.judges.errors import FatalJudgeError, JudgeConfigError, JudgeError, RequestRejected, TransientJudgeError
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec

if TYPE_CHECKING:
    from harness.protocol import Task

__all__ = ["FatalJudgeError", "JudgeBackend", "JudgeConfigError", "JudgeError", "RequestRejected",
           "TransientJudgeError", "judge_failure"]


def judge_failure(label: str, exc: BaseException) -> str:
    """`judge LABEL: message`, naming the judge once even when the message already does."""
    text = str(exc)
    return text if label in text else f"judge {label}: {text}"


class JudgeBackend(ABC):
    """An async judge. `concurrency` bounds how many calls the runner keeps in flight."""

    #: Features the backend honours: "logprobs", "choices" (constrained output).
    capabilities: frozenset[str] = frozenset()
    #: Whether answers go through the shared judgment cache (a replay of stored verdicts does not).
    cacheable: ClassVar[bool] = True

    def __init__(self, spec: JudgeSpec):
        self.spec = spec
        #: Things the user should know about this judge's behaviour (said once, kept in run.json).
        self.notices: list[str] = []

    def notice(self, text: str) -> None:
        """Tell the user once, on stderr and in run.json."""
        if text not in self.notices:
            self.notices.append(text)
            print(f"harness: note: {text}", file=sys.stderr, flush=True)

    @property
    def concurrency(self) -> int:
        return self.spec.concurrency

    @property
    def label(self) -> str:
        return self.spec.label

    def check(self) -> None:
        """Raise JudgeConfigError for a setup that cannot work (no key, no model), before the run
        writes anything; cheap, no network."""

    def bind_task(self, task: Task) -> None:
        """The run's task, once, before any request: for a judge whose answers come from the
        protocol itself (the replay judge asks its replay view). Others ignore it."""

    async def start(self) -> None:
        """Load a model or open a client; called once before the first request."""

    @abstractmethod
    async def complete(self, request: JudgeRequest) -> JudgeResponse:
        """Answer one request or raise a JudgeError subclass."""

    async def close(self) -> None:
        """Release what start() acquired; called even when the run fails."""

    def describe(self) -> dict[str, object]:
        """Facts about the backend for run.json (model file, versions); never secrets."""
        return {"spec": self.spec.public_dict()}
