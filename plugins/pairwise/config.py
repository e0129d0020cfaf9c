"""Options of the pairwise protocol (the `options:` section of a task file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.protocol import JudgeOptions


class PairwiseConfig(JudgeOptions):

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
    #: Show the item's checklist (from the dataset) to the judge as guidance, as WildBench does.
    use_checklist: bool = False
    #: Also fit Bradley-Terry with answer length and markdown (headers, list items, bold) as
    #: covariates (Arena-Hard style control), shown beside the plain rating. Needs the answers'
    #: style counts, which runs judged before this option existed do not store.
    style_control: bool = True
