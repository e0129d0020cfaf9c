"""Shared helpers: the real CLI as a subprocess, and where the shared public judge data lives."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"


def harness_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`harness ARGS...` in a fresh process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *map(str, args)], capture_output=True, text=True, timeout=600, cwd=REPO,
    )


def read_scores(run: Path) -> dict[str, dict[str, str]]:
    with (run / "scores.csv").open(encoding="utf-8") as handle:
        return {row["model"]: row for row in csv.DictReader(handle)}


def shared_data(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared judge data not found at {path} (the public data lives in ../shared/data of the repo)")
    return path
