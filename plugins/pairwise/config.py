"""Options of the pairwise protocol (the `options:` section of a task file)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PairwiseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Compare every model against these (WildBench uses three); empty = all pairs.
    baselines: list[str] = Field(default_factory=list)
    #: WildBench length rule: "slightly better" becomes a tie when the winner is longer than the
    #: loser by more than K characters; -1 turns it off. Applied at aggregation time, so it can be
    #: changed without judging again.
    length_k: int = Field(default=-1, ge=-1)
    #: How many battles a "much better" verdict counts as in the Bradley-Terry fit (Arena-Hard: 3).
    strong_weight: float = Field(default=3.0, gt=0)
    #: `scale`: the judge answers [[1]]..[[5]] (a logprob distribution over the five levels);
    #: `labels`: Arena-Hard style [[A>>B]]; `binary`: a forced choice A or B (AlpacaEval style).
    verdict_format: Literal["scale", "labels", "binary"] = "scale"
    #: Score with the expected outcome under the judge's logprob distribution instead of its
    #: single verdict (AlpacaEval's weighted judge). Averaged over both orders, this cancels a
    #: judge's first-position preference; verdicts without logprobs count as certain.
    soft: bool = False
    #: Let the judge explain before its verdict. Off: the output is the verdict only (constrained
    #: where the backend can), which suits very small judges.
    reasoning: bool = True
    #: Show the item's checklist (from the dataset) to the judge as guidance, as WildBench does.
    use_checklist: bool = False
    max_tokens: int = Field(default=1024, ge=1)
    temperature: float = Field(default=0.0, ge=0)
    #: Ask for token logprobs to derive P(each level) and an expected reward.
    logprobs: bool = True
    top_logprobs: int = Field(default=10, ge=1, le=20)
    n_bootstrap: int = Field(default=1000, ge=0)
    seed: int = 0
