"""Options of the answer_match protocol (the `options:` section of a task file)."""

from __future__ import annotations

from typing import Literal

from harness.protocol import JudgeOptions


class AnswerMatchOptions(JudgeOptions):

    #: Items without a reference answer: `error` stops before any call (answer matching has
    #: nothing to match against), `skip` leaves them out of the run.
    missing_reference: Literal["error", "skip"] = "error"
    #: Shown to the judge as the task's subject, e.g. "chemistry"; purely informative.
    domain: str | None = None
