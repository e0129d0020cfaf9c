"""Reading the judge's own output: a generated checklist, and YES/NO answers with P(YES).

Only the judge's output is read. The answer under evaluation sits fenced in the prompt and can
say "1. YES" as often as it likes: it never reaches these parsers.
"""

from __future__ import annotations

import re

from harness.logprobs import normalized, softmax, symbol_mass, token_at
from harness.models import JudgeResponse
from harness.protocol import InvalidOutput

ANSWERS = ("YES", "NO")

#: A list line: `1. text`, `2) text`, `- text`, `* text`, `• text` (markdown bold allowed).
_LIST_LINE = re.compile(r"^\s*(?:\d{1,3}\s*[.):]|[-*•])\s+(.*\S)\s*$")
#: An answer line of `all` mode: `N. YES` / `N. NO` (optionally bold), anything after a break.
_ANSWER_LINE = re.compile(r"^\s*\**\s*(\d{1,3})\s*[.):]\s*\**\s*(YES|NO)\b", re.M)
#: A single answer (`each` mode): YES or NO, any case, optional `Answer:` and punctuation.
_SINGLE = re.compile(r"^\s*(?:\**\s*answer\s*:?\s*)?\**\s*(yes|no)\s*\**\s*[.!]?\s*\**\s*$", re.I)


def parse_questions(text: str, max_questions: int) -> list[str]:
    """The questions of a generated checklist: list lines, deduplicated, at most `max_questions`."""
    questions: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        m = _LIST_LINE.match(line)
        if not m:
            continue
        question = m.group(1).strip().strip("*").strip()
        key = re.sub(r"\s+", " ", question).casefold()
        if not question or key in seen:
            continue
        seen.add(key)
        questions.append(question)
        if len(questions) == max_questions:
            break
    if not questions:
        raise InvalidOutput("no checklist questions (numbered or bulleted lines) in the judge output")
    return questions


def parse_all(text: str, n_questions: int) -> list[tuple[str, int]]:
    """`all` mode: the answer to each of the n questions and the character offset of its word.

    Exactly one `N. YES|NO` line per question 1..n; a missing, extra or repeated number is invalid.
    """
    found: dict[int, tuple[str, int]] = {}
    for m in _ANSWER_LINE.finditer(text):
        number = int(m.group(1))
        if number < 1 or number > n_questions:
            raise InvalidOutput(f"answer to question {number}, but the checklist has {n_questions}")
        if number in found:
            raise InvalidOutput(f"question {number} answered more than once")
        found[number] = (m.group(2), m.start(2))
    missing = [n for n in range(1, n_questions + 1) if n not in found]
    if missing:
        raise InvalidOutput(f"no answer to question(s) {', '.join(map(str, missing))}")
    return [found[n] for n in range(1, n_questions + 1)]


def parse_single(text: str, reasoning: bool) -> tuple[str, int]:
    """`each` mode: YES or NO, the whole output (or, with reasoning, its last non-empty line)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InvalidOutput("empty judge output")
    if not reasoning and len(lines) > 1:
        raise InvalidOutput("expected YES or NO only")
    last = lines[-1]
    m = _SINGLE.match(last)
    if not m:
        raise InvalidOutput("the answer is not YES or NO" + (" (on the last line)" if reasoning else ""))
    return m.group(1).upper(), text.rindex(last) + m.start(1)


def choice_p_yes(response: JudgeResponse) -> float | None:
    """P(YES) from a constrained call's exact scores of both choices."""
    scores = response.choice_logprobs or {}
    if "YES" not in scores or "NO" not in scores:
        return None
    probs = softmax({"YES": scores["YES"], "NO": scores["NO"]})
    return None if probs is None else round(probs["YES"], 6)


def token_p_yes(response: JudgeResponse, offset: int) -> float | None:
    """P(YES) from the top logprobs at the token holding the answer word, renormalised over YES/NO.

    None without logprobs, or when the answer word shares its token with other text.
    """
    if not response.logprobs:
        return None
    token = token_at(response.logprobs, response.text, offset)
    if token is None or token.token.strip().upper() not in ANSWERS:
        return None
    probs = normalized(symbol_mass(token, {a: a for a in ANSWERS}, normalize=lambda t: t.strip().upper()))
    return None if probs is None else round(probs.get("YES", 0.0), 6)
