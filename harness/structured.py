"""Helpers for protocols that ask for structured (JSON) verdicts.

A judge asked for JSON may still answer in text (the backend could not enforce the schema), and a
JSON answer may come wrapped in a Markdown fence. Protocols therefore try the JSON form first and
fall back to their text parser; both forms give the same verdict data. The character offset of a
value in the text lets the protocols read logprobs at the verdict token, as with text verdicts.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.S)


def object_schema(properties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A closed JSON object schema (every property required, nothing else), in the order given:
    OpenAI's strict mode needs exactly this, and the order makes a judge reason before it rules."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def json_verdict(text: str) -> tuple[dict[str, Any], int] | None:
    """The JSON object the judge answered with and where it starts in `text`; None for text answers."""
    body, start = text, 0
    fenced = _FENCE.match(text)
    if fenced:
        body, start = fenced.group(1), fenced.start(1)
    start += len(body) - len(body.lstrip())
    body = body.strip()
    if not body.startswith("{"):
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return (value, start) if isinstance(value, dict) else None


def value_offset(text: str, start: int, key: str) -> int:
    """Character offset of the first character of `key`'s value (inside the quotes of a string).

    The last `"key":` wins: keys are ordered with the verdict last, so an earlier mention inside
    the judge's reasoning text is not mistaken for it.
    """
    matches = list(re.compile(r'"' + re.escape(key) + r'"\s*:\s*"?').finditer(text, start))
    return matches[-1].end() if matches else start
