"""The run a `harness run` or `harness aggregate` hands to the `harness_run_finished` hook and the
CLI prints: one type, in a module of its own so a re-aggregation needs none of the run machinery."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from harness.protocol import Aggregate
    from harness.tasks import LoadedTask


@dataclass
class RunResult:
    directory: Path
    manifest: dict[str, Any]
    aggregate: Aggregate
    loaded: LoadedTask
    #: The error most failed requests ended with (None when none failed), for the CLI's last line.
    top_error: str | None = None
    #: The items whose requests failed, in dataset order, so the CLI can name what a rerun retries.
    failed_items: tuple[str, ...] = ()

    @property
    def scores(self) -> pd.DataFrame:
        return self.aggregate.scores

    @property
    def ranking(self) -> pd.DataFrame:
        return self.aggregate.ranking

    @property
    def unfinished(self) -> int:
        """Requests without a verdict (failed after retries, or never sent): 0 for complete numbers."""
        counts = self.manifest.get("counts", {})
        return int(counts.get("failed", 0)) + int(counts.get("pending", 0))

    @property
    def complete(self) -> bool:
        """Every request has a verdict, ok or invalid: the numbers rest on everything asked."""
        return self.unfinished == 0
