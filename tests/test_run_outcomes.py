"""Exit codes a script can trust, against real loopback servers that are stopped, flaky or slow.

0 only when every request has a verdict (ok or invalid); 1 when calls failed after their retries
or the judge is gone (everything stored is kept, the same command resumes); 2 for a judge that
is set up wrongly (no key, unknown backend, a URL that cannot be a server), before anything is
written. Every message is one line on stderr.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.errors import RunFailed
from harness.judges.base import TransientJudgeError
from harness.judges.reachability import Reachability
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

ITEMS = 4
MODELS = ("alpha", "beta", "gamma")
N_REQUESTS = ITEMS * 3 * 2  # items x pairs x orders
#: Requests of this item: the flaky server fails them every time.
DOOMED = "Question 2?"


def task_file(tmp_path: Path) -> Path:
    rows = [{"id": f"q{i}", "instruction": f"Question {i}?",
             "answers": {m: f"{m} answers question {i}" + "!" * len(m) for m in MODELS}} for i in range(ITEMS)]
    return write_task(tmp_path, name="outcomes", protocol="pairwise", rows=rows, options={"n_bootstrap": 20})


def harness(*args: str, key: str | None = "sk-outcomes") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_DEBUG", "OPENAI_API_KEY", "OPENAI_BASE_URL")}
    if key is not None:
        env["OPENAI_API_KEY"] = key
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=180, env=env)


def closed_port() -> int:
    """A port nothing listens on: bound, then closed, so connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def user_text(body: dict[str, Any]) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def verdict(body: dict[str, Any]) -> Reply:
    return Reply(text="[[2]]")


def stored(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "store.jsonl").read_text().splitlines()]


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "run.json").read_text())


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- calls that fail after their retries ------------------------------------------------------------


def test_failed_calls_exit_1_after_writing_every_file_and_the_same_command_retries_only_those(tmp_path: Path) -> None:
    task, out = task_file(tmp_path), tmp_path / "run"

    def flaky(body: dict[str, Any]) -> Reply:
        return Reply(status=503, error="overloaded") if DOOMED in user_text(body) else verdict(body)

    args = ("run", str(task), "--judge", "openai:judge", "--out", str(out), "--no-progress",
            "--judge-option", "max_attempts=2", "--judge-option", "max_retry_wait_s=5")
    with OpenAIServer(flaky) as server:
        proc = harness(*args, "--base-url", server.base_url)
    doomed = N_REQUESTS // ITEMS
    assert proc.returncode == 1, proc.stderr
    line = one_line(proc.stderr)
    assert line.startswith(f"harness: incomplete: {doomed} of {N_REQUESTS} requests failed (most common error: ")
    assert "most common error: HTTP 503 after 2 attempts" in line and "overloaded" in line
    assert f"--out {out} to retry only those" in line
    for name in ("run.json", "store.jsonl", "verdicts.jsonl", "scores.csv", "ranking.csv"):
        assert (out / name).is_file(), name
    counts = manifest(out)["counts"]
    assert counts == {"ok": N_REQUESTS - doomed, "invalid": 0, "failed": doomed, "pending": 0}
    # Recomputing the numbers does not make them complete either.
    again = harness("aggregate", str(out))
    assert again.returncode == 1
    assert one_line(again.stderr).startswith(f"harness: incomplete: {doomed} of {N_REQUESTS} requests have no verdict")

    # The same command against a healthy server asks for the failed requests only, then exits 0.
    with OpenAIServer(verdict) as server:
        again = harness(*args, "--base-url", server.base_url)
        asked = len(server.requests)
    assert again.returncode == 0, again.stderr
    assert asked == doomed
    assert manifest(out)["counts"] == {"ok": N_REQUESTS, "invalid": 0, "failed": 0, "pending": 0}
    assert harness("aggregate", str(out)).returncode == 0


