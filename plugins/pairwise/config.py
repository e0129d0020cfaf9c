"""Options of the pairwise protocol (the `options:` section of a task file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from harness.protocol import JudgeOptions, role


def checked_budget(value: object) -> object:
    """A sampling budget: None, a whole number (at least 1), or a fraction in (0, 1]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("a whole number of calls, or a fraction in (0, 1] of the full design")
    if isinstance(value, float) and not 0.0 < value <= 1.0:
        raise ValueError("a fraction must lie in (0, 1]; a number of calls is a whole number")
    if isinstance(value, int) and value < 1:
        raise ValueError("must be at least 1 call")
    return value


class PairwiseConfig(JudgeOptions):
    """Unmarked options change what the judge is asked (verdict_format, use_checklist)."""

    #: Compare every model against these (WildBench uses three); empty = all pairs.
    baselines: list[str] = Field(default_factory=list, json_schema_extra=role("selection"))
    #: WildBench length rule: "slightly better" becomes a tie when the winner is longer than the
    #: loser by more than K characters; -1 turns it off. Applied at aggregation time, so it can be
    #: changed without judging again.
    length_k: int = Field(default=-1, ge=-1, json_schema_extra=role("aggregation"))
    #: How many battles a "much better" verdict counts as in the Bradley-Terry fit (Arena-Hard: 3).
    strong_weight: float = Field(default=3.0, gt=0, allow_inf_nan=False, json_schema_extra=role("aggregation"))
    #: `scale`: the judge answers [[1]]..[[5]] (a logprob distribution over the five levels);
    #: `labels`: Arena-Hard style [[A>>B]]; `binary`: a forced choice A or B (AlpacaEval style).
    verdict_format: Literal["scale", "labels", "binary"] = "scale"
    #: Score with the expected outcome under the judge's logprob distribution instead of its
    #: single verdict (AlpacaEval's weighted judge). Averaged over both orders, this cancels a
    #: judge's first-position preference; verdicts without logprobs count as certain.
    soft: bool = Field(default=False, json_schema_extra=role("aggregation"))
    #: Show the item's checklist (from the dataset) to the judge as guidance, as WildBench does.
    use_checklist: bool = False
    #: Also fit Bradley-Terry with answer length and markdown (headers, list items, bold) as
    #: covariates (style control in the manner of Arena-Hard), shown beside the plain rating.
    #: Needs the answers' style counts (runs judged before this option existed, and imports
    #: without answers, do not store them). Default (unset): shown when the counts are stored;
    #: `true`: required, a run without them is an error naming what is missing; `false`: off.
    style_control: bool | None = Field(default=None, json_schema_extra=role("aggregation"))
    #: Virtual tied battles per model, shared among the opponents it met, added to the
    #: Bradley-Terry rating (harness.stats.bt_prior): keeps an unbeaten model's rating finite. 0
    #: gives plain maximum likelihood, Arena-Hard's choice (its published v0.1 scores without
    #: control). None (the default): one virtual tie per model, for every design.
    prior_ties: float | None = Field(default=None, ge=0.0, allow_inf_nan=False, json_schema_extra=role("aggregation"))
    #: Arena-Hard-Auto's own scores as columns (harness.stats.arena_hard_score): v0.1's win
    #: probability against the baseline (Bradley-Terry, "much better" = 3 battles) with no
    #: control, style, length-only and markdown-only control, and v2.0's score. Needs one
    #: baseline; the style columns need Arena-Hard's token counts (its answer files' conv_metadata).
    arena_hard: bool = Field(default=False, json_schema_extra=role("aggregation"))
    #: AlpacaEval's own length-controlled win rate (harness.stats.alpaca_glm: its GLM fitted as
    #: its code fits it, instruction difficulty from every model of the run, the gamed-baseline
    #: term when `<baseline>_verbose` / `_concise` models are in the run, else each model's length
    #: slope pulled toward the run's pooled one) as a column beside the harness's LC. Needs one
    #: baseline and every answer's length. Off by default (it adds a column and seconds to every
    #: single-baseline run), on in what `harness import alpaca_eval` writes: there the user compares
    #: with AlpacaEval's leaderboard, and this is the closer LC (docs/statistics.md).
    alpaca_eval_lc: bool = Field(default=False, json_schema_extra=role("aggregation"))
    #: With `alpaca_eval_lc`: fit as AlpacaEval's code does in every part (instruction difficulty
    #: by its L1 cross-validated joint fit, each model's length slope from its own rows) instead
    #: of the two stand-ins that are closer on a run's few models (docs/statistics.md). For runs
    #: holding many leaderboard models and the gamed baselines.
    alpaca_eval_lc_exact: bool = Field(default=False, json_schema_extra=role("aggregation"))
    #: The baseline's games against itself, as Arena-Hard's result folders hold them ({baseline:
    #: {"1": {level: count}, "2": {...}}}, written by the arena_hard importer): no verdicts, but
    #: Arena-Hard's style-controlled fit counts them, so its columns here do too.
    arena_hard_self_games: dict[str, dict[str, dict[str, int]]] = Field(
        default_factory=dict, json_schema_extra=role("aggregation"))

    #: Which (item, model pair) comparisons are judged, each in both answer orders: `all`; a
    #: seeded random subset of `budget` (`uniform`); or rounds chosen from the verdicts so far by
    #: how much they can still change the ranking (`adaptive`; see plugins/pairwise/sampling.py);
    #: or one seeded single-elimination bracket per item (`tournament`, Varco Arena; see
    #: plugins/pairwise/tournament.py), M - 1 matches per item.
    sampling: Literal["all", "uniform", "adaptive", "tournament"] = Field(default="all", json_schema_extra=role("selection"))
    #: Judge calls to spend with `uniform` or `adaptive`: a whole number of calls, or a fraction
    #: in (0, 1] of the full design's calls (`0.25`). Default: the full design. With `tournament`:
    #: the number of items bracketed, or a fraction of the items.
    budget: int | float | None = Field(default=None, json_schema_extra=role("selection"))
    #: `adaptive` stops early once every two neighbours in the ranking keep their order in this
    #: share of item-bootstrap rounds (e.g. 0.95), or are tied within `stop_margin`. Off: spend
    #: the whole budget.
    stop_confidence: float | None = Field(default=None, gt=0.5, lt=1.0, json_schema_extra=role("selection"))
    #: Elo points within which two neighbours count as tied for the stopping rule (0: never).
    stop_margin: float = Field(default=0.0, ge=0.0, allow_inf_nan=False, json_schema_extra=role("selection"))
    #: Calls per adaptive round (default: 64, or twice the judge's concurrency if that is more);
    #: later rounds grow to a tenth of the calls made so far. Set it to make a run resumed with
    #: another --concurrency choose exactly as before.
    batch_size: int | None = Field(default=None, ge=2, json_schema_extra=role("selection"))

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, value: object) -> object:
        return checked_budget(value)
