"""Rate limits (rpm, tpm) and the cap on total retry wait, against a real loopback server.

Expected times are lower bounds derived from the limits themselves (a bucket of one second's worth
refilled at the rate), with generous margins: behaviour, not speed targets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.running.runner import RetryPolicy
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

N_ITEMS = 12  # x 1 pair x 2 orders = 24 requests
ROWS = [{"id": f"q{i}", "instruction": f"question {i}", "answers": {"a": f"answer a{i}", "b": f"answer b{i}"}}
        for i in range(N_ITEMS)]
FAST_RETRY = RetryPolicy(max_attempts=10, initial_wait_s=0.01, max_wait_s=0.02)


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-limits-test")


def task(tmp_path: Path, n_items: int = N_ITEMS) -> Path:
    return write_task(tmp_path, name="limits", protocol="pairwise", rows=ROWS[:n_items],
                      options={"verdict_format": "binary", "reasoning": False, "n_bootstrap": 10})


def judge(tmp_path: Path, server: OpenAIServer, out: str, n_items: int = N_ITEMS, **options: Any) -> dict[str, Any]:
    result = run_task(task(tmp_path, n_items), RunOptions(
        judge="openai:judge", base_url=server.base_url, out=tmp_path / out, progress=False, cache=False,
        concurrency=8, retry=FAST_RETRY, judge_options=options))
    return result.manifest


def arrivals(server: OpenAIServer) -> list[float]:
    return sorted(s.at for s in server.served if s.path.endswith("/chat/completions"))


def test_rpm_spaces_calls_and_the_server_sees_no_burst_beyond_the_bucket(tmp_path: Path) -> None:
    rpm = 600  # 10 calls/s; the bucket holds one second's worth: 10 calls
    with OpenAIServer(lambda body: Reply(text="A")) as server:
        started = time.monotonic()
        manifest = judge(tmp_path, server, "run", rpm=rpm)
        elapsed = time.monotonic() - started
        times = arrivals(server)
    n = 2 * N_ITEMS
    assert len(times) == n and manifest["counts"]["ok"] == n
    # 10 at once, then one every 0.1 s: the last of 24 cannot start before 1.4 s (the first few
    # arrive a little late, after their connection is set up: hence the margin on the span)
    assert elapsed >= 1.4
    assert times[-1] - times[0] >= 1.4 - 0.2
    # in every window [t_i, t_j] the server saw at most bucket + rate * window calls (+1 for timer slack)
    for i in range(n):
        for j in range(i, n):
            assert j - i + 1 <= 10 + 10 * (times[j] - times[i]) + 1, (i, j, times[j] - times[i])
    [invocation] = manifest["invocations"]
    assert invocation["rate_limits"]["rpm"] == rpm and invocation["rate_limits"]["waited_s"] > 1.0


def test_without_limits_the_same_run_is_not_held_back(tmp_path: Path) -> None:
    with OpenAIServer(lambda body: Reply(text="A")) as server:
        judge(tmp_path, server, "run")
        times = arrivals(server)
    assert len(times) == 2 * N_ITEMS and times[-1] - times[0] < 1.0  # the limits above made the difference


def test_tpm_counts_the_tokens_the_server_reports(tmp_path: Path) -> None:
    tpm = 12_000  # 200 tokens/s, bucket 200
    per_call = 50  # what the server says each call used
    n = 12
    with OpenAIServer(lambda body: Reply(text="A", prompt_tokens=40, completion_tokens=10)) as server:
        manifest = judge(tmp_path, server, "run", n_items=n // 2, tpm=tpm)
        times = arrivals(server)
    assert len(times) == n and manifest["counts"]["ok"] == n
    # n * 50 tokens at 200/s with a bucket of 200, at most 8 calls' worth in flight unsettled
    assert times[-1] - times[0] >= (n * per_call - 200 - 8 * per_call) / 200 - 0.05
    [invocation] = manifest["invocations"]
    assert invocation["tokens"] == {"in": 40 * n, "out": 10 * n}


def test_a_bad_rate_limit_is_one_line_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "OPENAI_API_KEY": "sk-x"}
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(task(tmp_path)), "--judge", "openai:judge",
         "--base-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "run"), "--judge-option", "rpm=fast"],
        capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2
    message = proc.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("harness: error: judge 'openai:judge': judge option rpm='fast'")
    assert "valid number" in message


# -- the cap on total retry wait ------------------------------------------------------------------


def test_retry_wait_cap_stores_failed_and_the_next_run_retries(tmp_path: Path) -> None:
    """429 with Retry-After: 1 forever; max_retry_wait_s 1.5: one wait of 1 s fits, a second
    (2 s in total) would not, so each call is tried exactly twice although 10 attempts are allowed."""
    healthy = False

    def responder(body: dict[str, Any]) -> Reply:
        return Reply(text="A") if healthy else Reply(status=429, retry_after="1", error="slow down")

    with OpenAIServer(responder) as server:
        started = time.monotonic()
        manifest = judge(tmp_path, server, "run", n_items=1, max_retry_wait_s=1.5)
        elapsed = time.monotonic() - started
        assert len(server.requests) == 2 * 2  # 2 requests x 2 attempts
        assert 0.9 < elapsed < 10
        assert manifest["counts"] == {"ok": 0, "invalid": 0, "failed": 2, "pending": 0}
        stored = [json.loads(line) for line in (tmp_path / "run" / "verdicts.jsonl").read_text().splitlines()]
        assert all(v["status"] == "failed" for v in stored)
        assert all("after 2 attempts" in v["error"] and "max_retry_wait_s=1.5" in v["error"]
                   and "HTTP 429" in v["error"] for v in stored)
        assert manifest["invocations"][0]["errors"] == {"HTTP 429": 2}

        healthy = True
        manifest = judge(tmp_path, server, "run", n_items=1, max_retry_wait_s=1.5)
        assert len(server.requests) == 4 + 2
    assert manifest["counts"] == {"ok": 2, "invalid": 0, "failed": 0, "pending": 0}
