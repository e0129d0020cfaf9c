"""Options of the answer_match protocol (the `options:` section of a task file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.protocol import JudgeOptions, role


class AnswerMatchOptions(JudgeOptions):
    """`domain` is shown to the judge, so it is a judging option (the default)."""

    #: Items without a reference answer: `error` stops before any call (answer matching has
    #: nothing to match against), `skip` leaves them out of the run.
    missing_reference: Literal["error", "skip"] = Field(default="error", json_schema_extra=role("aggregation"))
    #: Shown to the judge as the task's subject, e.g. "chemistry"; purely informative.
    domain: str | None = None
