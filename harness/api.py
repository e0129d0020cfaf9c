"""The Python API for notebooks: the same library calls the CLI makes, returning DataFrames."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import BadInput
from harness.execute import RunOptions, run_task
from harness.store import MANIFEST_FILE, RANKING_FILE, SCORES_FILE, VERDICTS_FILE


@dataclass
class LoadedRun:
    directory: Path
    manifest: dict[str, Any]
    verdicts: pd.DataFrame
    scores: pd.DataFrame
    ranking: pd.DataFrame


def run(
    task: str | Path,
    *,
    judge: str | None = None,
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
) -> LoadedRun:
    """Run or resume a task file and return the run as DataFrames.

    `judge_options` are the backend's options (`rpm`, `tpm`, `max_retry_wait_s`, ...); `prices` a
    price table and `max_cost` a cap in USD, as `--prices` / `--max-cost` (docs/judges.md).
    """
    options = RunOptions(
        judge=judge, base_url=base_url, out=out, limit=limit, concurrency=concurrency, progress=progress,
        overrides=tuple(f"{k}={json.dumps(v)}" for k, v in (overrides or {}).items()),
        judge_options=dict(judge_options or {}), max_calls=max_calls, prices=prices, max_cost=max_cost,
    )
    return load_run(run_task(task, options).directory)


def load_run(path: str | Path) -> LoadedRun:
    """Read a run directory written by `harness run` (or an importer)."""
    directory = Path(path)
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise BadInput(f"{directory}: not a run directory (no {MANIFEST_FILE})")
    verdicts_path = directory / VERDICTS_FILE
    rows = []
    if verdicts_path.is_file():
        for line in verdicts_path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            data = record.pop("data", {})
            rows.append({**record, **{k: v for k, v in data.items() if k not in record}})
    return LoadedRun(
        directory=directory,
        manifest=json.loads(manifest_path.read_text(encoding="utf-8")),
        verdicts=pd.DataFrame(rows),
        scores=_read_csv(directory / SCORES_FILE),
        ranking=_read_csv(directory / RANKING_FILE),
    )


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()
