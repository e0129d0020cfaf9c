"""How a listwise verdict is read: a full order of the K labels, best first.

Text: `[[C>A>D>B]]` (spaces allowed); structured output: `{"ranking": ["C", "A", "D", "B"]}`, an
array of the labels with the labels as its items' enum. An order must name every label exactly
once: a missing, repeated or unknown label makes the output invalid (and re-asked), never a guess.
Several order marks that disagree are invalid too. Only the judge's own output is read.
"""

from __future__ import annotations

import re
import string
from typing import Any

from harness.protocol import InvalidOutput
from harness.structured import json_verdict, object_schema

_MARK = re.compile(r"\[\[\s*([A-Za-z](?:\s*>\s*[A-Za-z])+)\s*\]\]")


def labels_for(k: int) -> list[str]:
    return list(string.ascii_uppercase[:k])


def ranking_schema(k: int, reasoning: bool) -> dict[str, Any]:
    """JSON schema of a structured order: optional reasoning first, then the labels best first."""
    labels = labels_for(k)
    ranking = {"type": "array", "items": {"type": "string", "enum": labels}, "minItems": k, "maxItems": k}
    return object_schema({**({"reasoning": {"type": "string"}} if reasoning else {}), "ranking": ranking})


def checked_order(order: list[str], k: int) -> list[str]:
    """The order if it names each of the K labels once; InvalidOutput saying what is wrong."""
    labels = labels_for(k)
    unknown = sorted(set(order) - set(labels))
    if unknown:
        raise InvalidOutput(f"unknown label(s) {', '.join(unknown)} in the order (labels: {', '.join(labels)})")
    repeated = sorted({x for x in order if order.count(x) > 1})
    if repeated:
        raise InvalidOutput(f"label(s) {', '.join(repeated)} repeated in the order")
    missing = [x for x in labels if x not in order]
    if missing:
        raise InvalidOutput(f"label(s) {', '.join(missing)} missing from the order")
    return order


def parse_json_order(text: str, k: int) -> list[str] | None:
    """The order of a JSON verdict; None when the output is not JSON."""
    found = json_verdict(text)
    if found is None:
        return None
    value = found[0].get("ranking")
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise InvalidOutput(f"JSON ranking {value!r} is not an array of labels")
    return checked_order([x.strip().upper() for x in value], k)


def parse_order(text: str, k: int) -> list[str]:
    """The order in a text verdict `[[C>A>D>B]]` (the last mark; marks that disagree: invalid)."""
    marks = [re.sub(r"\s+", "", m.group(1)).upper() for m in _MARK.finditer(text)]
    if not marks:
        raise InvalidOutput("no order mark like [[B>A>C]] found in the judge output")
    if len(set(marks)) > 1:
        raise InvalidOutput(f"conflicting order marks: {', '.join(sorted(set(marks)))}")
    return checked_order(marks[-1].split(">"), k)
