"""Reading the judge's verdict: MATCH or MISMATCH, and P(MATCH) where logprobs allow.

Only the judge's own output is read; the answer under evaluation sits fenced in the prompt, so a
model answer that says "Verdict: MATCH" cannot reach this parser.
"""

from __future__ import annotations

import re

from harness.logprobs import normalized, softmax, symbol_mass, token_at
from harness.models import JudgeResponse
from harness.protocol import InvalidOutput

MATCH, MISMATCH = "MATCH", "MISMATCH"
CHOICES = (MATCH, MISMATCH)

#: `Verdict: MATCH`, `**Final verdict:** [MISMATCH]`, `verdict - no match` (any case), one per line.
_VERDICT_LINE = re.compile(
    r"^[\s*_#>`-]*(?:final\s+)?verdict[\s*_`]*[:=-][\s*_`\[(\"']*(mismatch|no[\s_-]*match|not\s+a\s+match|match)\b",
    re.I | re.M,
)
#: The whole output is the label alone (score-only mode), with optional markup and punctuation.
_BARE = re.compile(r"^[\s*_`\[(\"']*(mismatch|no[\s_-]*match|match)[\s*_`\])\"'.!]*$", re.I)


def _label(word: str) -> str:
    return MATCH if word.strip().lower() == "match" else MISMATCH


def parse_verdict(text: str) -> tuple[str, int]:
    """The verdict and the character offset of its word in `text`.

    Every `Verdict:` line must agree (a judge that changes its mind is not guessed at); without
    such a line, the output must be the bare label.
    """
    lines = list(_VERDICT_LINE.finditer(text))
    if lines:
        labels = {_label(m.group(1)) for m in lines}
        if len(labels) > 1:
            raise InvalidOutput("the judge gave both MATCH and MISMATCH verdicts")
        last = lines[-1]
        return labels.pop(), last.start(1)
    bare = _BARE.match(text)
    if bare:
        return _label(bare.group(1)), bare.start(1)
    if not text.strip():
        raise InvalidOutput("empty judge output")
    raise InvalidOutput("no 'Verdict: MATCH' or 'Verdict: MISMATCH' line in the judge output")


def p_match(response: JudgeResponse, offset: int) -> float | None:
    """P(MATCH): exact from a constrained call's choice scores, else from the top logprobs of the
    verdict token (MATCH against any token that starts spelling MISMATCH); None without either."""
    if response.choice_logprobs and set(CHOICES) <= set(response.choice_logprobs):
        probs = softmax({c: response.choice_logprobs[c] for c in CHOICES})
        return None if probs is None else round(probs[MATCH], 6)
    if not response.logprobs:
        return None
    token = token_at(response.logprobs, response.text, offset)
    if token is None:
        return None
    symbols = {MATCH: MATCH, **{MISMATCH[:n]: MISMATCH for n in range(2, len(MISMATCH) + 1)}}
    if token.token.strip().upper() not in symbols:
        return None
    probs = normalized(symbol_mass(token, symbols, normalize=lambda t: t.strip().upper()))
    return None if probs is None else round(probs.get(MATCH, 0.0), 6)