def test_a_slow_server_is_not_a_dead_one(tmp_path: Path) -> None:
    """Timeouts fail calls (exit 1, incomplete) but never stop the run as unreachable."""
    task, out = task_file(tmp_path), tmp_path / "run"

    def slow(body: dict[str, Any]) -> Reply:
        return Reply(text="[[2]]", delay_s=2.0 if DOOMED in user_text(body) else 0.0)

    with OpenAIServer(slow) as server:
        proc = harness("run", str(task), "--judge", "openai:judge", "--base-url", server.base_url, "--out", str(out),
                       "--no-progress", "--judge-timeout", "0.3", "--judge-option", "max_attempts=2",
                       "--judge-option", "unreachable_after=1", "--judge-option", "unreachable_after_s=0")
    assert proc.returncode == 1, proc.stderr
    line = one_line(proc.stderr)
    assert line.startswith("harness: incomplete: 6 of 24 requests failed") and "no answer within 0.3s" in line
    assert manifest(out)["status"] == "finished"


# -- a judge that is gone ----------------------------------------------------------------------------


def test_a_stopped_server_stops_the_run_early_keeping_what_was_stored(tmp_path: Path) -> None:
    task, out = task_file(tmp_path), tmp_path / "run"
    common = ("run", str(task), "--judge", "openai:judge", "--out", str(out), "--no-progress", "--concurrency", "2")
    with OpenAIServer(verdict) as server:
        first = harness(*common, "--base-url", server.base_url, "--max-calls", "5")
    assert first.returncode == 1 and len(stored(out)) == 5

    url = f"http://127.0.0.1:{closed_port()}/v1"
    proc = harness(*common, "--base-url", url, "--judge-option", "unreachable_after=6",
                   "--judge-option", "unreachable_after_s=1")
    assert proc.returncode == 1, proc.stderr
    line = one_line(proc.stderr)
    assert line.startswith(f"harness: run failed: judge openai:judge at {url} is unreachable:")
    assert "could not connect" in line and "Connect call failed" in line and f"--out {out} to resume" in line
    run = manifest(out)
    assert run["status"] == "failed" and "unreachable" in run["invocations"][-1]["error"]
    # It stopped after a handful of connect attempts, not every request's retries (19 x 4).
    assert run["invocations"][-1]["calls"] <= 12
    records = stored(out)
    assert sum(r["status"] == "ok" for r in records) == 5

    with OpenAIServer(verdict) as server:
        resumed = harness(*common, "--base-url", server.base_url)
        asked = len(server.requests)
    assert resumed.returncode == 0, resumed.stderr
    assert asked == N_REQUESTS - 5
    assert manifest(out)["counts"]["ok"] == N_REQUESTS


def reachability(after: int, after_s: float) -> tuple[Reachability, list[float]]:
    now = [0.0]
    return Reachability("openai:j", "http://u:pw@h:1/v1", after, after_s, clock=lambda: now[0]), now


def refused() -> TransientJudgeError:
    return TransientJudgeError("connection failed (refused)", unreachable=True)


def test_reachability_needs_both_the_count_and_the_time() -> None:
    check, now = reachability(3, 5.0)
    for _ in range(10):  # a burst of refusals in one instant: a restart, not a dead judge
        check.failed(refused())
    now[0] = 5.0
    with pytest.raises(RunFailed, match=r"at http://h:1/v1 is unreachable: 11 calls in a row") as caught:
        check.failed(refused())
    assert "pw" not in str(caught.value)


def test_reachability_resets_on_any_answer_and_ignores_timeouts() -> None:
    check, now = reachability(2, 0.0)
    check.failed(refused())
    check.failed(TransientJudgeError("HTTP 503", status=503))  # the server answered: it is there
    check.failed(refused())
    check.answered()
    check.failed(refused())
    check.failed(TransientJudgeError("no answer within 1s"))  # slow is not gone: neither counts nor resets
    assert check.streak == 1
    with pytest.raises(RunFailed):
        check.failed(refused())


