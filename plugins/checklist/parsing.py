"""Reading the judge's own output: a generated checklist, and YES/NO answers with P(YES).

Only the judge's output is read. The answer under evaluation sits fenced in the prompt and can
say "1. YES" as often as it likes: it never reaches these parsers.

With `structured_output` the judge answers JSON instead: `{"questions": [...]}` for a generated
checklist, `{"reasoning"?, "answers": ["YES", "NO", ...]}` in `all` mode, `{"reasoning"?,
"answer": "YES"}` in `each` mode. The `json_*` parsers return None for a text answer.
"""

from __future__ import annotations

import re

from harness.logprobs import normalized, softmax, symbol_mass, token_at
from harness.models import JudgeResponse
from harness.protocol import InvalidOutput
from harness.structured import json_verdict, object_schema, value_offset

ANSWERS = ("YES", "NO")

#: A list line: `1. text`, `2) text`, `- text`, `* text`, `• text` (markdown bold allowed).
_LIST_LINE = re.compile(r"^\s*(?:\d{1,3}\s*[.):]|[-*•])\s+(.*\S)\s*$")
#: An answer line of `all` mode: `N. YES` / `N. NO` (optionally bold), anything after a break.
_ANSWER_LINE = re.compile(r"^\s*\**\s*(\d{1,3})\s*[.):]\s*\**\s*(YES|NO)\b", re.M)
#: A single answer (`each` mode): YES or NO, any case, optional `Answer:` and punctuation.
_SINGLE = re.compile(r"^\s*(?:\**\s*answer\s*:?\s*)?\**\s*(yes|no)\s*\**\s*[.!]?\s*\**\s*$", re.I)


_ANSWER_WORD = {"type": "string", "enum": list(ANSWERS)}
_QUOTED_ANSWER = re.compile(r'"(YES|NO)"')


def questions_schema() -> dict:
    return object_schema({"questions": {"type": "array", "items": {"type": "string"}}})


def answers_schema(mode: str, reasoning: bool) -> dict:
    properties = {"reasoning": {"type": "string"}} if reasoning else {}
    if mode == "all":
        return object_schema({**properties, "answers": {"type": "array", "items": _ANSWER_WORD}})
    return object_schema({**properties, "answer": _ANSWER_WORD})


def json_questions(text: str, max_questions: int) -> list[str] | None:
    found = json_verdict(text)
    if found is None:
        return None
    raw = found[0].get("questions")
    if not isinstance(raw, list):
        raise InvalidOutput("the JSON checklist has no `questions` list")
    return parse_questions("\n".join(f"- {q}" for q in raw if isinstance(q, str)), max_questions)


def json_all(text: str, n_questions: int) -> list[tuple[str, int]] | None:
    """`all` mode in JSON: one YES/NO per question, each with the offset of its word."""
    found = json_verdict(text)
    if found is None:
        return None
    data, start = found
    answers = data.get("answers")
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise InvalidOutput("the JSON reply has no `answers` list of YES/NO")
    words = [a.strip().upper() for a in answers]
    if len(words) != n_questions:
        raise InvalidOutput(f"{len(words)} answers for a checklist of {n_questions} questions")
    if any(w not in ANSWERS for w in words):
        raise InvalidOutput("every answer must be YES or NO")
    offsets = [m.start(1) for m in _QUOTED_ANSWER.finditer(text, value_offset(text, start, "answers"))]
    if len(offsets) < n_questions:
        offsets = [start] * n_questions  # unusual spelling ("yes"): answers are fine, logprobs are not read
    return list(zip(words, offsets[:n_questions]))


def json_single(text: str) -> tuple[str, int] | None:
    found = json_verdict(text)
    if found is None:
        return None
    data, start = found
    answer = data.get("answer")
    if not isinstance(answer, str) or answer.strip().upper() not in ANSWERS:
        raise InvalidOutput("the JSON reply's `answer` is not YES or NO")
    return answer.strip().upper(), value_offset(text, start, "answer")


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
