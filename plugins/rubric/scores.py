"""Reading a score from the judge's own output, and P(score) from logprobs.

The judge ends with `[[N]]` (this harness's templates, MT-Bench) or `[RESULT] N` (Prometheus).
Only the judge's output is parsed; the answer under evaluation is never read. Several marks that
disagree, or a mark outside the rubric's scale, make the output invalid rather than a guess.

P(score) comes from the exact score of every allowed answer when the call was constrained
(`choice_logprobs`), else from the top logprobs at the token holding the score's first digit.
Multi-digit scores need care: on a 1-10 scale the token "1" may be the score 1 or the start of
"10". Such a token is resolved from the next token's logprobs when the judge generated it, or
taken as a complete 1 when "10" is itself a candidate token at that position (the tokenizer
spells 10 in one token); otherwise no distribution is given (None), never a wrong one.

With `structured_output` the judge answers `{"feedback": ..., "score": N}`; the score's offset in
that text feeds the same logprob reading.
"""

from __future__ import annotations

import math
import re

from harness.logprobs import softmax, token_span
from harness.models import JudgeResponse, TokenLogprob
from harness.protocol import InvalidOutput
from harness.structured import json_verdict, object_schema, value_offset

_MARKS = (
    re.compile(r"\[\[\s*(\d+)\s*\]\]"),
    re.compile(r"\[RESULT\]\s*:?\s*(\d+)(?![\d.])", re.IGNORECASE),
)
_DIGITS = re.compile(r"\d+")


def score_choices(scale: list[int]) -> tuple[str, ...]:
    """The exact outputs a constrained judge may give: `[[min]]` .. `[[max]]`."""
    return tuple(f"[[{s}]]" for s in scale)


def score_schema(scale: list[int], reasoning: bool) -> dict:
    """The JSON schema of a structured grade: feedback first (when reasoning), then the score."""
    properties = {"feedback": {"type": "string"}} if reasoning else {}
    return object_schema({**properties, "score": {"type": "integer", "enum": list(scale)}})


def parse_json_score(text: str, scale: list[int]) -> tuple[int, int, str | None] | None:
    """Score, its offset and the feedback of a JSON grade; None when the output is not JSON."""
    found = json_verdict(text)
    if found is None:
        return None
    data, start = found
    score = data.get("score")
    if isinstance(score, str) and score.strip().isdigit():
        score = int(score)
    if not isinstance(score, int) or isinstance(score, bool):
        raise InvalidOutput("the JSON grade has no integer `score`")
    if score not in scale:
        raise InvalidOutput(f"score {score} is outside the scale {scale[0]}-{scale[-1]}")
    feedback = data.get("feedback")
    return score, value_offset(text, start, "score"), feedback if isinstance(feedback, str) else None


def parse_score(text: str, scale: list[int]) -> tuple[int, int]:
    """The score in the judge's output and the character offset of its first digit."""
    marks = sorted((m.start(1), int(m.group(1))) for pattern in _MARKS for m in pattern.finditer(text))
    if not marks:
        raise InvalidOutput("no score mark ([[N]] or [RESULT] N) in the judge output")
    scores = {score for _, score in marks}
    if len(scores) > 1:
        raise InvalidOutput(f"conflicting scores: {', '.join(map(str, sorted(scores)))}")
    offset, score = marks[-1]
    if score not in scale:
        raise InvalidOutput(f"score {score} is outside the scale {scale[0]}-{scale[-1]}")
    return score, offset


def choice_distribution(response: JudgeResponse, scale: list[int]) -> dict[int, float] | None:
    """P(score) from a constrained call's exact log-probability of every `[[N]]`, renormalised."""
    if not response.choice_logprobs:
        return None
    logps: dict[int, float] = {}
    for choice, logprob in response.choice_logprobs.items():
        m = re.fullmatch(r"\[\[(\d+)\]\]", choice.strip())
        if m and int(m.group(1)) in scale:
            logps[int(m.group(1))] = logprob
    probs = softmax(logps)
    return None if probs is None else {s: probs.get(s, 0.0) for s in scale}


def token_distribution(response: JudgeResponse, offset: int, score: int, scale: list[int]) -> dict[int, float] | None:
    """P(score) from the top logprobs at the token holding the first digit of the parsed score."""
    if not response.logprobs:
        return None
    found = token_span(response.logprobs, response.text, offset)
    if found is None:
        return None
    index, start = found
    token = response.logprobs[index]
    prefix = token.token[: offset - start]  # text of the token before the digit, e.g. " " or "[["
    own = _split(token.token, prefix)
    if own is None or not str(score).startswith(own[0]):
        return None
    following = response.logprobs[index + 1] if index + 1 < len(response.logprobs) else None
    candidates = dict(token.top)
    candidates.setdefault(token.token, token.logprob)
    numbers = {_split(text, prefix) for text in candidates}
    whole_tokens = {n[0] for n in numbers if n}
    texts = [str(s) for s in scale]
    mass: dict[int, float] = {}
    for text, logprob in candidates.items():
        split = _split(text, prefix)
        if split is None or not math.isfinite(logprob):
            continue  # not a number at this position: outside the scale, renormalised away
        digits, closed = split
        p = math.exp(logprob)
        longer = [t for t in texts if t.startswith(digits) and t != digits]
        if closed or not longer:
            _add(mass, digits, p, scale)
        elif text == token.token and following is not None:
            resolved = _continuations(following, digits, scale)
            if resolved is None:
                return None
            for value, share in resolved.items():
                mass[value] = mass.get(value, 0.0) + p * share
        elif any(t in whole_tokens for t in longer):
            _add(mass, digits, p, scale)  # the longer scores are single tokens here
        else:
            return None  # "1" could be 1 or the start of 10: no wrong distribution
    total = sum(mass.values())
    if total <= 0:
        return None
    return {s: mass.get(s, 0.0) / total for s in scale}


def expected_score(probs: dict[int, float]) -> float:
    return sum(p * s for s, p in probs.items())


def _add(mass: dict[int, float], digits: str, p: float, scale: list[int]) -> None:
    value = int(digits)
    if value in scale:
        mass[value] = mass.get(value, 0.0) + p


def _split(text: str, prefix: str) -> tuple[str, bool] | None:
    """A candidate token's number (its leading digits after the shared prefix) and whether the
    token goes on past the digits (so the number is complete). None: not a number here."""
    stripped_prefix = prefix.strip()
    body = text.lstrip()
    if stripped_prefix:
        if not body.startswith(stripped_prefix):
            return None
        body = body[len(stripped_prefix):].lstrip()
    m = _DIGITS.match(body)
    if not m:
        return None
    return m.group(0), m.end() < len(body)


def _continuations(following: TokenLogprob, digits: str, scale: list[int]) -> dict[int, float] | None:
    """How the generated number `digits` goes on, from the next token's top logprobs."""
    candidates = dict(following.top)
    candidates.setdefault(following.token, following.logprob)
    mass: dict[int, float] = {}
    for text, logprob in candidates.items():
        if not math.isfinite(logprob):
            continue
        m = _DIGITS.match(text)
        if m is None:
            value = int(digits)  # the number ends here
        elif m.end() < len(text) or len(digits + m.group(0)) >= len(str(scale[-1])):
            value = int(digits + m.group(0))
        else:
            return None  # a third digit could follow: beyond what one more token tells
        if value in scale:
            mass[value] = mass.get(value, 0.0) + math.exp(logprob)
    total = sum(mass.values())
    if total <= 0:
        return None
    return {value: p / total for value, p in mass.items()}
