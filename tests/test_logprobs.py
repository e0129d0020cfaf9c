"""Token alignment and distributions over a few symbols, as every protocol reads them."""

from __future__ import annotations

import math

import pytest

from harness.logprobs import normalized, softmax, symbol_mass, token_at, token_span
from harness.models import TokenLogprob

TOKENS = (TokenLogprob(token="Verdict", logprob=-0.1), TokenLogprob(token=": ", logprob=-0.2),
          TokenLogprob(token="[[", logprob=-0.01), TokenLogprob(token="2", logprob=-0.5),
          TokenLogprob(token="]]", logprob=-0.01))
TEXT = "Verdict: [[2]]"


def test_token_span_finds_the_token_covering_an_offset() -> None:
    assert token_span(TOKENS, TEXT, TEXT.index("2")) == (3, 11)
    assert token_at(TOKENS, TEXT, 0).token == "Verdict"
    assert token_span(TOKENS, TEXT, len(TEXT)) is None  # past the end
    # tokens that do not spell the text (a backend that stripped or re-tokenised): no guess
    assert token_span(TOKENS, "Verdict:  [[2]]", 11) is None


def test_symbol_mass_adds_spellings_and_ignores_other_tokens() -> None:
    token = TokenLogprob(token="A", logprob=math.log(0.5),
                         top={"A": math.log(0.5), " A": math.log(0.1), "B": math.log(0.2), "C": math.log(0.15)})
    mass = symbol_mass(token, {"A": "first", "B": "second"})
    assert mass == pytest.approx({"first": 0.6, "second": 0.2})
    assert normalized(mass) == pytest.approx({"first": 0.75, "second": 0.25})
    # the chosen token counts even when the top list leaves it out
    lone = TokenLogprob(token="B", logprob=math.log(0.4), top={"A": math.log(0.4)})
    assert normalized(symbol_mass(lone, {"A": "a", "B": "b"})) == pytest.approx({"a": 0.5, "b": 0.5})


def test_softmax_renormalises_and_drops_impossible_answers() -> None:
    probs = softmax({"YES": math.log(0.3), "NO": math.log(0.1), "MAYBE": -math.inf})
    assert probs == pytest.approx({"YES": 0.75, "NO": 0.25})
    assert softmax({"YES": -math.inf}) is None
    assert normalized({"a": 0.0}) is None
