"""How one `harness run` is to be done: judges, limits, cache, budget, calibration, as the command
line or the notebook API gives them. Its own module, so what plans a run's judges
(harness.running.judges) can read it without importing the run itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.running.runner import RetryPolicy


@dataclass
class RunOptions:
    #: One judge spec, or several (a panel: every judge asked every request; see harness.running.judges).
    judge: str | tuple[str, ...] | list[str] | None = None
    base_url: str | None = None
    out: str | Path | None = None
    limit: int | None = None
    #: Judge only the items of these categories (`--category`; see harness.by_category).
    categories: tuple[str, ...] = ()
    concurrency: int | None = None
    #: Judge settings from the command line: timeout and backend options (`--judge-option k=v`).
    judge_timeout_s: float | None = None
    judge_options: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    progress: bool = True
    retry: RetryPolicy = RetryPolicy()
    #: Reuse and record judge answers in the shared judgment cache (see harness.running.cache).
    cache: bool = True
    #: Ask the judge again even where the cache has an answer, and store the new answer.
    refresh: bool = False
    cache_path: Path | None = None
    #: Stop taking new requests once this many judge calls (attempts) were made in this run.
    max_calls: int | None = None
    #: A price table (see harness.pricing); overrides the task file's `prices`.
    prices: str | Path | None = None
    #: Stop taking new requests before this invocation's spend (USD) could pass this.
    max_cost: float | None = None
    #: A calibration file from `harness calibrate` to apply (see harness.calibrate.apply), and
    #: whether to apply it even though it was made for another judge setup.
    calibration: str | Path | None = None
    force_calibration: bool = False
