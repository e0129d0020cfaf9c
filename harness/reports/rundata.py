"""`RunData` and its frames, as older code imports them: they live in harness.reports.view, beside
the report view that reads them (each names the other)."""

from harness.reports.view import RunData, item_scores, mean_per_item, number, ok_verdicts, verdict_models

__all__ = ["RunData", "item_scores", "mean_per_item", "number", "ok_verdicts", "verdict_models"]
