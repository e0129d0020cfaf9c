"""What a protocol contributes to a judge panel, with generic defaults.

The panel code (harness.panel.per_judge) knows no protocol by name: it asks the task's view how to pool
the judges' verdicts into one result, what the units of inter-judge agreement are, and which of a
judge's own summary facts belong in run.json's `panel`. A protocol returns its view from
`Task.panel_view()`; the base class works for any protocol: the protocol's own aggregate over
every judge's verdicts, and no agreement measure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from harness.protocol.pooling import Pooled, kept_apart, noted

if TYPE_CHECKING:
    import pandas as pd

    from harness.models import Verdict
    from harness.protocol.aggregate import Aggregate
    from harness.stats.agreement import Level, Weights


@dataclass(frozen=True)
class PanelLabels:
    """Each judge's label per unit (the same thing judged by several judges) and how to compare
    them: the scale level of Krippendorff's alpha, the weights and categories of Cohen's kappa."""

    #: Columns judge, unit, label.
    labels: pd.DataFrame
    level: Level
    weights: Weights = None
    categories: list[float] | None = None


class PanelView:
    """Generic behaviour; every method may be overridden by a protocol's view."""

    def pool(self, task: Any, verdicts: dict[str, list[Verdict]], by_judge: dict[str, Aggregate]) -> Pooled:
        """The pooled result of the panel (`verdicts` and `by_judge` by judge label). Default: the
        protocol's aggregate over every judge's verdicts, each judge's request ids kept apart.
        `task` is the protocol's `Task` (typed loosely here: the task class returns this view, so
        the view must not import it back)."""
        base = task.aggregate(kept_apart(verdicts))
        return Pooled(replace(base, summary=noted(base.summary, "the protocol's aggregate over every judge's verdicts")),
                      "all_verdicts")

    def labels(self, verdicts: dict[str, list[Verdict]], pooled: Aggregate) -> PanelLabels | None:
        """What the judges' agreement is measured on; None (the default): no agreement measure."""
        return None

    def judge_facts(self, aggregate: Aggregate) -> dict[str, Any]:
        """Facts of one judge's own aggregate worth showing per judge (position bias, ...). Default: none."""
        return {}

    def agreement_with_pool(self, labels: PanelLabels, judge: str) -> dict[str, Any] | None:
        """How one judge agrees with the rest of the panel; None (the default): not measured."""
        return None
