"""A pairwise judge with planted biases of known size, served over real HTTP, for testing `harness audit`.

The judge reads the two fenced answers of a pairwise prompt (`<answer_a_NONCE>` ... in label order,
as every protocol fences them) and prefers answer A with probability

    1/2 + position + length * s(len) + markdown * s(markup) + quality * s(facts)

where each s(.) is +1 when A has more of the property, -1 when B has, 0 when they are equal (for
length: equal within `min_ratio`). `facts` counts the complete `Fact k of ID: ...` sentences of a
`bias_answer`, so a degraded copy (a sentence removed, one cut short) is worse, while padding,
markup and added claims are not. With probability `obey` it instead outputs a verdict mark found
inside an answer (a planted verdict). It answers [[2]] or [[4]] ("slightly better"), or the
labels `[[A>B]]` / `[[B>A]]`, never a tie, so the audit's effects have these exact expectations:
position = `position`; verbosity = `length`; markdown = `markdown`; quality = -`quality`;
injection = `obey` / 2 (an obeyed planted verdict always favours the perturbed answer, the rest are
fair coin flips). A grading prompt (one `<response_NONCE>` fence) gets a score instead (see `grade`). The draw is a hash of (seed, prompt): the same request always gets the same
verdict, so resumed and cached runs see what an uninterrupted one saw. With `family` it also
prefers by `own` the answers a `bias_answer` says that model wrote (self-preference = `own`).
"""

from __future__ import annotations

import re
from typing import Any

from harness.testing.openai_server import OpenAIServer, Reply
from harness.testing.planted import LoopbackJudge, planted_draw

_FENCE = re.compile(r"<(answer_[ab]|response)_([0-9a-f]{10})>\n(.*?)\n</\1_\2>", re.S)
_SCALE = re.compile(r"integer from (\d+) to (\d+)")
_FACT = re.compile(r"Fact \d+ of [\w-]+: [^.\n]+\.")
_MARKUP = re.compile(r"^#{1,6} |^\s*[-*] |\*\*[^*\n]+\*\*", re.M)
_VERDICT = re.compile(r"\[\[\s*([1-5]|[AB]\s*(?:>>|>|=|<<|<)\s*[AB]|[AB])\s*\]\]")
_WORDS = ("river", "mountain", "library", "engine", "harvest", "signal", "bridge", "orbit", "garden", "ledger")


def bias_answer(item: str, model: str, n_facts: int = 5) -> str:
    """An answer of `n_facts` complete fact sentences (what the planted judge counts as quality)."""
    facts = []
    for k in range(1, n_facts + 1):
        word = _WORDS[int(planted_draw(0, item, model, str(k)) * len(_WORDS))]
        facts.append(f"Fact {k} of {item}: the {word} described by {model} behaves as expected in case {k}.")
    return " ".join(facts)


def bias_rows(n_items: int, models: tuple[str, ...] = ("alpha", "beta")) -> list[dict[str, Any]]:
    """Dataset rows answered by every model with fact answers."""
    return [{"id": f"q{k:03d}", "instruction": f"Explain topic {k} in a few facts.",
             "answers": {m: bias_answer(f"q{k:03d}", m) for m in models}} for k in range(n_items)]


def _sign(a: float, b: float) -> int:
    return (a > b) - (a < b)


class BiasedJudge(LoopbackJudge):
    """`with BiasedJudge(position=0.15) as judge:` then audit with `judge.spec` and `judge.base_url`."""

    def __init__(self, *, position: float = 0.0, length: float = 0.0, markdown: float = 0.0, obey: float = 0.0,
                 quality: float = 0.4, seed: int = 0, labels: bool = False, min_ratio: float = 1.1,
                 grade_length: int = 0, grade_markdown: int = 0, family: str | None = None, own: float = 0.0):
        # An audit probe changes one property at a time (answers differ in it, and A/B swap), so
        # the expectations above hold while position plus any one other bias stays within 1/2.
        if 0.5 + abs(position) + max(abs(length), abs(markdown), abs(quality)) > 1.0 or not 0.0 <= obey <= 1.0:
            raise ValueError("planted biases must keep P(A preferred) within [0, 1] for any one property")
        self.position, self.length, self.markdown, self.obey, self.quality = position, length, markdown, obey, quality
        self.seed, self.labels, self.min_ratio = seed, labels, min_ratio
        self.grade_length, self.grade_markdown = grade_length, grade_markdown
        self.family, self.own = family, own
        self.server = OpenAIServer(self._respond, model="biased")
        self.base_url = self.server.base_url
        self.spec = "openai:biased"

    def p_first(self, answer_a: str, answer_b: str) -> float:
        """P(A preferred) for two answers, from the planted biases."""
        la, lb = len(answer_a), len(answer_b)
        longer = _sign(la, lb) if max(la, lb) > self.min_ratio * max(1, min(la, lb)) else 0
        markup = _sign(len(_MARKUP.findall(answer_a)), len(_MARKUP.findall(answer_b)))
        facts = _sign(len(set(_FACT.findall(answer_a))), len(set(_FACT.findall(answer_b))))
        mine = f"described by {self.family} " if self.family else None
        own = _sign(mine in answer_a, mine in answer_b) if mine else 0
        p = 0.5 + self.position + self.length * longer + self.markdown * markup + self.quality * facts + self.own * own
        return min(1.0, max(0.0, p))

    def _respond(self, body: dict[str, Any]) -> Reply:
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        answers = {label: text for label, _, text in _FENCE.findall(prompt)}
        if set(answers) == {"response"}:
            return Reply(text=f"[[{self.grade(prompt, answers['response'])}]]")
        if set(answers) != {"answer_a", "answer_b"}:
            return Reply(text="I cannot find two answers to compare.")
        a, b = answers["answer_a"], answers["answer_b"]
        planted = _VERDICT.findall(a) or _VERDICT.findall(b)
        if planted and planted_draw(self.seed, "obey", prompt, "") < self.obey:
            return Reply(text=f"[[{planted[-1]}]]")
        first = planted_draw(self.seed, "verdict", prompt, "") < self.p_first(a, b)
        if self.labels:
            return Reply(text="[[A>B]]" if first else "[[B>A]]")
        return Reply(text="[[2]]" if first else "[[4]]")

    def grade(self, prompt: str, answer: str) -> int:
        """A grading prompt's score: the scale's bottom plus one per complete fact, `grade_length`
        more when the answer is `min_ratio` longer than its facts, `grade_markdown` more with
        markup, and a fair coin's 0 or 1; with probability `obey` a planted score instead."""
        ends = _SCALE.search(prompt)
        low, high = (int(ends.group(1)), int(ends.group(2))) if ends else (1, 10)
        planted = re.findall(r"\[\[(\d+)\]\]", answer)
        if planted and planted_draw(self.seed, "obey", prompt, "") < self.obey:
            return int(planted[-1])
        facts = set(_FACT.findall(answer))
        score = low + len(facts)
        score += self.grade_length * (len(answer) > self.min_ratio * sum(len(f) + 1 for f in facts))
        score += self.grade_markdown * bool(_MARKUP.search(answer))
        score += planted_draw(self.seed, "grade", prompt, "") < 0.5
        return min(high, max(low, score))

