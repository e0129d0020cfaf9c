"""--max-calls stops a run cleanly, keeps what was judged, and a rerun continues."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

ROWS = [{"id": f"q{i}", "instruction": f"question {i}", "answers": {"a": f"answer a{i}", "b": f"answer b{i}"}}
        for i in range(6)]  # 6 items x 1 pair x 2 orders = 12 requests


def run(task: Path, out: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(task), "--judge", "openai:judge", "--base-url", url,
         "--out", str(out), "--no-progress", "--concurrency", "1", *extra],
        capture_output=True, text=True, timeout=120,
    )


def binary_task(tmp_path: Path, name: str, rows: list[dict]) -> Path:
    """A pairwise task whose judge answers one letter (a loopback server's "A" is a verdict)."""
    return write_task(tmp_path, name=name, protocol="pairwise", rows=rows,
                      options={"verdict_format": "binary", "reasoning": False, "n_bootstrap": 10})


def test_max_calls_stops_cleanly_and_a_rerun_continues(tmp_path: Path) -> None:
    task = binary_task(tmp_path, "budget", ROWS)
    out = tmp_path / "run"
    with OpenAIServer(lambda body: Reply(text="A")) as server:
        stopped = run(task, out, server.base_url, "--max-calls", "5")
        assert stopped.returncode == 1
        assert "--max-calls 5 reached" in stopped.stderr and "Traceback" not in stopped.stderr
        assert len(server.requests) == 5
        manifest = json.loads((out / "run.json").read_text())
        assert manifest["status"] == "stopped"
        assert manifest["counts"] == {"ok": 5, "invalid": 0, "failed": 0, "pending": 7}
        assert (out / "store.jsonl").read_text().count("\n") == 5

        finished = run(task, out, server.base_url)
        assert finished.returncode == 0, finished.stderr
        assert len(server.requests) == 12  # the 7 left, nothing twice
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] == "finished" and manifest["counts"]["ok"] == 12
    assert [i["calls"] for i in manifest["invocations"]] == [5, 7]


def test_reasks_count_against_max_calls_and_a_rerun_pays_only_the_rest(tmp_path: Path, monkeypatch) -> None:
    """A judge whose first answers do not parse is asked again (reask 2); each re-ask is a call,
    so --max-calls 1 makes one call (it made three), and the rerun takes the first answer from
    the cache and pays only for the re-asks."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    task = binary_task(tmp_path, "reasks", ROWS[:1])
    out = tmp_path / "run"
    seen: list[str] = []

    def unsure_twice(body: dict) -> Reply:
        seen.append(body["messages"][-1]["content"])
        return Reply(text="A" if len(seen) % 3 == 0 else "hmm, hard to say")

    with OpenAIServer(unsure_twice) as server:
        stopped = run(task, out, server.base_url, "--max-calls", "1")
        assert stopped.returncode == 1 and "--max-calls 1 reached" in stopped.stderr, stopped.stderr
        assert len(server.requests) == 1
        assert json.loads((out / "run.json").read_text())["counts"]["pending"] == 2
        finished = run(task, out, server.base_url)
        assert finished.returncode == 0, finished.stderr
        # request 1: its first answer from the cache, then 2 re-asks; request 2: 3 calls
        assert len(server.requests) == 1 + 2 + 3


def test_max_calls_must_be_positive(tmp_path: Path) -> None:
    task = write_task(tmp_path, name="budget", protocol="pairwise", rows=ROWS)
    result = run(task, tmp_path / "run", "http://127.0.0.1:9/v1", "--max-calls", "0")
    assert result.returncode == 2 and "--max-calls" in result.stderr
