"""What a judge protocol (task kind) implements: the task class a plugin registers.

The core knows nothing about pairwise comparison or rubrics: it asks the task for requests,
hands judge outputs back to it for parsing, and asks it to aggregate the stored verdicts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from harness.protocol.aggregate import REASK_PROMPT, Aggregate

if TYPE_CHECKING:
    import pandas as pd

    from harness.models import Item, JudgeRequest, JudgeResponse, TaskSpec, Verdict
    from harness.prompts import PromptRenderer
    from harness.protocol.calibrator import Calibrator
    from harness.protocol.panel_view import PanelView
    from harness.protocol.replay_view import ReplayView
    from harness.reports.view import ReportView


class Task(ABC):
    """A protocol bound to one task file and its items."""

    #: Bump when parsing or prompts change meaning, so stored judgments are not mixed up.
    version: ClassVar[str] = "1"
    #: The template used when the task file names none (a file in prompts/).
    default_template: ClassVar[str | None] = None
    #: The task file's directory, where relative paths in its options are looked up first.
    base_dir: Path | None = None
    #: True when the items were rebuilt from stored verdicts (`harness aggregate`): they carry ids
    #: and the models' names only, so `check()` must not judge the dataset by them, and the
    #: renderer may be None.
    items_from_store: bool = False
    #: How many calls the judge takes at once (set by the run before build_requests), so a
    #: protocol that asks in rounds can make each round big enough to keep the judge busy.
    concurrency: int | None = None

    def __init__(self, spec: TaskSpec, config: BaseModel, items: list[Item], prompts: PromptRenderer):
        self.spec = spec
        self.config = config
        self.items = items
        self.prompts = prompts

    @abstractmethod
    def build_requests(self) -> list[JudgeRequest]:
        """Every judge call the task needs, in a stable order."""

    def next_requests(self, results: dict[str, Verdict]) -> list[JudgeRequest]:
        """Requests that depend on earlier results (a multi-stage protocol), by request id.

        Called after each round with the stored verdicts of every request so far; return the
        requests the results now make possible (returning one already known is harmless).
        A protocol that generates material first (checklists, references) builds its judge
        requests here, so a rerun rebuilds them from stored results without calling again.
        """
        return []

    def panel_obstacle(self) -> str | None:
        """Why a panel of judges cannot judge this task (None: it can), e.g. requests planned
        from one judge's verdicts, which each judge of a panel would need planned for itself."""
        return None

    def sampling_facts(self) -> dict[str, Any] | None:
        """How the protocol chose its requests when it judged a sample of its full design (which
        sampling, calls saved), for run.json's `sampling`; None when it asks everything."""
        return None

    @abstractmethod
    def parse(self, request: JudgeRequest, response: JudgeResponse) -> dict[str, Any]:
        """Turn the judge's own output into verdict data, or raise InvalidOutput.

        Only `response` may be read for the verdict: the answers under evaluation are in the
        request and are untrusted text.
        """

    def reask_request(self, request: JudgeRequest, output: str, error: str, attempt: int) -> JudgeRequest:
        """The call that asks again after an unreadable `output`: the conversation so far, the
        judge's own reply, and a note naming what was wrong. `attempt` (1, 2, ...) is part of the
        key, so a re-ask is never answered from the cache entry of the call it replaces."""
        from harness.models import Message

        messages = (
            *request.messages,
            Message(role="assistant", content=output),
            Message(role="user", content=REASK_PROMPT.format(error=error.rstrip("."))),
        )
        return request.model_copy(update={"messages": messages, "attempt": attempt})

    @abstractmethod
    def aggregate(self, verdicts: list[Verdict]) -> Aggregate:
        """Scores and ranking from stored verdicts (invalid and failed ones counted, not scored)."""

    def category_scores(self, verdicts: list[Verdict]) -> pd.DataFrame:
        """model, score, ci_low, ci_high, n on some of the run's verdicts (one category's, for
        scores_by_category.csv): the aggregate's columns by default. A protocol whose aggregate
        computes much more than these (ratings, length control) may compute only them."""
        return self.aggregate(verdicts).scores

    def check(self) -> None:
        """Validate the task against its items before any call (raise harness.errors.BadInput)."""

    @classmethod
    def summary_facts(cls, summary: dict[str, Any]) -> list[str]:
        """Facts from `Aggregate.summary` printed after a run, after the verdict counts (one line,
        joined by semicolons). Default: none."""
        return []

    @classmethod
    def report_view(cls) -> ReportView:
        """What this protocol adds to `harness report` and `harness compare` (its per-item scores,
        judge diagnostics, comparison units, verdict cards, own sections). Default: the generic
        view, which reads a `model` and a numeric `score` per verdict. Import report code here,
        not at module level, so a run does not load it."""
        from harness.reports.view import ReportView

        return ReportView()

    @classmethod
    def calibrator(cls) -> Calibrator | None:
        """How this protocol's runs are calibrated against human labels (`harness calibrate`,
        `--calibration FILE`): a harness.protocol.calibrator.Calibrator. Default: None, they
        cannot be. Import the calibration code here, not at module level."""
        return None

    @classmethod
    def panel_view(cls) -> PanelView:
        """How a panel of judges is pooled into one result and compared on this protocol, so a
        panel needs no protocol in the core. Default: the protocol's aggregate over every judge's
        verdicts, no agreement measure. Imported here, so a single-judge run does not load it."""
        from harness.protocol.panel_view import PanelView

        return PanelView()

    @classmethod
    def replay_view(cls) -> ReplayView:
        """How `replay:RUN_DIR` finds the stored verdict a request asks about and answers as a
        judge would, so the protocol's own parser reads it. Default: by request id (else item and
        model), answering with the stored judge output."""
        from harness.protocol.replay_view import ReplayView

        return ReplayView()


@dataclass(frozen=True)
class TaskKind:
    """A protocol as a plugin registers it."""

    name: str
    config_model: type[BaseModel]
    task_class: type[Task]
    description: str = ""