def test_reachability_options_are_checked() -> None:
    assert Reachability.for_judge("j", None, {"unreachable_after": 0}) is None
    from harness.errors import BadInput

    with pytest.raises(BadInput, match="unreachable_after: must be a whole number"):
        Reachability.for_judge("j", None, {"unreachable_after": 2.5})
    with pytest.raises(BadInput, match="unreachable_after_s"):
        Reachability.for_judge("j", None, {"unreachable_after_s": "soon"})


# -- configuration errors: exit 2, one line, nothing written -----------------------------------------


@pytest.mark.parametrize(("judge", "base_url", "expected"), [
    ("openai:gpt-4o", None, "OPENAI_API_KEY is not set"),
    ("nosuchbackend:model", None, "unknown judge backend 'nosuchbackend'"),
    ("openai:judge", "htp://127.0.0.1:8000/v1", "the scheme must be http or https"),
    ("openai:judge", "http://127.0.0.1:99999/v1", "out of range"),
    ("openai:judge", "localhost:8000", "the scheme must be http or https"),
    ("openai:judge", "http:///v1", "no host"),
    ("openai", "http://127.0.0.1:8000/v1", "names no model"),
    ("openai:judge", "http://127.0.0.1:8000/v1,ftp://x/v1", "the scheme must be http or https"),
    ("local:/nonexistent/judge.gguf", None, "no GGUF file at /nonexistent/judge.gguf"),
])
def test_configuration_errors_exit_2_on_one_line_before_writing(
    tmp_path: Path, judge: str, base_url: str | None, expected: str
) -> None:
    task, out = task_file(tmp_path), tmp_path / "run"
    extra = ("--base-url", base_url) if base_url else ()
    proc = harness("run", str(task), "--judge", judge, *extra, "--out", str(out), "--no-progress", key=None)
    assert proc.returncode == 2, proc.stderr
    line = one_line(proc.stderr)
    assert line.startswith("harness: error: ") and expected in line
    assert line.count(f"judge {judge}") + line.count(f"judge '{judge}'") <= 1  # the judge is named once
    assert not out.exists()


def test_a_server_that_wants_a_key_when_none_is_set_is_a_configuration_error(tmp_path: Path) -> None:
    task, out = task_file(tmp_path), tmp_path / "run"
    with OpenAIServer(lambda body: Reply(status=401, error="missing bearer token")) as server:
        proc = harness("run", str(task), "--judge", "openai:judge", "--base-url", server.base_url, "--out", str(out),
                       "--no-progress", key=None)
    assert proc.returncode == 2, proc.stderr
    line = one_line(proc.stderr)
    assert "HTTP 401" in line and "OPENAI_API_KEY is not set" in line
    assert line.count("openai:judge") == 1


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_both_transports_tell_a_refused_connection_from_a_broken_answer(transport: str) -> None:
    """Only "could not connect" counts towards a dead judge; a body cut short means the server is there."""
    import asyncio

    from harness.judges.openai_compat import OpenAIBackend
    from harness.models import JudgeRequest, JudgeSpec, Message

    request = JudgeRequest(id="r", item_id="i", messages=(Message(role="user", content="hi"),))

    async def error_from(url: str) -> TransientJudgeError:
        backend = OpenAIBackend(JudgeSpec(backend="openai", model="judge", base_url=url, timeout_s=5,
                                          options={"transport": transport}))
        await backend.start()
        try:
            with pytest.raises(TransientJudgeError) as caught:
                await backend.complete(request)
            return caught.value
        finally:
            await backend.close()

    refused = asyncio.run(error_from(f"http://127.0.0.1:{closed_port()}/v1"))
    assert refused.unreachable and refused.status is None
    with OpenAIServer(lambda body: Reply(text="x", truncate=True)) as server:
        broken = asyncio.run(error_from(server.base_url))
    assert not broken.unreachable
