"""The calls of a generation, shaped as a protocol so the run machinery (store, cache, retries,
rate limits, budgets, progress) serves generation exactly as it serves judging.

Each user turn of an item is one call. Turn 1 is asked at once; turn n is asked once turn n-1 is
stored, with the model's own earlier answers in place of whatever assistant turns the dataset
holds, so a multi-turn answer is the model's own conversation. The protocol version below is part
of every cache key, so a generation never shares cache entries with a judge call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from harness.generate.source import SourceItem
from harness.models import JudgeRequest, JudgeResponse, Message, Sampling, Verdict
from harness.protocol import Aggregate, Task

#: The cache-key namespace of generation calls (protocol versions of judges never look like it).
GENERATION_VERSION = "generate/1"


@dataclass(frozen=True)
class GenerationSettings:
    """What shapes the answers, recorded beside them."""

    model: str
    system: str | None = None
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int | None = 0

    def record(self) -> dict[str, Any]:
        return {"model": self.model, "system": self.system, "temperature": self.temperature,
                "max_tokens": self.max_tokens, "seed": self.seed}

    @property
    def sampling(self) -> Sampling:
        return Sampling(temperature=self.temperature, max_tokens=self.max_tokens, seed=self.seed)


def request_id(item_id: str, turn: int) -> str:
    return f"{item_id}#turn{turn}"


class GenerationTask(Task):
    """Generation as the runner sees a protocol: requests, follow-ups, and a parse that keeps
    the text (an answer cannot be malformed)."""

    version: ClassVar[str] = GENERATION_VERSION

    def __init__(self, items: list[SourceItem], settings: GenerationSettings):
        # No Task.__init__: a generation has no task file, protocol options or prompt template.
        self.source_items = items
        self.settings = settings
        self.config = None  # type: ignore[assignment]  # the runner reads only `reask` from it (none)

    def build_requests(self) -> list[JudgeRequest]:
        return [self._request(item, []) for item in self.source_items]

    def next_requests(self, results: dict[str, Verdict]) -> list[JudgeRequest]:
        new = []
        for item in self.source_items:
            answers = answers_so_far(item, results, as_written=False)
            if answers is not None and len(answers) < item.user_turns:
                new.append(self._request(item, answers))
        return new

    def _request(self, item: SourceItem, earlier: list[str]) -> JudgeRequest:
        """The call for the turn after `earlier` (the model's own answers so far)."""
        messages: list[Message] = []
        if self.settings.system:
            messages.append(Message(role="system", content=self.settings.system))
        users = 0
        for message in item.conversation:
            if message.role == "assistant":
                continue  # the model answers its own earlier turns
            if message.role == "user":
                if users == len(earlier):
                    messages.append(message)
                    break
                messages += [message, Message(role="assistant", content=earlier[users])]
                users += 1
                continue
            messages.append(message)
        turn = len(earlier) + 1
        return JudgeRequest(id=request_id(item.id, turn), item_id=item.id, messages=tuple(messages),
                            sampling=self.settings.sampling, meta={"turn": turn})

    def parse(self, request: JudgeRequest, response: JudgeResponse) -> dict[str, Any]:
        """The answer without a reasoning trace (the runner strips it); the stored output keeps
        the text as written, trace included, for the dataset."""
        return {"answer": response.text}

    def aggregate(self, verdicts: list[Verdict]) -> Aggregate:
        raise NotImplementedError("a generation has no scores")


def answers_so_far(item: SourceItem, results: dict[str, Verdict], *, as_written: bool = True) -> list[str] | None:
    """The model's answers to the item's turns, in order, as far as they are stored (None when
    turn 1 is not): as the model wrote them (for the dataset), or without a reasoning trace (the
    history of the next turn, as reasoning models' chat templates drop earlier thinking)."""
    answers: list[str] = []
    for turn in range(1, item.user_turns + 1):
        verdict = results.get(request_id(item.id, turn))
        if verdict is None or verdict.status != "ok":
            break
        text = verdict.output if as_written else verdict.data.get("answer")
        answers.append(str(text or ""))
    return answers or None
