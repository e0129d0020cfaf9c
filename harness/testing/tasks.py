"""Write a dataset and a task file for a test, so protocol and plugin tests need no fixtures on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def write_task(
    directory: Path,
    *,
    name: str,
    protocol: str,
    rows: list[dict[str, Any]],
    judge: str = "openai:judge",
    options: dict[str, Any] | None = None,
    dataset_name: str = "data.jsonl",
) -> Path:
    """Write `rows` as JSONL and a task file naming it; return the task file's path."""
    data = directory / dataset_name
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    task = directory / "task.yaml"
    task.write_text(json.dumps({
        "name": name, "protocol": protocol, "dataset": {"path": data.name}, "judge": judge, "options": options or {},
    }), encoding="utf-8")
    return task


def harness_cli(*args: str, api_key: str = "sk-test", timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the `harness` command as a script would (a subprocess; exit code and both streams)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_DEBUG", "OPENAI_BASE_URL")}
    env["OPENAI_API_KEY"] = api_key
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
