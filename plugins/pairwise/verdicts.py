"""How pairwise verdict levels are read from a judge's output (what each level is worth, the
length rule and mirroring are in harness.stats.preference).

The judge writes its verdict as `[[N]]` on a five-point scale (1 = A much better ... 5 = B much
better). A single digit is one token for every common tokenizer, so the top log-probabilities
at that one position give the judge's full distribution over the five levels, on any backend
that returns logprobs, even after free-text reasoning. Arena-Hard style labels (`[[A>>B]]`) are
also understood, for templates that ask for them, but they span several tokens, so no
distribution is derived from them. The `binary` format is a forced choice, `A` or `B` (bare, or
marked `[[A]]`): the AlpacaEval-style judge whose soft preference comes from the logprobs of
that single letter. It has no "slightly", so a win counts as much better.

Only the judge's own output is parsed. Several verdict marks that disagree make the output
invalid rather than a guess.

With `structured_output` the judge is asked for JSON, `{"reasoning": ..., "verdict": V}`, where V
is the scale's integer 1-5, a label such as "A>B", or "A"/"B": the same levels in another form.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from harness.logprobs import normalized, symbol_mass, token_at
from harness.models import JudgeResponse
from harness.protocol import InvalidOutput
from harness.stats.preference import LEVELS
from harness.structured import json_verdict, object_schema, value_offset

SCALE: dict[str, str] = {str(i + 1): level for i, level in enumerate(LEVELS)}
BINARY: dict[str, str] = {"A": "A>>B", "B": "B>>A"}
LABEL_ALIASES: dict[str, str] = {
    "A>>B": "A>>B", "A>B": "A>B", "A=B": "A=B", "B=A": "A=B", "B>A": "B>A", "B>>A": "B>>A",
    "A<B": "B>A", "A<<B": "B>>A", "B<A": "A>B", "B<<A": "A>>B",
}

VerdictFormat = Literal["scale", "labels", "binary"]
#: The single-token symbols of each format whose logprobs give a distribution over levels.
SYMBOLS: dict[str, dict[str, str]] = {"scale": SCALE, "binary": BINARY}

_SCALE_MARK = re.compile(r"\[\[\s*([1-5])\s*\]\]")
_BINARY_MARK = re.compile(r"\[\[\s*([AB])\s*\]\]")
_LABEL_MARK = re.compile(r"\[\[\s*([AB]\s*(?:>>|<<|>|<|=)\s*[AB])\s*\]\]")


def verdict_choices(verdict_format: VerdictFormat) -> tuple[str, ...] | None:
    """Exact outputs a constrained judge may give when it answers with the verdict only."""
    if verdict_format == "scale":
        return tuple(f"[[{digit}]]" for digit in SCALE)
    if verdict_format == "binary":
        return tuple(BINARY)
    return None


def verdict_schema(verdict_format: VerdictFormat, reasoning: bool) -> dict[str, Any]:
    """The JSON schema of a structured verdict: optional reasoning first, then the verdict."""
    verdict: dict[str, Any]
    if verdict_format == "scale":
        verdict = {"type": "integer", "enum": [int(digit) for digit in SCALE]}
    elif verdict_format == "binary":
        verdict = {"type": "string", "enum": list(BINARY)}
    else:
        verdict = {"type": "string", "enum": list(LEVELS)}
    properties = {"reasoning": {"type": "string"}} if reasoning else {}
    return object_schema({**properties, "verdict": verdict})


def parse_json_level(text: str, verdict_format: VerdictFormat) -> tuple[str, int] | None:
    """The level of a JSON verdict and the offset of its value; None when the output is not JSON."""
    found = json_verdict(text)
    if found is None:
        return None
    data, start = found
    value = data.get("verdict")
    if verdict_format == "scale":
        level = SCALE.get(str(value)) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    elif verdict_format == "binary":
        level = BINARY.get(value) if isinstance(value, str) else None
    else:
        level = LABEL_ALIASES.get(re.sub(r"\s+", "", value)) if isinstance(value, str) else None
    if level is None:
        raise InvalidOutput(f"JSON verdict {value!r} is not one of the allowed values")
    return level, value_offset(text, start, "verdict")


def parse_level(text: str, verdict_format: VerdictFormat) -> tuple[str, int]:
    """The verdict level in the judge's output and the character offset of its mark."""
    if verdict_format == "scale":
        marks = [(SCALE[m.group(1)], m.start(1)) for m in _SCALE_MARK.finditer(text)]
    elif verdict_format == "binary":
        stripped = text.strip()
        if stripped in BINARY:
            return BINARY[stripped], text.index(stripped)
        marks = [(BINARY[m.group(1)], m.start(1)) for m in _BINARY_MARK.finditer(text)]
    else:
        marks = []
        for m in _LABEL_MARK.finditer(text):
            label = re.sub(r"\s+", "", m.group(1))
            if label in LABEL_ALIASES:
                marks.append((LABEL_ALIASES[label], m.start(1)))
    if not marks:
        raise InvalidOutput("no verdict mark found in the judge output")
    levels = {level for level, _ in marks}
    if len(levels) > 1:
        raise InvalidOutput(f"conflicting verdict marks: {', '.join(sorted(levels))}")
    return marks[-1]


def level_distribution(
    response: JudgeResponse, mark_offset: int, symbols: dict[str, str]
) -> dict[str, float] | None:
    """P(level) from the top logprobs at the token holding the verdict symbol, renormalised.

    `symbols` maps token text to level (SCALE or BINARY). None when the backend gave no
    logprobs or the symbol shares its token with other text.
    """
    if not response.logprobs:
        return None
    token = token_at(response.logprobs, response.text, mark_offset)
    if token is None or token.token.strip() not in symbols:
        return None
    probs = normalized(symbol_mass(token, symbols))
    return None if probs is None else {level: round(probs.get(level, 0.0), 6) for level in LEVELS}
