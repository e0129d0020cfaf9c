"""Fault injection against a real loopback OpenAI-compatible server, and SIGKILLs of a real CLI run.

Every expected number comes from the server's own counters or from the test's judge function,
never from the harness: the judge's answer depends only on the request's user message (a hash),
so which requests are unparseable, and what every verdict must be, is known independently.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.hookspecs import hookimpl
from harness.judges.openai_compat import OpenAIBackend
from harness.models import JudgeSpec
from harness.plugins import load_plugins
from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.running.runner import RetryPolicy
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task as write_task_file

EXPORTS = ("verdicts.jsonl", "scores.csv", "ranking.csv")
UNPARSEABLE = "Both answers have merit; I cannot pick one."
MODELS = ("base", "m1", "m2")


def write_task(directory: Path, n_items: int) -> Path:
    """n_items x 3 models, pairwise against one baseline, forced choice A/B: 4 requests per item.

    No re-asks (`reask: 0`): the judge here answers by the first user message, so a re-ask would
    get the same unparseable answer; re-asks have their own tests (tests/test_reask.py)."""
    rows = [
        {"id": f"q{i:03d}", "instruction": f"Question number {i}: explain topic {i * 7 % 13}.",
         "answers": {m: f"{m} says: answer {i} ({'detailed ' * (len(m) + i % 3)}text)." for m in MODELS}}
        for i in range(n_items)
    ]
    return write_task_file(directory, name="fault-test", protocol="pairwise", rows=rows,
                           options={"baselines": ["base"], "verdict_format": "binary", "n_bootstrap": 100,
                                    "reask": 0})


def user_text(body: dict[str, Any]) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def judge_text(body: dict[str, Any]) -> str:
    """The judge's answer: a function of the user message only (so any rerun gets the same)."""
    digest = hashlib.sha256(user_text(body).encode()).digest()
    if digest[1] % 6 == 0:
        return UNPARSEABLE
    return f"Weighing both answers. [[{'A' if digest[0] % 2 else 'B'}]]"


def expected_level(output: str) -> str | None:
    return {"[[A]]": "A>>B", "[[B]]": "B>>A"}.get(output[-5:]) if output != UNPARSEABLE else None


class FaultyJudge:
    """Answers with `judge_text`, but about `rate` of attempts get a fault (which attempts: a seeded
    RNG; which fault: each kind in turn, so every kind occurs whatever order requests arrive in).

    A request gets at most `max_faults` faults (so a retry policy with more attempts always ends
    ok); `only_first_attempt` limits faults to the very first attempt of a request.
    """

    def __init__(self, kinds: dict[str, Callable[[dict[str, Any]], Reply]], *, seed: int, rate: float,
                 max_faults: int, only_first_attempt: bool = False):
        self.kinds = kinds
        self.rng = random.Random(seed)
        self.rate = rate
        self.max_faults = max_faults
        self.only_first_attempt = only_first_attempt
        self.lock = threading.Lock()
        self.attempts: Counter[str] = Counter()
        self.faults_by_key: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()  # non-fault answers by user message
        self.bodies: dict[str, dict[str, Any]] = {}

    def __call__(self, body: dict[str, Any]) -> Reply:
        key = user_text(body)
        with self.lock:
            self.attempts[key] += 1
            self.bodies.setdefault(key, body)
            allowed = self.faults_by_key[key] < self.max_faults and (
                not self.only_first_attempt or self.attempts[key] == 1)
            if allowed and self.rng.random() < self.rate:
                kind = sorted(self.kinds)[sum(self.injected.values()) % len(self.kinds)]  # each in turn
                self.faults_by_key[key] += 1
                self.injected[kind] += 1
                return self.kinds[kind](body)
            self.answered[key] += 1
        return Reply(text=judge_text(body))


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "run.json").read_text())


def cli_command(task: Path, url: str, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", "run", str(task), "--judge", "openai:judge", "--base-url", url,
            "--out", str(out), "--no-progress", "--concurrency", "8", *extra]


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_DEBUG"}
    env["OPENAI_API_KEY"] = "sk-fault-test"
    return env


