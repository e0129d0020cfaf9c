"""A server or proxy without logprob support: detected on the first call, the run goes on, said once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.judges.openai_compat import UNEXPLAINED_REFUSALS_TO_STOP
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

ROWS = [{"id": f"q{i}", "instruction": f"question {i}", "answers": {"a": f"a{i}", "b": f"b{i}"}} for i in range(3)]


def run(tmp_path: Path, responder) -> tuple[subprocess.CompletedProcess[str], Path, OpenAIServer]:
    task = write_task(tmp_path, name="lp", protocol="pairwise", rows=ROWS,
                      options={"verdict_format": "binary", "reasoning": False, "n_bootstrap": 10})
    out = tmp_path / "run"
    with OpenAIServer(responder) as server:
        result = subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", str(task), "--judge", "openai:judge", "--base-url",
             server.base_url, "--out", str(out), "--no-progress", "--concurrency", "1"],
            capture_output=True, text=True, timeout=120,
        )
    return result, out, server


def test_a_server_refusing_logprobs_is_detected_once_and_the_run_goes_on(tmp_path: Path) -> None:
    def responder(body: dict) -> Reply:
        if "logprobs" in body:
            return Reply(status=400, error="logprobs are not supported by this proxy")
        return Reply(text="A")

    result, out, server = run(tmp_path, responder)
    assert result.returncode == 0, result.stderr
    asked = [b for b in server.requests if "logprobs" in b]
    assert len(asked) == 1  # only the first call asked; every later call went without
    assert len(server.requests) == 6 + 1
    assert result.stderr.count("refuses logprobs") == 1
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["counts"]["ok"] == 6
    assert any("refuses logprobs" in n for n in manifest["judge_notices"])
    verdicts = [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]
    assert all("probs" not in v["data"] for v in verdicts)


NO_LOGPROBS = {
    "id": "c1", "object": "chat.completion", "model": "judge",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "B"}, "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
}


def test_a_server_silently_dropping_logprobs_is_said_once(tmp_path: Path) -> None:
    result, out, server = run(tmp_path, lambda body: Reply(body=NO_LOGPROBS))
    assert result.returncode == 0, result.stderr
    assert all("logprobs" in b for b in server.requests)
    assert result.stderr.count("returns no logprobs") == 1
    assert json.loads((out / "run.json").read_text())["counts"]["ok"] == 6


def test_other_400s_every_request_gets_stop_the_run(tmp_path: Path) -> None:
    """Not a logprob refusal: no step down; the first few requests all refused stop the run."""
    result, out, server = run(tmp_path, lambda body: Reply(status=400, error="messages: too long"))
    assert result.returncode == 1 and "run failed" in result.stderr and "HTTP 400" in result.stderr
    assert len(server.requests) == UNEXPLAINED_REFUSALS_TO_STOP
    assert all("logprobs" in body for body in server.requests)  # none was asked again without them
