"""A listwise judge whose orders follow planted Plackett-Luce strengths, served over real HTTP.

The judge reads the planted answers (harness.testing.planted: each carries a tag naming its model
and item) in the order the prompt shows them, which by the protocols' contract is label order
A, B, C, ... inside the fenced answer blocks. It orders them by strength plus Gumbel noise, which
is exactly a Plackett-Luce draw; `position_bias` adds log-strength to the answer shown in each
position (a number: to position A only; a list: one per position), a planted position preference.
It answers `[[C>A>D>B]]`, or `{"ranking": ["C", "A", "D", "B"]}` when the request asks for JSON.
The noise is a hash of (seed, item, the answers as shown, position), not a random state, so a
resumed or repeated run sees exactly the orders an uninterrupted one saw.

`invalid_first` makes the judge answer with a broken order (a label missing) the first time it
sees a prompt, and properly when it is asked again: a re-ask test.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Mapping, Sequence
from typing import Any

from harness.testing.openai_server import OpenAIServer, Reply
from harness.testing.planted import _TAG, LoopbackJudge, planted_draw


class PlantedListwiseJudge(LoopbackJudge):
    """`with PlantedListwiseJudge(strengths) as judge:` then run with `judge.spec`, `judge.base_url`."""

    def __init__(self, strengths: Mapping[str, float], *, seed: int = 0,
                 position_bias: float | Sequence[float] = 0.0, invalid_first: bool = False):
        self.strengths = dict(strengths)
        self.seed = seed
        self.position_bias = position_bias
        self.invalid_first = invalid_first
        self.server = OpenAIServer(self._respond, model="planted-listwise")
        self.base_url = self.server.base_url
        self.spec = "openai:planted-listwise"

    def bonus(self, position: int) -> float:
        if isinstance(self.position_bias, (int, float)):
            return float(self.position_bias) if position == 0 else 0.0
        return float(self.position_bias[position]) if position < len(self.position_bias) else 0.0

    def order(self, item: str, shown: Sequence[str]) -> list[int]:
        """Positions (0 = A) best first: a Plackett-Luce draw from strengths + position bonus."""
        key = "|".join(shown)
        noisy = []
        for j, model in enumerate(shown):
            u = min(max(planted_draw(self.seed, item, key, str(j)), 1e-12), 1.0 - 1e-12)
            noisy.append(self.strengths[model] + self.bonus(j) - math.log(-math.log(u)))
        return sorted(range(len(shown)), key=lambda j: -noisy[j])

    def _respond(self, body: dict[str, Any]) -> Reply:
        messages = body.get("messages", [])
        first = "\n".join(str(m.get("content", "")) for m in messages[:2] if m.get("role") != "assistant")
        prompt = "\n".join(str(m.get("content", "")) for m in messages)
        tags = _TAG.findall(first) or _TAG.findall(prompt)
        if len(tags) < 2:
            return Reply(text="I cannot tell the answers apart.")
        shown = [model for model, _ in tags]
        labels = string.ascii_uppercase[: len(shown)]
        order = [labels[j] for j in self.order(tags[0][1], shown)]
        if self.invalid_first and not any(m.get("role") == "assistant" for m in messages):
            order = order[:-1]  # a label missing: an invalid order, re-asked
        if body.get("response_format", {}).get("type") in ("json_schema", "json_object"):
            return Reply(text=json.dumps({"ranking": order}))
        return Reply(text=f"[[{'>'.join(order)}]]")

