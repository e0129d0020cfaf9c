"""One run directory as the report reads it: manifest, verdicts, scores, the items when reachable,
and the protocol's report view.

Runs come from `harness run` (any protocol) and from importers, so every column is optional:
the protocol's view turns whatever is present into per-item scores and its own frames, and says
what is missing instead of failing. `harness.reports.reading.read_run` builds a RunData.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.models import Item

if TYPE_CHECKING:
    from harness.protocol import Task
    from harness.reports.view import ReportView


@dataclass
class RunData:
    directory: Path
    manifest: dict[str, Any]
    protocol: str
    verdicts: pd.DataFrame
    scores: pd.DataFrame
    ranking: pd.DataFrame
    #: What the run's protocol contributes to reports (the generic view when it is not loaded).
    view: ReportView
    items: dict[str, Item] = field(default_factory=dict)
    items_note: str = ""
    #: The protocol's registered task class, for what else it supplies (its calibrator); None
    #: when the protocol is not loaded.
    task_class: type[Task] | None = None
    #: Derived frames computed once per run (item scores, a protocol's own frames).
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        task = self.manifest.get("task") or {}
        return str(task.get("name") or self.directory.name)

    @property
    def config(self) -> dict[str, Any]:
        return (self.manifest.get("protocol") or {}).get("config") or {}

    @property
    def judge_label(self) -> str:
        spec = (self.manifest.get("judge") or {}).get("spec") or {}
        if isinstance(spec, dict) and spec.get("backend"):
            return f"{spec['backend']}:{spec['model']}" if spec.get("model") else str(spec["backend"])
        judges = self.verdicts["judge"].dropna().unique() if "judge" in self.verdicts else []
        return ", ".join(map(str, judges[:3])) or "unknown judge"


# --------------------------------------------------------------------------------------------
# Canonical frames
# --------------------------------------------------------------------------------------------


def ok_verdicts(run: RunData) -> pd.DataFrame:
    return run.verdicts[run.verdicts["status"] == "ok"]


def item_scores(run: RunData) -> pd.DataFrame:
    """One score per (item, model) as the run's protocol defines it (cached)."""
    if "item_scores" not in run.cache:
        run.cache["item_scores"] = run.view.item_scores(run)
    return run.cache["item_scores"]


def mean_per_item(frame: pd.DataFrame) -> pd.DataFrame:
    """item_id, model, category, score: the mean score of each (item, model)."""
    frame = frame.assign(model=frame["model"].astype(str), category=frame["category"].fillna("(none)").astype(str))
    out = frame.groupby(["item_id", "model"], sort=True).agg(category=("category", "first"), score=("score", "mean"))
    return out.reset_index()[["item_id", "model", "category", "score"]]


def verdict_models(row: dict[str, Any]) -> list[str]:
    """The models a verdict is about, whatever the protocol."""
    names = [row.get(k) for k in ("model_a", "model_b", "model")]
    return [str(n) for n in names if isinstance(n, str) and n]


def number(value: Any) -> float | None:
    """A float, or None for what is not a finite number."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(result) else result
