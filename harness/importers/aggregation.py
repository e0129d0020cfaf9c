"""Moved: `harness aggregate` belongs to the run layer (harness.recompute), and finishes a run
as `harness run` does (harness.finish). These names stay importable from here."""

from __future__ import annotations

from harness.recompute import apply_overrides, items_from_verdicts, ordered_verdicts, recompute

__all__ = ["apply_overrides", "items_from_verdicts", "ordered_verdicts", "recompute"]
