"""Options of the rubric protocol (the `options:` section of a task file), and the rubric model."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.protocol import JudgeOptions

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-|~|\.\.)\s*(\d+)\s*$")


class ScoreLevel(BaseModel):
    """One described band of the scale: a single score (low == high) or a range such as 1-2."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    low: int
    high: int
    description: str

    @property
    def label(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


class Rubric(BaseModel):
    """A criterion and a description for every score of an integer scale.

    `scores` maps a score (`5`) or a band of scores (`"1-2"`, as WildBench describes its 1-10
    scale) to what an answer at that level looks like. The bands must cover every integer from
    the lowest to the highest score exactly once; scores are non-negative integers.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    criterion: str = Field(min_length=1)
    scores: dict[int | str, str]

    @field_validator("scores")
    @classmethod
    def _check_scores(cls, scores: dict[int | str, str]) -> dict[int | str, str]:
        levels = _levels(scores)
        covered = [s for level in levels for s in range(level.low, level.high + 1)]
        if len(covered) < 2:
            raise ValueError("a rubric needs at least two scores")
        if len(set(covered)) != len(covered):
            raise ValueError("score levels overlap")
        if sorted(covered) != list(range(min(covered), max(covered) + 1)):
            raise ValueError("scores must be consecutive integers (a description for every score)")
        if max(covered) > 100:
            raise ValueError("scores above 100 are not supported")
        for level in levels:
            if not level.description.strip():
                raise ValueError(f"score {level.label}: empty description")
        return scores

    @property
    def levels(self) -> list[ScoreLevel]:
        """The described bands, highest first (as rubrics are usually read)."""
        return sorted(_levels(self.scores), key=lambda level: -level.low)

    @property
    def min_score(self) -> int:
        return min(level.low for level in self.levels)

    @property
    def max_score(self) -> int:
        return max(level.high for level in self.levels)

    @property
    def scale(self) -> list[int]:
        return list(range(self.min_score, self.max_score + 1))


def _levels(scores: dict[int | str, str]) -> list[ScoreLevel]:
    levels = []
    for key, description in scores.items():
        if isinstance(key, bool):
            raise ValueError(f"score {key!r} is not an integer")
        if isinstance(key, int):
            low = high = key
        else:
            text = key.strip()
            if text.isdigit():
                low = high = int(text)
            elif m := _RANGE.match(text):
                low, high = int(m.group(1)), int(m.group(2))
            else:
                raise ValueError(f"score {key!r} is not an integer or a range like '1-2'")
        if low < 0 or high < low:
            raise ValueError(f"score {key!r}: scores are non-negative, ranges go low-high")
        levels.append(ScoreLevel(low=low, high=high, description=str(description)))
    return levels


Preset = Literal["prometheus", "wb_score", "mt_bench"]


class RubricConfig(JudgeOptions):

    #: The rubric inline ({criterion, scores}); or `rubric_name` from the library `rubric_file`;
    #: or a preset's own rubric.
    rubric: Rubric | None = None
    rubric_name: str | None = None
    #: A rubric library (YAML mapping name -> {criterion, scores}); a relative path is looked up
    #: next to the task file first, then among the built-in prompts (prompts/rubrics.yaml).
    rubric_file: str = "rubrics.yaml"
    #: prometheus (1-5, with reference), wb_score (1-10; adds wb_score and wb_score_adjusted),
    #: mt_bench (1-10 single grading). Supplies the rubric unless rubric/rubric_name is given.
    preset: Preset | None = None
    #: Show the item's reference answer (when it has one).
    use_reference: bool = True
    #: Show the item's checklist to the judge as guidance (WildBench).
    use_checklist: bool = False
    top_logprobs: int = Field(default=20, ge=1, le=20)

    @model_validator(mode="after")
    def _one_rubric(self) -> RubricConfig:
        if self.rubric is not None and self.rubric_name is not None:
            raise ValueError("give either rubric or rubric_name, not both")
        if self.rubric is None and self.rubric_name is None and self.preset is None:
            raise ValueError("give a rubric, a rubric_name (from rubric_file) or a preset")
        return self
