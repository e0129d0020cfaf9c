"""Plain progress lines when stderr is not a terminal (CI), from the Progress class and the real CLI."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.running.progress import Progress
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

LINE = re.compile(
    r"^judging (\d+)/(\d+) [\d.]+/s ETA (\S+) cached (\d+) retries (\d+) reasks (\d+) invalid (\d+) failed (\d+)$"
)


def test_plain_lines_count_everything_a_paying_user_watches() -> None:
    stream = io.StringIO()  # not a terminal
    with Progress(4, already_done=1, stream=stream, interval_s=0) as progress:
        progress.cached()
        progress.advance("ok")
        progress.retried()
        progress.retried()
        progress.reasked()
        progress.advance("invalid")
        progress.advance("failed")
    lines = stream.getvalue().splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    # the opening line, one per advance, and the closing line
    assert [m.group(1) for m in parsed] == ["1", "2", "3", "4", "4"]
    assert parsed[0].group(3) == "?"  # no rate yet: no ETA
    assert parsed[-1].groups()[3:] == ("1", "2", "1", "1", "1")


def test_lines_are_spaced_by_the_interval() -> None:
    stream = io.StringIO()
    with Progress(100, stream=stream, interval_s=3600) as progress:
        for _ in range(50):
            progress.advance("ok")
    assert len(stream.getvalue().splitlines()) == 2  # the first and the last only


def test_cli_prints_plain_progress_on_a_pipe(tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "instruction": f"question {i}", "answers": {"a": "x", "b": "y"}} for i in range(3)]
    task = write_task(tmp_path, name="progress", protocol="pairwise", rows=rows, options={"n_bootstrap": 10})

    def responder(body: dict[str, Any]) -> Reply:
        reask = "could not be read" in body["messages"][-1]["content"]
        return Reply(text="[[3]]" if reask else "no verdict here")

    env = {**os.environ, "OPENAI_API_KEY": "sk-progress"}
    with OpenAIServer(responder) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", str(task), "--judge", "openai:judge", "--base-url",
             server.base_url, "--out", str(tmp_path / "run")],
            capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = [m for line in proc.stderr.splitlines() if (m := LINE.match(line))]
    assert lines and "\x1b[" not in proc.stderr  # plain text, no terminal control codes
    last = lines[-1]
    assert last.group(1) == last.group(2) == "6"
    assert last.groups()[3:] == ("0", "0", "6", "0", "0")  # every request re-asked once, then ok
