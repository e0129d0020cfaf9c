"""Options of the checklist protocol (the `options:` section of a task file)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ChecklistConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: `all`: one judge call per (item, model) answering every question as `N. YES` / `N. NO`
    #: lines; `each`: one call per (item, model, question) answering YES or NO.
    mode: Literal["all", "each"] = "all"
    #: Generate a checklist (once per instruction, stored with the run) for items whose data has
    #: none. False: an item without a checklist is an error when the task loads.
    generate: bool = True
    #: At most this many generated questions per instruction (dataset checklists are used as given).
    max_questions: int = Field(default=8, ge=1, le=50)
    #: The template that asks the judge for a checklist (looked up next to the task file first).
    generate_template: str = "checklist_generate.jinja"
    #: Tokens allowed for a generated checklist.
    generate_max_tokens: int = Field(default=512, ge=1)
    #: Let the judge explain before answering. Off: answers only; in `each` mode the output is
    #: constrained to YES or NO where the backend can, which gives an exact P(YES).
    reasoning: bool = True
    max_tokens: int = Field(default=1024, ge=1)
    temperature: float = Field(default=0.0, ge=0)
    #: Ask for token logprobs, to derive P(YES) per question and an expected pass rate.
    logprobs: bool = True
    top_logprobs: int = Field(default=10, ge=1, le=20)
    n_bootstrap: int = Field(default=1000, ge=0)
    seed: int = 0