def check_verdicts(out: Path, n_requests: int, bodies: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per request, no duplicates; ok/invalid exactly as the judge function says."""
    verdicts = records(out)
    assert len(verdicts) == n_requests
    assert len({v["request_id"] for v in verdicts}) == n_requests
    assert len(bodies) == n_requests  # distinct requests the server saw
    expected_outputs = Counter(judge_text(b) for b in bodies.values())
    assert Counter(v["output"] for v in verdicts) == expected_outputs
    n_invalid = expected_outputs[UNPARSEABLE]
    assert 0 < n_invalid < n_requests  # the data exercises both outcomes
    assert Counter(v["status"] for v in verdicts) == Counter({"ok": n_requests - n_invalid, "invalid": n_invalid})
    for v in verdicts:
        level = expected_level(v["output"])
        if level is None:
            assert v["status"] == "invalid" and "level" not in v["data"]
        else:
            assert v["status"] == "ok" and v["data"]["level"] == level
    return verdicts


# -- transient faults of every kind, retried to the end ----------------------------------------------

CLIENT_TIMEOUT_S = 0.5
SLOW_S = 1.5


class ShortTimeoutOpenAI:
    """Registers `openai-short`: the real OpenAIBackend with `timeout_s` = CLIENT_TIMEOUT_S.

    Neither the CLI nor RunOptions nor a task file can set JudgeSpec.timeout_s, so a test plugin
    (the same hook third-party backends use) builds the backend with it.
    """

    @hookimpl
    def harness_register_judges(self, register: Callable[..., None]) -> None:
        def factory(spec: JudgeSpec) -> OpenAIBackend:
            return OpenAIBackend(spec.model_copy(update={"timeout_s": CLIENT_TIMEOUT_S}))

        register("openai-short", factory)


TRANSIENT_FAULTS: dict[str, Callable[[dict[str, Any]], Reply]] = {
    "http_429": lambda body: Reply(status=429, retry_after="0", error="rate limited"),
    "http_500": lambda body: Reply(status=500, error="internal error"),
    "malformed": lambda body: Reply(malformed=True),
    "truncate": lambda body: Reply(text=judge_text(body), truncate=True),
    "slow": lambda body: Reply(text=judge_text(body), delay_s=SLOW_S),
}


def test_transient_faults_are_retried_and_every_request_ends_once(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fault-test")
    n_requests = 10 * 2 * 2  # items x pairs with the baseline x orders
    task = write_task(tmp_path, n_items=10)
    out = tmp_path / "run"
    judge = FaultyJudge(TRANSIENT_FAULTS, seed=20261123, rate=0.3, max_faults=4)
    plugins = load_plugins(extra=[ShortTimeoutOpenAI()])
    with OpenAIServer(judge) as server:
        run_task(task, RunOptions(
            judge="openai-short:judge", base_url=server.base_url, out=out, progress=False, concurrency=8,
            cache=False, retry=RetryPolicy(max_attempts=8, initial_wait_s=0.001, max_wait_s=0.01),
        ), plugins=plugins)
        served = server.requests
        server_faults = server.faults
        max_in_flight = server.max_in_flight

    # the faults really happened, every kind of them, at about the rate asked for
    attempts = sum(judge.attempts.values())
    assert len(served) == attempts
    assert set(judge.injected) == set(TRANSIENT_FAULTS)
    assert 0.15 < sum(judge.injected.values()) / attempts < 0.45
    # the server's own fault counter agrees (a slow answer is a 200 to the server: not counted there)
    assert server_faults == Counter({k: n for k, n in judge.injected.items() if k != "slow"})
    assert max_in_flight <= 8

    check_verdicts(out, n_requests, judge.bodies)
    # every request was answered properly exactly once: no retry after success, no duplicate call
    assert set(judge.answered.values()) == {1}
    assert len(judge.answered) == n_requests

    m = manifest(out)
    n_invalid = Counter(judge_text(b) for b in judge.bodies.values())[UNPARSEABLE]
    assert m["counts"] == {"ok": n_requests - n_invalid, "invalid": n_invalid, "failed": 0, "pending": 0}
    [invocation] = m["invocations"]
    assert invocation["calls"] == len(served)
    assert invocation["retries"] == sum(judge.injected.values())  # every transient fault, one retry
    assert invocation["retries"] == len(served) - n_requests
    assert invocation["errors"] == {}


# -- SIGKILL at random points, resumed to the same files as a clean run ------------------------------

KILL_FAULTS: dict[str, Callable[[dict[str, Any]], Reply]] = {
    "http_429": lambda body: Reply(status=429, retry_after="0", error="rate limited"),
    "http_503": lambda body: Reply(status=503, retry_after="0", error="overloaded"),
}


def store_lines(out: Path) -> int:
    try:
        return (out / "store.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def run_until(command: list[str], out: Path, ready: Callable[[], bool], deadline_s: float = 60.0) -> int | None:
    """Start the CLI; SIGKILL it as soon as `ready()` holds. Returns the store lines at the kill,
    or None when the run ended by itself first."""
    proc = subprocess.Popen(command, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if ready():
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                assert proc.returncode == -signal.SIGKILL
                return store_lines(out)
            if proc.poll() is not None:
                return None
            time.sleep(0.002)
        raise AssertionError("the run neither finished nor reached the kill point in time")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stderr.close()  # type: ignore[union-attr]


@pytest.mark.slow
def test_sigkill_at_random_points_resumes_to_the_files_of_a_clean_run(tmp_path: Path) -> None:
    n_items = 30
    n_requests = n_items * 2 * 2
    task = write_task(tmp_path, n_items=n_items)
    out = tmp_path / "killed"
    rng = random.Random(7)
    # kill points: k store lines, k drawn at random (distinct, increasing, leaving work to do)
    points = sorted(rng.sample(range(3, n_requests - 15), 3))
    judge = FaultyJudge(KILL_FAULTS, seed=11, rate=0.2, max_faults=1, only_first_attempt=True)
    killed_at: list[int] = []
    with OpenAIServer(judge, latency_s=0.05) as server:
        command = cli_command(task, server.base_url, out, "--no-cache")
        # one kill during start-up: as soon as the run directory's manifest exists
        assert run_until(command, out, lambda: (out / "run.json").exists()) is not None
        kills = 1
        for k in points:
            lines = run_until(command, out, lambda k=k: store_lines(out) >= k)
            assert lines is not None, f"the run finished before reaching {k} stored verdicts"
            assert lines < n_requests
            killed_at.append(lines)
            kills += 1
        final = subprocess.run(command, env=cli_env(), capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
        served = server.requests
    assert len(killed_at) == 3 and killed_at == sorted(killed_at)

    check_verdicts(out, n_requests, judge.bodies)
    # the store is what a resumed run relies on: a request is answered at most once per run that
    # had it in flight when killed, plus the one that was stored
    assert max(judge.answered.values()) <= kills + 1
    # a kill loses at most the calls in flight (--concurrency 8): nothing else is paid twice
    assert sum(judge.answered.values()) <= n_requests + 8 * kills
    assert all(judge.attempts[key] <= kills + 1 + judge.faults_by_key[key] for key in judge.attempts)
    assert len(served) == sum(judge.attempts.values())
    assert sum(judge.injected.values()) > 0
    m = manifest(out)
    assert m["counts"]["pending"] == 0 and len(m["invocations"]) == kills + 1
    # the store may hold no two records of one request (a killed run never re-sends a stored one)
    stored = [json.loads(line) for line in (out / "store.jsonl").read_text().splitlines() if line.strip()]
    keys = Counter(r["request_key"] for r in stored)
    assert max(keys.values()) == 1 and len(keys) == n_requests

    clean = tmp_path / "clean"
    with OpenAIServer(lambda body: Reply(text=judge_text(body)), latency_s=0.0) as server:
        proc = subprocess.run(cli_command(task, server.base_url, clean, "--no-cache"), env=cli_env(),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert len(server.requests) == n_requests
    for name in EXPORTS:
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name


# -- the judgment cache: a second run pays for nothing ------------------------------------------------


def test_second_run_new_or_same_directory_makes_no_calls(tmp_path: Path) -> None:
    n_requests = 10 * 2 * 2
    task = write_task(tmp_path, n_items=10)
    first, second = tmp_path / "first", tmp_path / "second"
    with OpenAIServer(lambda body: Reply(text=judge_text(body))) as server:
        proc = subprocess.run(cli_command(task, server.base_url, first), env=cli_env(), capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert len(server.requests) == n_requests
        bodies = {user_text(b): b for b in server.requests}
        check_verdicts(first, n_requests, bodies)

        proc = subprocess.run(cli_command(task, server.base_url, second), env=cli_env(), capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert len(server.requests) == n_requests  # a new directory: all from the cache, invalid included
        proc = subprocess.run(cli_command(task, server.base_url, first), env=cli_env(), capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert len(server.requests) == n_requests  # the same directory: nothing pending
    for name in EXPORTS:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    [invocation] = manifest(second)["invocations"]
    assert invocation["calls"] == 0 and invocation["cache"]["hits"] == n_requests
    assert [i["calls"] for i in manifest(first)["invocations"]] == [n_requests, 0]
