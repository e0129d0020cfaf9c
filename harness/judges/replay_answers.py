"""Judge outputs that say what a stored verdict said, in the form the request asks for.

The replay judge does not hand verdict data to the run: it answers like a judge, and the
protocol's own parser reads the answer, exactly as for a live judge. So each answer is written in
the form the request asks for: the JSON of its schema, one of its constrained choices, or, for a
free-text request, the verdict marks the protocol reads. A pairwise text carries the level in all
three verdict formats (`[[2]]`, `[[A>B]]`, `[[A]]`); each format's parser reads only its own
mark, so whichever format the replaying task uses finds the same verdict.

Stored probabilities come back as logprobs: the verdict symbol is a token of its own whose top
alternatives carry log P of every symbol (and, for a constrained call, `choice_logprobs`), so the
parser's logprob reading recovers the stored distribution. Only the symbol meant to carry a
distribution is a token by itself; the other marks share tokens with the text around them, so no
distribution is read where none was stored.
"""

from __future__ import annotations

import json
import math
from typing import Any

from harness.models import JudgeRequest, JudgeResponse, TokenLogprob
from harness.stats.preference import SHARE_A, expected_share_a
from harness_plugins.pairwise.verdicts import BINARY, SCALE

#: A piece of answer text and, for a verdict symbol, log P of each alternative at that token.
Piece = tuple[str, dict[str, float] | None]

#: An answer that no protocol parser reads: replays an output the stored run found unreadable.
UNREADABLE = "(replay: the stored judge output held no readable verdict)"

_DIGIT = {level: digit for digit, level in SCALE.items()}


def respond(
    pieces: list[Piece], request: JudgeRequest, choice_logprobs: dict[str, float] | None = None
) -> JudgeResponse:
    """The answer text, with token logprobs only where a piece carries a distribution and the
    request asked for logprobs (as a real judge would)."""
    text = "".join(piece for piece, _ in pieces)
    wants = request.sampling.logprobs
    tokens = None
    if wants and any(top for _, top in pieces):
        tokens = tuple(
            TokenLogprob(token=piece, logprob=top.get(piece.strip(), -math.inf) if top else 0.0, top=top or {})
            for piece, top in _coalesced(pieces)
        )
    return JudgeResponse(text=text, logprobs=tokens, choice_logprobs=choice_logprobs if wants else None)


def _coalesced(pieces: list[Piece]) -> list[Piece]:
    """Neighbouring pieces without a distribution joined into one token, so a symbol that
    carries none never stands alone (a parser would read a lone symbol as certain)."""
    merged: list[Piece] = []
    for piece, top in pieces:
        if not piece:
            continue
        if not top and merged and not merged[-1][1]:
            merged[-1] = (merged[-1][0] + piece, None)
        else:
            merged.append((piece, top or None))
    return merged


def logs(probs: dict[str, float]) -> dict[str, float]:
    """log P of every symbol with some probability (a zero has no logprob to give)."""
    return {symbol: math.log(p) for symbol, p in probs.items() if p > 0}


# -- pairwise ---------------------------------------------------------------------------------------
def share_a(level: str, probs: dict[str, float] | None) -> float:
    """P(position A preferred), a tie counting half: what a forced A/B choice can carry."""
    return expected_share_a(probs or {level: 1.0})


def binary_letter(level: str, probs: dict[str, float] | None) -> tuple[str, dict[str, float] | None]:
    """The forced choice for a level and its A/B distribution. A choice has no "slightly" and no
    tie: a tie becomes a 50/50 choice, so its expected outcome stays a tie."""
    share = share_a(level, probs)
    letter = "A" if SHARE_A[level] > 0.5 or (level == "A=B" and share >= 0.5) else "B"
    if probs is None and level != "A=B":
        return letter, None
    return letter, logs({"A": share, "B": 1.0 - share})


