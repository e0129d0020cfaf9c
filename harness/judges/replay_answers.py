"""Writing judge outputs that say what a stored verdict said, in the form the request asks for.

The replay judge does not hand verdict data to the run: it answers like a judge, and the
protocol's own parser reads the answer, exactly as for a live judge. So each answer is written in
the form the request asks for: the JSON of its schema, one of its constrained choices, or, for a
free-text request, the verdict marks the protocol reads. What to write is the protocol's replay
view's (`Task.replay_view()`); these are the pieces every such answer is made of.

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

#: A piece of answer text and, for a verdict symbol, log P of each alternative at that token.
Piece = tuple[str, dict[str, float] | None]

#: An answer that no protocol parser reads: replays an output the stored run found unreadable.
UNREADABLE = "(replay: the stored judge output held no readable verdict)"


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


# -- JSON -------------------------------------------------------------------------------------------
def schema_enum(request: JudgeRequest, key: str) -> list[Any] | None:
    """The allowed values of `key` when the request asks for JSON with that key, else None."""
    properties = (request.json_schema or {}).get("properties") or {}
    if key not in properties:
        return None
    return list(properties[key].get("enum") or [])


def json_answer(
    request: JudgeRequest, key: str, value: Any, symbol: str, top: dict[str, float] | None,
    choice_logprobs: dict[str, float] | None = None,
) -> JudgeResponse:
    """`{"reasoning": ..., key: value}` with the value's symbol as its own token."""
    properties = (request.json_schema or {}).get("properties") or {}
    head = {name: "replayed from a stored verdict" for name in properties if name != key}
    prefix = json.dumps(head)[:-1] + (", " if head else "") + f'"{key}": '
    quote = '"' if isinstance(value, str) else ""
    return respond([(prefix + quote, None), (symbol, top), (quote + "}", None)], request, choice_logprobs)
