"""Options of the checklist protocol (the `options:` section of a task file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.protocol import JudgeOptions, role


class ChecklistConfig(JudgeOptions):
    """`mode` changes what the judge is asked; the generation settings write the questions."""

    #: `all`: one judge call per (item, model) answering every question as `N. YES` / `N. NO`
    #: lines; `each`: one call per (item, model, question) answering YES or NO.
    mode: Literal["all", "each"] = "all"
    #: Generate a checklist (once per instruction, stored with the run) for items whose data has
    #: none. False: an item without a checklist is an error when the task loads.
    generate: bool = Field(default=True, json_schema_extra=role("preparation"))
    #: At most this many generated questions per instruction (dataset checklists are used as given).
    max_questions: int = Field(default=8, ge=1, le=50, json_schema_extra=role("preparation"))
    #: The template that asks the judge for a checklist (looked up next to the task file first).
    generate_template: str = Field(default="checklist_generate.jinja", json_schema_extra=role("preparation"))
    #: Tokens allowed for a generated checklist.
    generate_max_tokens: int = Field(default=512, ge=1, json_schema_extra=role("preparation"))
