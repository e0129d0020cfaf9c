"""A loopback judge whose answers a test scripts by what the prompt contains.

Runs send requests concurrently, so a queue of answers in call order would make tests flaky;
rules keyed on prompt text ("the prompt quoting answer X gets verdict Y") do not depend on order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.testing.openai_server import OpenAIServer, Reply

Answer = str | Reply | Callable[[str], "str | Reply"]


class ScriptedJudge:
    """An `OpenAIServer` answering by rules: the first rule whose needle is in the prompt wins.

    `when("Paris", "MATCH")` answers MATCH to every prompt containing "Paris"; `otherwise(...)`
    sets the answer when no rule matches (default: an HTTP 404 naming the problem, which stops the
    run with RunFailed, so a forgotten rule fails the test at once instead of scoring a made-up reply). An answer may be a text, a `Reply` (faults,
    logprobs) or a function of the prompt text returning either.
    """

    def __init__(self, *, model: str = "judge"):
        self._rules: list[tuple[str, Answer]] = []
        # 404, not 400: a 400 may concern one request and fail it alone (a prompt too long), while
        # a prompt nobody scripted is a mistake in the test, which must stop the run loudly.
        self._default: Answer = Reply(
            status=404, error="ScriptedJudge: no scripted answer for this prompt (add a .when(...) rule)")
        self.server = OpenAIServer(self._respond, model=model)
        self.base_url = self.server.base_url
        self.judge = f"openai:{model}"

    def when(self, needle: str, answer: Answer) -> ScriptedJudge:
        self._rules.append((needle, answer))
        return self

    def otherwise(self, answer: Answer) -> ScriptedJudge:
        self._default = answer
        return self

    @property
    def prompts(self) -> list[str]:
        """The text of every chat completion received (all messages joined), in arrival order."""
        return [_prompt_text(body) for body in self.server.requests]

    def close(self) -> None:
        self.server.close()

    def _respond(self, body: dict[str, Any]) -> Reply:
        prompt = _prompt_text(body)
        answer = next((a for needle, a in self._rules if needle in prompt), self._default)
        if callable(answer) and not isinstance(answer, Reply):
            answer = answer(prompt)
        return answer if isinstance(answer, Reply) else Reply(text=str(answer))


def _prompt_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
