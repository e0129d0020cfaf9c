"""Reasoning traces (`<think>...</think>`) kept away from judges and from verdict parsers.

Reasoning models write their thinking before the answer. A judge shown that trace grades the
thinking, not the answer (lighteval #869, Arena-Hard #69), so by default the answers under
evaluation are judged without it: the task option `strip_reasoning` (default true) removes every
`<think>...</think>` block, and the text before a lone `</think>` (chat templates that open the
block themselves print only its end). An answer whose trace never closed (the model ran out of
tokens while thinking) has no answer at all and becomes empty. The answers changed are counted per
model (run.json `reasoning_traces`, the run's notes). A separate reasoning field (an OpenAI-style
`reasoning_content`) never reaches an answer in the first place.

A judge's own trace is never shown to the protocol's parser (harness.running.runner calls
`without_judge_trace`), whatever the option: a verdict label inside the thinking (`[[A>>B]]` the
judge then reconsidered) must not become the verdict.
"""

from __future__ import annotations

import re

from harness.models import Item, JudgeResponse

_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_OPEN = re.compile(r"<think>", re.IGNORECASE)
_CLOSE = re.compile(r"</think>", re.IGNORECASE)


def strip_trace(text: str) -> str:
    """`text` without its reasoning trace(s); unchanged when it has none."""
    if "think>" not in text.lower():
        return text
    stripped = _BLOCK.sub("", text)
    closes = list(_CLOSE.finditer(stripped))
    if closes:  # a lone closing tag: everything before it was the trace
        stripped = stripped[closes[-1].end():]
    opened = _OPEN.search(stripped)
    if opened:  # the trace never closed: no answer follows it
        stripped = stripped[: opened.start()]
    return stripped.strip()


def strip_item_traces(items: list[Item]) -> tuple[list[Item], dict[str, int]]:
    """The items with every answer's trace removed, and how many answers changed per model
    (every model listed, zeros included, so a count of 0 is said, not left out)."""
    changed: dict[str, int] = {}
    out = []
    for item in items:
        answers = {}
        for model, text in item.answers.items():
            answers[model] = strip_trace(text)
            changed[model] = changed.get(model, 0) + (answers[model] != text)
        out.append(item.model_copy(update={"answers": answers}) if answers != item.answers else item)
    return out, dict(sorted(changed.items()))


def without_judge_trace(response: JudgeResponse) -> JudgeResponse:
    """The judge's response as its parser may see it: no trace in the text, and no logprobs of
    tokens inside the trace (a verdict token there must not become the verdict's distribution)."""
    text = strip_trace(response.text)
    if text == response.text:
        return response
    logprobs = response.logprobs
    if logprobs is not None:
        seen = ""
        for index, token in enumerate(logprobs):
            seen += token.token
            if _CLOSE.search(seen):
                logprobs = logprobs[index + 1:]
                break
        else:  # the trace never closed: no token of it is an answer
            logprobs = ()
    return response.model_copy(update={"text": text, "logprobs": logprobs})


def describe(enabled: bool, changed: dict[str, int]) -> dict[str, object]:
    """run.json's `reasoning_traces`."""
    return {"stripped": enabled, "answers_changed": changed if enabled else {}}


def note(record: dict[str, object] | None) -> str | None:
    """The run's note about traces: whether they were stripped and how many answers changed."""
    if not isinstance(record, dict):
        return None
    if not record.get("stripped"):
        return "reasoning traces (<think>...</think>) were not stripped from the answers (strip_reasoning: false)"
    changed = record.get("answers_changed") or {}
    assert isinstance(changed, dict)
    total = sum(changed.values())
    if not total:
        return None
    listed = ", ".join(f"{m} {n}" for m, n in changed.items() if n)
    return (f"reasoning traces stripped from {total} answer{'s' if total != 1 else ''} before judging ({listed}); "
            "set options.strip_reasoning=false to judge them as written")