def pairwise_answer(request: JudgeRequest, level: str, probs: dict[str, float] | None) -> JudgeResponse:
    """A pairwise verdict (position A's view) in the form the request asks for."""
    scale_top = logs({_DIGIT[lv]: p for lv, p in probs.items()}) if probs else None
    letter, letter_top = binary_letter(level, probs)
    schema_value = _schema_enum(request, "verdict")
    if schema_value is not None:
        if all(isinstance(v, int) for v in schema_value):
            return _json_answer(request, "verdict", int(_DIGIT[level]), _DIGIT[level], scale_top)
        if set(schema_value) == set(BINARY):
            return _json_answer(request, "verdict", letter, letter, letter_top)
        return _json_answer(request, "verdict", level, level, None)
    choices = request.constraint.choices if request.constraint else ()
    if f"[[{_DIGIT[level]}]]" in choices:
        return respond([("[[", None), (_DIGIT[level], scale_top), ("]]", None)], request)
    if letter in choices:
        return respond([(letter, letter_top)], request)
    # Free text: every format's mark, each read only by its own format's parser.
    return respond([
        ("[[", None), (_DIGIT[level], scale_top), (f"]]\n[[{level}]]\n[[", None), (letter, letter_top), ("]]", None),
    ], request)


# -- rubric -----------------------------------------------------------------------------------------
def rubric_answer(request: JudgeRequest, score: int, probs: dict[str, float] | None) -> JudgeResponse:
    """A grade; its distribution as the exact log P of every `[[N]]` (read before any token)."""
    choice_logprobs = {f"[[{s}]]": lp for s, lp in logs(probs).items()} if probs else None
    if _schema_enum(request, "score") is not None:
        return _json_answer(request, "score", score, str(score), None, choice_logprobs)
    return respond([(f"[[{score}]]", None)], request, choice_logprobs)


# -- checklist --------------------------------------------------------------------------------------
def yes_no_top(p_yes: float | None) -> dict[str, float] | None:
    return None if p_yes is None else logs({"YES": p_yes, "NO": 1.0 - p_yes})


def single_answer(request: JudgeRequest, answer: str, p_yes: float | None) -> JudgeResponse:
    """One YES/NO answer (`each` mode)."""
    top = yes_no_top(p_yes)
    if _schema_enum(request, "answer") is not None:
        return _json_answer(request, "answer", answer, answer, top)
    return respond([(answer, top)], request, top if request.constraint else None)


def all_answers(request: JudgeRequest, answers: list[str], p_yes: list[float] | None) -> JudgeResponse:
    """One YES/NO per question (`all` mode), each word its own token."""
    tops = [yes_no_top(p) for p in p_yes] if p_yes and len(p_yes) == len(answers) else [None] * len(answers)
    pieces: list[Piece] = []
    if request.json_schema is not None and "answers" in request.json_schema.get("properties", {}):
        pieces.append(('{"answers": [', None))
        for index, (answer, top) in enumerate(zip(answers, tops, strict=True)):
            pieces += [(', "' if index else '"', None), (answer, top), ('"', None)]
        pieces.append(("]}", None))
    else:
        for index, (answer, top) in enumerate(zip(answers, tops, strict=True)):
            pieces += [(f"{index + 1}. ", None), (answer, top), ("\n", None)]
    return respond(pieces, request)


def questions_answer(request: JudgeRequest, questions: list[str]) -> JudgeResponse:
    """A generated checklist, as the numbered list (or JSON) the generation parser reads."""
    if request.json_schema is not None:
        return respond([(json.dumps({"questions": questions}, ensure_ascii=False), None)], request)
    return respond([("".join(f"{i + 1}. {q}\n" for i, q in enumerate(questions)), None)], request)


# -- JSON -------------------------------------------------------------------------------------------
def _schema_enum(request: JudgeRequest, key: str) -> list[Any] | None:
    """The allowed values of `key` when the request asks for JSON with that key, else None."""
    properties = (request.json_schema or {}).get("properties") or {}
    if key not in properties:
        return None
    return list(properties[key].get("enum") or [])


def _json_answer(
    request: JudgeRequest, key: str, value: Any, symbol: str, top: dict[str, float] | None,
    choice_logprobs: dict[str, float] | None = None,
) -> JudgeResponse:
    """`{"reasoning": ..., key: value}` with the value's symbol as its own token."""
    properties = (request.json_schema or {}).get("properties") or {}
    head = {name: "replayed from a stored verdict" for name in properties if name != key}
    prefix = json.dumps(head)[:-1] + (", " if head else "") + f'"{key}": '
    quote = '"' if isinstance(value, str) else ""
    return respond([(prefix + quote, None), (symbol, top), (quote + "}", None)], request, choice_logprobs)
