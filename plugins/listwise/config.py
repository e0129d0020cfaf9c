"""Options of the listwise protocol (the `options:` section of a task file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from harness.protocol import JudgeOptions, role
from harness_plugins.pairwise.config import checked_budget


class ListwiseConfig(JudgeOptions):
    """Unmarked options change what the judge is asked (k)."""

    #: Answers the judge orders at once (K-Sort Arena uses 4).
    k: int = Field(default=4, ge=2, le=26)
    #: Which K-tuples of models are judged on which items: every K-tuple on every item (`all`),
    #: a balanced random sample of `budget` calls (`uniform`: each pass over an item's models
    #: in a seeded random order, split into K-tuples), or rounds chosen by a Gaussian-skill
    #: posterior and an upper-confidence matchmaker (`adaptive`, see tuples.py).
    tuples: Literal["all", "uniform", "adaptive"] = Field(default="all", json_schema_extra=role("selection"))
    #: Judge calls to spend with `uniform` or `adaptive`: a whole number of calls, or a fraction
    #: in (0, 1] of the full design's calls. Default: the full design.
    budget: int | float | None = Field(default=None, json_schema_extra=role("selection"))
    #: Presentation orders per tuple: cyclic rotations of the tuple's seeded order, so with the
    #: default (K) every model of the tuple is shown once in every label position.
    rotations: int | None = Field(default=None, ge=1, json_schema_extra=role("selection"))

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, value: object) -> object:
        return checked_budget(value)

    @model_validator(mode="after")
    def _rotations(self) -> ListwiseConfig:
        if self.rotations is not None and self.rotations > self.k:
            raise ValueError(f"rotations: at most k ({self.k}) distinct rotations of a tuple")
        return self

    @property
    def orders_per_tuple(self) -> int:
        return self.rotations or self.k
