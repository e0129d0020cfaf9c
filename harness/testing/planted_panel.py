"""Judges for a panel with planted behaviour on loopback, for testing panel statistics against a
known truth (harness.testing.planted has the single Bradley-Terry judge adaptive sampling uses).

A `PanelJudge` is a real OpenAI-compatible server (harness.testing.openai_server) whose verdicts
follow known model qualities: a rubric score of round(quality + item effect - severity + noise),
clipped to the scale; a pairwise verdict A with probability sigmoid(quality_A - quality_B), or A
regardless with probability `position_bias`; a checklist answer YES with probability
(quality - severity) / 10. Every draw is a hash of the judge's seed and the
prompt's markers, so a rerun gets the same answers and tests can compute the expected numbers
themselves. The dataset marks who wrote an answer with `panel_answer` and the item with
`panel_instruction`; the judge reads only those markers.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Mapping
from typing import Any

from harness.testing.openai_server import OpenAIServer, Reply

_MODEL = re.compile(r"\[model=([\w.-]+)\]")
_ITEM = re.compile(r"\[item=([\w.-]+)\]")


def panel_instruction(item_id: str) -> str:
    return f"Explain topic {item_id} clearly. [item={item_id}]"


def panel_answer(model: str, item_id: str) -> str:
    return f"An answer about {item_id}, written by a model. [model={model}]"


#: Marks a question of a planted checklist, so the judge can count the questions it is asked.
CHECK_MARK = "[check]"


def panel_rows(models: Mapping[str, float], n_items: int, *, checklist: int = 0) -> list[dict[str, Any]]:
    """Dataset rows: n_items items, each answered by every model (with `checklist` questions each)."""
    rows = [{"id": f"q{i:03d}", "instruction": panel_instruction(f"q{i:03d}"),
             "answers": {m: panel_answer(m, f"q{i:03d}") for m in models}} for i in range(n_items)]
    for row in rows:
        if checklist:
            row["checklist"] = [f"Does it cover point {k + 1}? {CHECK_MARK}" for k in range(checklist)]
    return rows


def item_effect(item_id: str, spread: float) -> float:
    """The planted difficulty of an item (the same for every judge): uniform in +-spread/2."""
    return (_unit(f"item|{item_id}") - 0.5) * spread


class PanelJudge:
    """`with PanelJudge("fair", qualities) as judge:` then use `judge.spec` at `judge.base_url`.

    `invalid_for`: models whose answers this judge does not grade (it replies unreadably), so the
    panel's cells are unbalanced the way a judge that skips work leaves them.
    """

    def __init__(self, name: str, qualities: Mapping[str, float], *, severity: float = 0.0,
                 noise: float = 0.6, position_bias: float = 0.0, scale: tuple[int, int] = (1, 10),
                 item_spread: float = 1.0, invalid_for: tuple[str, ...] = ()):
        self.name = name
        self.qualities = dict(qualities)
        self.severity = severity
        self.noise = noise
        self.position_bias = position_bias
        self.scale = scale
        self.item_spread = item_spread
        self.invalid_for = set(invalid_for)
        self.server = OpenAIServer(self._respond, model=name)
        self.base_url = self.server.base_url
        self.spec = f"openai:{name}"

    def __enter__(self) -> PanelJudge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.server.close()

    @property
    def calls(self) -> int:
        return len(self.server.requests)

    def rubric_score(self, model: str, item_id: str) -> int:
        """The score this judge gives `model`'s answer to `item_id` (what the server answers)."""
        noise = self.noise * _normal(f"{self.name}|{item_id}|{model}")
        value = self.qualities[model] + item_effect(item_id, self.item_spread) - self.severity + noise
        return int(min(self.scale[1], max(self.scale[0], round(value))))

    def prefers_first(self, item_id: str, first: str, second: str) -> bool:
        """Whether this judge says A for `first` shown before `second` on `item_id`."""
        draw = _unit(f"{self.name}|{item_id}|{first}|{second}")
        if draw < self.position_bias:
            return True
        rescaled = (draw - self.position_bias) / (1.0 - self.position_bias)
        return rescaled < 1.0 / (1.0 + math.exp(self.qualities[second] - self.qualities[first]))

    def checklist_answers(self, model: str, item_id: str, n_questions: int) -> list[bool]:
        """This judge's YES (True) / NO to each checklist question about `model`'s answer: YES with
        probability (quality - severity) / 10, clipped to 0..1 (qualities on a 1-10 scale)."""
        p = min(1.0, max(0.0, (self.qualities[model] - self.severity) / 10.0))
        return [_unit(f"{self.name}|{item_id}|{model}|check{k}") < p for k in range(n_questions)]

    def _respond(self, body: dict[str, Any]) -> Reply:
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        models = _MODEL.findall(prompt)
        item = _ITEM.search(prompt)
        if not models or item is None:
            return Reply(status=400, error="PanelJudge: the prompt carries no [model=] / [item=] markers")
        if any(m in self.invalid_for for m in models):
            return Reply(text="I would rather not grade this one.")
        if "Checklist:" in prompt:
            answers = self.checklist_answers(models[0], item.group(1), prompt.count(CHECK_MARK))
            return Reply(text="\n".join(f"{k}. {'YES' if yes else 'NO'}" for k, yes in enumerate(answers, start=1)))
        if len(models) >= 2:
            return Reply(text="[[A]]" if self.prefers_first(item.group(1), models[0], models[1]) else "[[B]]")
        return Reply(text=f"Feedback: graded. [[{self.rubric_score(models[0], item.group(1))}]]")


def _unit(key: str) -> float:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2.0**64


def _normal(key: str) -> float:
    return random.Random(hashlib.sha256(key.encode()).digest()).gauss(0.0, 1.0)
