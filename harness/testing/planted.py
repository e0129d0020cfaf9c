"""A pairwise judge whose verdicts follow planted Bradley-Terry strengths, served over real HTTP.

Every answer in a planted dataset carries a tag naming its model and item; the judge reads which
tagged answer came first (position A) and answers `[[2]]` (A slightly better) with probability
sigmoid(theta_A - theta_B), else `[[4]]`; with `strong`, that share of the verdicts (another
fixed draw) says "much better" instead (`[[1]]` / `[[5]]`). The draw is a hash of (seed, item, A, B), not a random
state, so the same request always gets the same verdict: a resumed or repeated run sees exactly
the answers an uninterrupted one saw, whatever order the calls arrive in.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from typing import Any, Self

from harness.testing.openai_server import OpenAIServer, Reply

_TAG = re.compile(r"\[planted:([^|\]]+)\|([^\]]+)\]")


def planted_answer(model: str, item: str) -> str:
    return f"An answer by {model} to item {item}. [planted:{model}|{item}]"


def planted_rows(models: list[str], n_items: int, *, skip: Mapping[str, set[int]] | None = None) -> list[dict[str, Any]]:
    """Dataset rows (one per item) answered by every model, except items listed in `skip[model]`."""
    skip = skip or {}
    rows = []
    for k in range(n_items):
        item = f"q{k:03d}"
        answers = {m: planted_answer(m, item) for m in models if k not in skip.get(m, set())}
        rows.append({"id": item, "instruction": f"Question {k}?", "answers": answers})
    return rows


def planted_category_rows(models: list[str], items_per_category: Mapping[str, int]) -> list[dict[str, Any]]:
    """Dataset rows with a `category`: `n` items per category, ids `<category>-<k>`, so a judge
    with `by_category` strengths reads the category from the item id."""
    rows = []
    for category, n_items in items_per_category.items():
        for k in range(n_items):
            item = f"{category}-{k:03d}"
            rows.append({"id": item, "instruction": f"Question {item}?", "category": category,
                         "answers": {m: planted_answer(m, item) for m in models}})
    return rows


def planted_draw(seed: int, item: str, model_a: str, model_b: str) -> float:
    """A uniform number in [0, 1) fixed by the request's content."""
    digest = hashlib.sha256(f"{seed}|{item}|{model_a}|{model_b}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


class LoopbackJudge:
    """What every planted judge shares: its loopback server (`self.server`), the calls it took,
    and closing it (also as a context manager)."""

    server: OpenAIServer

    @property
    def calls(self) -> int:
        return len(self.server.requests)

    def close(self) -> None:
        self.server.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PlantedJudge(LoopbackJudge):
    """`with PlantedJudge(strengths) as judge:` then run with `judge.spec` and `judge.base_url`."""

    def __init__(self, strengths: Mapping[str, float], *, seed: int = 0, strong: float = 0.0,
                 by_category: Mapping[str, Mapping[str, float]] | None = None):
        self.strengths = dict(strengths)
        #: category -> strengths, for items `<category>-<k>` (planted_category_rows); others use `strengths`.
        self.by_category = {c: dict(s) for c, s in (by_category or {}).items()}
        self.seed = seed
        self.strong = strong
        self.server = OpenAIServer(self._respond, model="planted")
        self.base_url = self.server.base_url
        self.spec = "openai:planted"

    def p_first_wins(self, model_a: str, model_b: str, item: str = "") -> float:
        strengths = self.by_category.get(item.rpartition("-")[0], self.strengths)
        return 1.0 / (1.0 + math.exp(strengths[model_b] - strengths[model_a]))

    def _respond(self, body: dict[str, Any]) -> Reply:
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        tags = _TAG.findall(prompt)
        if len(tags) < 2:
            return Reply(text="I cannot tell the answers apart.")
        (model_a, item), (model_b, _) = tags[0], tags[1]
        wins = planted_draw(self.seed, item, model_a, model_b) < self.p_first_wins(model_a, model_b, item)
        much = planted_draw(self.seed + 1, item, model_a, model_b) < self.strong
        return Reply(text=("[[1]]" if much else "[[2]]") if wins else ("[[5]]" if much else "[[4]]"))

