"""Reading a judge's probabilities: the token that holds a verdict, and distributions over a few
symbols (levels, scores, YES/NO) from top logprobs or from exact per-choice log-probabilities.

Shared by every protocol that turns a verdict token into a distribution, so the alignment of
tokens to text and the renormalisation are done one way everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TypeVar

from harness.models import TokenLogprob

K = TypeVar("K")


def token_span(tokens: tuple[TokenLogprob, ...], text: str, offset: int) -> tuple[int, int] | None:
    """Index and start of the generated token covering character `offset`, if the tokens spell
    the text exactly up to it (a backend that re-tokenised or stripped text gives None)."""
    position = 0
    for index, token in enumerate(tokens):
        end = position + len(token.token)
        if position <= offset < end:
            return (index, position) if text[position:end] == token.token else None
        position = end
    return None


def token_at(tokens: tuple[TokenLogprob, ...], text: str, offset: int) -> TokenLogprob | None:
    span = token_span(tokens, text, offset)
    return tokens[span[0]] if span is not None else None


def symbol_mass(
    token: TokenLogprob, symbols: Mapping[str, K], normalize: Callable[[str], str] = str.strip
) -> dict[K, float]:
    """Probability mass per symbol among the token and its top alternatives (spellings that
    normalise to the same symbol, such as "A" and " A", add up)."""
    candidates = dict(token.top)
    candidates.setdefault(token.token, token.logprob)
    mass: dict[K, float] = {}
    for text, logprob in candidates.items():
        key = normalize(text)
        if key in symbols and math.isfinite(logprob):
            mass[symbols[key]] = mass.get(symbols[key], 0.0) + math.exp(logprob)
    return mass


def normalized(weights: Mapping[K, float]) -> dict[K, float] | None:
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()} if total > 0 else None


def softmax(logprobs: Mapping[K, float]) -> dict[K, float] | None:
    """Renormalise log-probabilities of a closed set of answers (for example choice_logprobs)."""
    finite = {k: lp for k, lp in logprobs.items() if math.isfinite(lp)}
    if not finite:
        return None
    top = max(finite.values())
    return normalized({k: math.exp(lp - top) for k, lp in finite.items()})
