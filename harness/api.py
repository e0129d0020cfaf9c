"""The Python API for notebooks: the same library calls the CLI makes, returning DataFrames."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import BadInput
from harness.execute import RunOptions, run_task
from harness.store import (
    MANIFEST_FILE,
    RANKING_BY_JUDGE_FILE,
    RANKING_FILE,
    SCORES_BY_JUDGE_FILE,
    SCORES_FILE,
    STORE_FILE,
    VERDICTS_FILE,
    check_verdict_record,
    read_manifest_file,
    read_store,
)


@dataclass
class LoadedRun:
    directory: Path
    manifest: dict[str, Any]
    verdicts: pd.DataFrame
    scores: pd.DataFrame
    ranking: pd.DataFrame
    #: A panel's per-judge tables (a `judge` column, then the usual columns); empty otherwise.
    scores_by_judge: pd.DataFrame = field(default_factory=pd.DataFrame)
    ranking_by_judge: pd.DataFrame = field(default_factory=pd.DataFrame)


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


def load_run(path: str | Path) -> LoadedRun:
    """Read a run directory written by `harness run` (or an importer).

    A run stopped before its exports were written (killed, or a dead judge) has only run.json and
    the store: its verdicts are read from the store then. Anything unreadable is one BadInput
    naming the file (and line), never a parser's exception.
    """
    directory = Path(path)
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise BadInput(f"{directory}: not a run directory (no {MANIFEST_FILE})")
    manifest = read_manifest_file(manifest_path)
    verdicts_path = directory / VERDICTS_FILE
    if verdicts_path.is_file():
        records = _read_verdict_lines(verdicts_path)
    else:
        records = [v.model_dump(mode="json") for v in read_store(directory / STORE_FILE, by_judge=True).values()]
    rows = []
    for record in records:
        data = record.pop("data", None)
        data = data if isinstance(data, dict) else {}
        rows.append({**record, **{k: v for k, v in data.items() if k not in record}})
    return LoadedRun(
        directory=directory,
        manifest=manifest,
        verdicts=pd.DataFrame(rows),
        scores=_read_csv(directory / SCORES_FILE),
        ranking=_read_csv(directory / RANKING_FILE),
        scores_by_judge=_read_csv(directory / SCORES_BY_JUDGE_FILE),
        ranking_by_judge=_read_csv(directory / RANKING_BY_JUDGE_FILE),
    )


def _read_verdict_lines(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not UTF-8 text (byte {exc.start}); rebuild it with `harness aggregate`") from None
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise BadInput(f"{path}:{number}: not a verdict record; rebuild the file with `harness aggregate`")
        try:
            check_verdict_record(record, f"{path}:{number}", complete=False)
        except BadInput as exc:
            raise BadInput(f"{exc}; rebuild the file with `harness aggregate`") from None
        records.append(record)
    return records


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (ValueError, pd.errors.ParserError) as exc:  # UnicodeDecodeError is a ValueError
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise BadInput(f"{path}: not a readable CSV ({reason}); rebuild it with `harness aggregate`") from None
