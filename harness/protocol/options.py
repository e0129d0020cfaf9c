"""The judge options every protocol shares; a protocol's options model extends `JudgeOptions`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from harness.models import OutputChoices, Sampling
from harness.protocol.roles import role


class JudgeOptions(BaseModel):
    """Options every judge protocol shares; a protocol's options model extends it.

    `reasoning` off means the judge gives its answer only, constrained to the protocol's exact
    choices where the backend can (the embedded judge then scores every choice exactly), which
    suits very small judges.

    Each option declares what changing it changes (`json_schema_extra=role(...)`, see
    harness.protocol.roles); one without a declaration changes what the judge is asked.
    """

    model_config = ConfigDict(extra="forbid")

    #: Let the judge explain before its answer.
    reasoning: bool = True
    max_tokens: int = Field(default=1024, ge=1)
    temperature: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    #: Ask for token logprobs, from which protocols derive distributions and expected scores.
    logprobs: bool = True
    top_logprobs: int = Field(default=10, ge=1, le=20)
    #: Bootstrap rounds (over items) for every interval, and their seed.
    #: Checked here, before any judge call is paid for (the statistics refuse 0 and negative seeds
    #: too, but only once the verdicts are in); 100,000 rounds is far past where intervals settle.
    n_bootstrap: int = Field(default=1000, ge=1, le=100_000, json_schema_extra=role("aggregation"))
    seed: int = Field(default=0, ge=0, json_schema_extra=role("aggregation"))
    #: Ask for JSON matching the verdict's schema where the backend supports it (OpenAI
    #: `response_format`, llama.cpp grammars, vLLM structured outputs); text parsing otherwise.
    structured_output: bool = False
    #: Ask again (showing the judge its unreadable answer) up to this many times before an
    #: output is stored as invalid.
    reask: int = Field(default=2, ge=0, le=10)
    #: Remove reasoning traces (`<think>...</think>`) from the answers before they are judged
    #: (see harness.reasoning_traces); the answers it changed are counted per model.
    strip_reasoning: bool = True

    def request_shape(
        self, choices: tuple[str, ...] | None, *, short_max_tokens: int = 16
    ) -> tuple[Sampling, OutputChoices | None]:
        """Sampling parameters and output constraint of a judge call; with `choices` the answer
        is one of them, so a few tokens suffice."""
        sampling = Sampling(
            temperature=self.temperature,
            max_tokens=min(self.max_tokens, short_max_tokens) if choices else self.max_tokens,
            logprobs=self.logprobs,
            top_logprobs=self.top_logprobs if self.logprobs else 0,
        )
        return sampling, (OutputChoices(choices=choices) if choices else None)
