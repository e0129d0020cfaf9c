"""Drive a llama_cpp.Llama directly: prompt evaluation with prefix reuse, exact scoring of a
fixed set of answers, and greedy (or seeded) generation with per-step logprobs.

Why not `create_chat_completion`: its logprobs need `logits_all=True`, which computes and
copies the vocabulary logits of every prompt token and doubles the cost of a judge call on a
small CPU. Reading only the last position's logits after each evaluation gives the same
numbers for what a judge needs, and for a constrained verdict it gives the exact probability of
every allowed answer rather than the top-k of one position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.models import TokenLogprob


@dataclass
class EngineOutput:
    text: str
    tokens: tuple[TokenLogprob, ...]
    prompt_tokens: int
    completion_tokens: int
    #: For scored choices: the exact log-probability of every allowed answer.
    choice_logprobs: dict[str, float] | None = None


class PromptTooLong(ValueError):
    pass


class LlamaEngine:
    """One llama.cpp context. Not thread-safe: the caller runs one request at a time."""

    def __init__(self, llm: Any):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llm = llm
        self.n_vocab = llm.n_vocab()
        self.n_ctx = llm.n_ctx()
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError("the GGUF file carries no chat template")
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self._piece(llm.token_eos()),
            bos_token=self._piece(llm.token_bos()),
        )
        self._cached: list[int] = []  # the tokens whose keys and values sit in the context now
        self._stop_ids = {llm.token_eos()}

    # -- prompt -------------------------------------------------------------------------------
    def prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        formatted = self._formatter(messages=messages)  # type: ignore[arg-type]  # llama_cpp's TypedDicts are plain dicts
        tokens = self.llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)
        for stop in formatted.stop or []:
            stop_ids = self.llm.tokenize(stop.encode("utf-8"), add_bos=False, special=True)
            if len(stop_ids) == 1:
                self._stop_ids.add(stop_ids[0])
        return tokens

    def _logits_after(self, tokens: list[int]) -> np.ndarray:
        """Log-probabilities of the next token after `tokens`, reusing the cached prefix."""
        if len(tokens) >= self.n_ctx:
            raise PromptTooLong(f"{len(tokens)} tokens do not fit the context of {self.n_ctx}")
        common = 0
        limit = min(len(self._cached), len(tokens) - 1)
        while common < limit and self._cached[common] == tokens[common]:
            common += 1
        self.llm.n_tokens = common
        self.llm.eval(tokens[common:])
        self._cached = list(tokens)
        logits = np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.n_vocab,)).astype(np.float64)
        return logits - _logsumexp(logits)

    # -- scoring a fixed set of answers ----------------------------------------------------------
    def score_choices(self, prompt: list[int], choices: tuple[str, ...], top_logprobs: int = 10) -> EngineOutput:
        """The most probable of `choices`, with the exact logprob of every alternative token."""
        encoded = [self.llm.tokenize(c.encode("utf-8"), add_bos=False, special=False) for c in choices]
        memo: dict[tuple[int, ...], np.ndarray] = {}

        def logprobs_after(prefix: tuple[int, ...]) -> np.ndarray:
            if prefix not in memo:
                memo[prefix] = self._logits_after(prompt + list(prefix))
            return memo[prefix]

        totals = []
        for tokens in encoded:
            totals.append(sum(float(logprobs_after(tuple(tokens[:i]))[t]) for i, t in enumerate(tokens)))
        best = encoded[int(np.argmax(totals))]
        steps = []
        for i, token in enumerate(best):
            dist = logprobs_after(tuple(best[:i]))
            alternatives = {tokens[i] for tokens in encoded if len(tokens) > i and tokens[:i] == best[:i]}
            steps.append(self._token_logprob(token, dist, alternatives, top_logprobs))
        return EngineOutput(
            text=self._detokenize(best), tokens=tuple(steps), prompt_tokens=len(prompt), completion_tokens=len(best),
            choice_logprobs=dict(zip(choices, totals)),
        )

    # -- free generation -------------------------------------------------------------------------
    def generate(
        self, prompt: list[int], max_tokens: int, temperature: float, seed: int, top_logprobs: int = 10
    ) -> EngineOutput:
        if len(prompt) + 1 >= self.n_ctx:
            raise PromptTooLong(f"{len(prompt)} tokens do not fit the context of {self.n_ctx}")
        rng = np.random.default_rng(seed)
        generated: list[int] = []
        steps: list[TokenLogprob] = []
        budget = min(max_tokens, self.n_ctx - len(prompt) - 1)
        while len(generated) < budget:
            dist = self._logits_after(prompt + generated)
            if temperature <= 0:
                token = int(np.argmax(dist))
            else:
                scaled = np.exp((dist - dist.max()) / temperature)
                token = int(rng.choice(self.n_vocab, p=scaled / scaled.sum()))
            if token in self._stop_ids:
                break
            generated.append(token)
            steps.append(self._token_logprob(token, dist, set(), top_logprobs))
        return EngineOutput(
            text=self._detokenize(generated), tokens=tuple(steps),
            prompt_tokens=len(prompt), completion_tokens=len(generated),
        )

    # -- helpers -------------------------------------------------------------------------------
    def _token_logprob(self, token: int, dist: np.ndarray, alternatives: set[int], top_logprobs: int) -> TokenLogprob:
        k = min(top_logprobs, self.n_vocab)
        top_ids = set(np.argpartition(dist, -k)[-k:].tolist()) | alternatives | {token}
        top: dict[str, float] = {}
        for tid in sorted(top_ids, key=lambda t: -dist[t]):
            top.setdefault(self._piece(tid), float(dist[tid]))
        return TokenLogprob(token=self._piece(token), logprob=float(dist[token]), top=top)

    def _piece(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def _detokenize(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens).decode("utf-8", errors="replace")


def _logsumexp(values: np.ndarray) -> float:
    peak = float(values.max())
    return peak + float(np.log(np.exp(values - peak).sum()))
