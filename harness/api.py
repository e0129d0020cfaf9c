"""The Python API for notebooks: the same library calls the CLI makes, returning DataFrames."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.store import LoadedRun
from harness.store import load_run as _load_run

__all__ = ["IncompleteRunWarning", "LoadedRun", "load_run", "run"]


class IncompleteRunWarning(UserWarning):
    """The run's numbers are partial (requests pending or failed) or cannot stand (unusable verdicts)."""


def load_run(path: str | Path) -> LoadedRun:
    """A run directory as DataFrames; an IncompleteRunWarning per reason its numbers are not final
    (`run.complete`, `run.problems`, `run.pending` and `run.failed` say the same)."""
    loaded = _load_run(path)
    for problem in loaded.problems:
        warnings.warn(f"{loaded.directory}: {problem}", IncompleteRunWarning, stacklevel=2)
    return loaded


def run(
    task: str | Path,
    *,
    judge: str | list[str] | tuple[str, ...] | None = None,
    base_url: str | None = None,
    out: str | Path | None = None,
    limit: int | None = None,
    concurrency: int | None = None,
    overrides: dict[str, Any] | None = None,
    progress: bool = False,
    judge_options: dict[str, Any] | None = None,
    max_calls: int | None = None,
    prices: str | Path | None = None,
    max_cost: float | None = None,
    calibration: str | Path | None = None,
    force_calibration: bool = False,
) -> LoadedRun:
    """Run or resume a task file and return the run as DataFrames.

    `judge`: one spec, or a list of specs for a panel (every judge asked every request).

    `judge_options` are the backend's options (`rpm`, `tpm`, `max_retry_wait_s`, ...); `prices` a
    price table and `max_cost` a cap in USD, as `--prices` / `--max-cost` (docs/judges.md);
    `calibration` a file from `harness calibrate`, as `--calibration` (docs/calibration.md).
    """
    options = RunOptions(
        judge=judge, base_url=base_url, out=out, limit=limit, concurrency=concurrency, progress=progress,
        overrides=tuple(f"{k}={json.dumps(v)}" for k, v in (overrides or {}).items()),
        judge_options=dict(judge_options or {}), max_calls=max_calls, prices=prices, max_cost=max_cost,
        calibration=calibration, force_calibration=force_calibration,
    )
    return load_run(run_task(task, options).directory)
