"""The runner and a whole run against a real loopback OpenAI-compatible server.

Faults come from the server on a fixed schedule, so every count below is known in advance:
retries and failures, resuming, fatal errors, invalid output, concurrency and secrets.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.running.runner import RetryPolicy, Runner
from harness.store import RunDirectory, read_store
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task as write_task_file

SECRET = "sk-test-SECRET"
ANSWERS = {
    "q1": {"alpha": "Paris.", "beta": "The capital of France is Paris.", "gamma": "Marseille."},
    "q2": {"alpha": "100 degrees Celsius.", "beta": "It boils at 100 C at sea level.", "gamma": "50 degrees."},
    "q3": {"alpha": "Mercury.", "beta": "Mercury is the closest planet.", "gamma": "Mars."},
}
INSTRUCTIONS = {"q1": "Capital of France?", "q2": "Boiling point of water?", "q3": "Planet closest to the Sun?"}
N_REQUESTS = 3 * 3 * 2  # items x pairs x orders
FAST_RETRY = RetryPolicy(max_attempts=3, initial_wait_s=0.01, max_wait_s=0.05)
EXPORTS = ("verdicts.jsonl", "scores.csv", "ranking.csv")


def write_task(tmp_path: Path, **options: Any) -> Path:
    rows = [{"id": k, "instruction": INSTRUCTIONS[k], "answers": v} for k, v in ANSWERS.items()]
    return write_task_file(tmp_path, name="runner-test", protocol="pairwise", rows=rows, dataset_name="data.jsonl",
                           options={"n_bootstrap": 50, **options})


def user_text(body: dict[str, Any]) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def request_key(body: dict[str, Any]) -> str:
    return json.dumps(body["messages"], sort_keys=True)


FENCE = re.compile(r"<(answer_[ab])_([0-9a-f]{10})>\n(.*?)\n</\1_\2>", re.S)
MODEL_OF = {text: model for answers in ANSWERS.values() for model, text in answers.items()}


def positions(body: dict[str, Any]) -> tuple[str, str]:
    """The models whose answers the judge sees in positions A and B."""
    found = {m.group(1): m.group(3) for m in FENCE.finditer(user_text(body))}
    return MODEL_OF[found["answer_a"]], MODEL_OF[found["answer_b"]]


def prefers_alpha(body: dict[str, Any]) -> Reply:
    """A judge that finds alpha much better than anyone, and the others tied."""
    model_a, model_b = positions(body)
    return Reply(text="Verdict: [[1]]" if model_a == "alpha" else "Verdict: [[5]]" if model_b == "alpha"
                 else "Verdict: [[3]]")


def run(task: Path, server: OpenAIServer, out: Path, **kwargs: Any) -> Any:
    return run_task(task, RunOptions(judge="openai:judge", base_url=server.base_url, out=out, progress=False,
                                     retry=FAST_RETRY, **kwargs))


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "run.json").read_text())


def scores_csv(out: Path) -> dict[str, dict[str, str]]:
    lines = (out / "scores.csv").read_text().splitlines()
    header = lines[0].split(",")
    return {row[0]: dict(zip(header, row)) for row in (line.split(",") for line in lines[1:])}


def harness_cli() -> list[str]:
    script = Path(sys.executable).parent / "harness"
    return [str(script)] if script.exists() else [sys.executable, "-m", "harness.cli"]


def cli(*args: str, key: str = SECRET) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_DEBUG"}
    env["OPENAI_API_KEY"] = key
    return subprocess.run([*harness_cli(), *args], capture_output=True, text=True, timeout=120, env=env)


def files_containing(directory: Path, needle: str) -> list[str]:
    return [str(p) for p in directory.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("HARNESS_DEBUG", raising=False)


# -- retries, failures and resuming ----------------------------------------------------------------


class FaultSchedule:
    """Faults by the order in which distinct requests first arrive (0-based index i):

    i % 3 == 2: the first attempt gets 429 with Retry-After: 0; i == 4: the first attempt gets 500;
    i == 7: always 500 until `healthy` is set. Everything else: the alpha-preferring judge.
    """

    def __init__(self) -> None:
        self.order: list[str] = []
        self.attempts: Counter[str] = Counter()
        self.doomed: str | None = None
        self.healthy = False
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Reply:
        key = request_key(body)
        with self.lock:
            if key not in self.order:
                self.order.append(key)
            index = self.order.index(key)
            self.attempts[key] += 1
            attempt = self.attempts[key]
            if index == 7 and self.doomed is None:
                self.doomed = key
        if key == self.doomed and not self.healthy:
            return Reply(status=500, error="upstream exploded")
        if index % 3 == 2 and attempt == 1:
            return Reply(status=429, retry_after="0", error="slow down")
        if index == 4 and attempt == 1:
            return Reply(status=500, error="hiccup")
        return prefers_alpha(body)


def test_retries_failures_and_resume(tmp_path: Path) -> None:
    task = write_task(tmp_path)
    out = tmp_path / "run"
    schedule = FaultSchedule()
    with OpenAIServer(schedule) as server:
        run(task, server, out, concurrency=3)
        assert server.max_in_flight <= 3
        first_served = len(server.requests)

        # 429s at i = 2, 5, 8, 11, 14, 17; one 500 at i = 4; three 500s for the doomed i = 7
        assert server.faults == Counter({"http_429": 6, "http_500": 4})
        assert first_served == N_REQUESTS + 6 + 1 + 2  # the doomed one: 3 attempts
        assert len(schedule.order) == N_REQUESTS
        assert schedule.attempts[schedule.doomed] == 3

        verdicts = records(out)
        assert len(verdicts) == N_REQUESTS
        assert len({v["request_id"] for v in verdicts}) == N_REQUESTS
        statuses = Counter(v["status"] for v in verdicts)
        assert statuses == Counter({"ok": 17, "failed": 1})
        [failed] = [v for v in verdicts if v["status"] == "failed"]
        assert "HTTP 500" in failed["error"] and "3 attempts" in failed["error"]
        assert "level" not in failed["data"] and failed["output"] is None
        # the retried ones are ok
        retried_users = {user_text({"messages": json.loads(k)}) for k, n in schedule.attempts.items()
                         if n > 1 and k != schedule.doomed}
        assert len(retried_users) == 7
        ok_levels = [v["data"]["level"] for v in verdicts if v["status"] == "ok"]
        assert len(ok_levels) == 17

        m = manifest(out)
        assert m["counts"] == {"ok": 17, "invalid": 0, "failed": 1, "pending": 0}
        [inv] = m["invocations"]
        assert inv["calls"] == first_served == 27
        # every fault but the doomed request's last one was followed by a retry
        assert inv["retries"] == sum(n - 1 for n in schedule.attempts.values()) == 9
        assert inv["retries"] == sum(server.faults.values()) - 1
        assert inv["errors"] == {"HTTP 500": 1}

        # the failed call is not scored: its two models have one battle fewer
        pair = {failed["data"]["model_a"], failed["data"]["model_b"]}
        scores = scores_csv(out)
        for model in ("alpha", "beta", "gamma"):
            in_failed = model in pair
            assert int(scores[model]["n"]) == (11 if in_failed else 12)
            assert int(scores[model]["failed"]) == (1 if in_failed else 0)
        # alpha wins every battle it was judged in
        assert float(scores["alpha"]["score"]) == pytest.approx(100.0)

        # rerun, server still broken for that request: only it is called again (3 attempts)
        run(task, server, out, concurrency=3)
        new = server.requests[first_served:]
        assert len(new) == 3 and {request_key(b) for b in new} == {schedule.doomed}
        assert Counter(v["status"] for v in records(out)) == Counter({"ok": 17, "failed": 1})
        assert len(records(out)) == N_REQUESTS

        # rerun against a healthy server: one call, and the failure turns ok
        schedule.healthy = True
        second_served = len(server.requests)
        run(task, server, out, concurrency=3)
        new = server.requests[second_served:]
        assert len(new) == 1 and request_key(new[0]) == schedule.doomed
    verdicts = records(out)
    assert len(verdicts) == N_REQUESTS
    assert {v["status"] for v in verdicts} == {"ok"}
    m = manifest(out)
    assert m["counts"] == {"ok": 18, "invalid": 0, "failed": 0, "pending": 0}
    assert [(i["pending_at_start"], i["calls"], i["retries"]) for i in m["invocations"]] == [
        (18, 27, 9), (1, 3, 2), (1, 1, 0)]
    scores = scores_csv(out)
    assert {model: int(row["n"]) for model, row in scores.items()} == {"alpha": 12, "beta": 12, "gamma": 12}
    assert {model: int(row["failed"]) for model, row in scores.items()} == {"alpha": 0, "beta": 0, "gamma": 0}


# -- fatal errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [(401, f"Incorrect API key provided: {SECRET}."), (404, "The model `judge` does not exist")],
)
def test_fatal_error_stops_the_run_and_keeps_what_was_stored(tmp_path: Path, status: int, message: str) -> None:
    task = write_task(tmp_path)
    out = tmp_path / "run"
    good_calls = 5
    served = Counter[str]()

    def responder(body: dict[str, Any]) -> Reply:
        served["calls"] += 1
        if served["calls"] > good_calls:
            return Reply(status=status, error=message)
        return prefers_alpha(body)

    with OpenAIServer(responder) as server:
        proc = cli("run", str(task), "--judge", "openai:judge", "--base-url", server.base_url, "--out", str(out),
                   "--no-progress", "--concurrency", "1")
        # no retry of a fatal error
        assert len(server.requests) == good_calls + 1
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("harness: run failed:")]
    assert len(error_lines) == 1
    assert f"HTTP {status}" in error_lines[0]
    for text in (proc.stdout, proc.stderr):
        assert SECRET not in text
    assert files_containing(out, SECRET) == []

    stored = [json.loads(line) for line in (out / "store.jsonl").read_text().splitlines()]
    assert len(stored) == good_calls and {r["status"] for r in stored} == {"ok"}
    m = manifest(out)
    assert m["status"] == "failed"
    assert m["counts"] == {"ok": good_calls, "invalid": 0, "failed": 0, "pending": N_REQUESTS - good_calls}
    assert f"HTTP {status}" in m["invocations"][0]["error"]

    # resume against a working server: only the rest is called
    with OpenAIServer(prefers_alpha) as server:
        run(task, server, out)
        assert len(server.requests) == N_REQUESTS - good_calls
    verdicts = records(out)
    assert len(verdicts) == N_REQUESTS and {v["status"] for v in verdicts} == {"ok"}
    assert {r["request_id"] for r in stored} <= {v["request_id"] for v in verdicts}


# -- invalid output, and a second run that has nothing to do ---------------------------------------


def test_invalid_output_is_counted_never_scored_and_not_retried(tmp_path: Path) -> None:
    task = write_task(tmp_path)  # default reask: 2
    out = tmp_path / "run"

    def responder(body: dict[str, Any]) -> Reply:
        if INSTRUCTIONS["q2"] in user_text(body):
            return Reply(text="Both answers have merit; I cannot decide.")
        return prefers_alpha(body)

    with OpenAIServer(responder) as server:
        run(task, server, out, concurrency=1)
        assert server.max_in_flight == 1
        # invalid output is an answer, not an error: no retry, but asked again twice (6 x 2 re-asks)
        assert len(server.requests) == N_REQUESTS + 6 * 2
        assert manifest(out)["invocations"][0]["reasks"] == 12
        verdicts = records(out)
        invalid = [v for v in verdicts if v["status"] == "invalid"]
        assert len(invalid) == 6 and {v["item_id"] for v in invalid} == {"q2"}
        assert all(v["output"] == "Both answers have merit; I cannot decide." and v["error"] for v in invalid)
        assert all(v["data"]["reasks"] == 2 for v in invalid)
        assert all("level" not in v["data"] for v in invalid)
        assert manifest(out)["counts"] == {"ok": 12, "invalid": 6, "failed": 0, "pending": 0}
        scores = scores_csv(out)
        for model in ("alpha", "beta", "gamma"):
            # each model is in 2 pairs x 2 orders on q2
            assert int(scores[model]["invalid"]) == 4
            assert int(scores[model]["n"]) == 8
        # alpha wins all 8 scored battles much; beta and gamma: 4 losses (-100) and 4 ties each
        assert float(scores["alpha"]["score"]) == pytest.approx(100.0)
        assert float(scores["beta"]["score"]) == pytest.approx(-50.0)
        assert float(scores["gamma"]["score"]) == pytest.approx(-50.0)

        before = {name: (out / name).read_bytes() for name in EXPORTS}
        run(task, server, out, concurrency=1)
        assert len(server.requests) == N_REQUESTS + 12  # nothing called again, invalid included
    assert {name: (out / name).read_bytes() for name in EXPORTS} == before
    assert manifest(out)["invocations"][-1]["pending_at_start"] == 0


def test_second_cli_run_makes_no_calls_and_same_files(tmp_path: Path) -> None:
    task = write_task(tmp_path)
    out = tmp_path / "run"
    args = ["run", str(task), "--judge", "openai:judge", "--out", str(out), "--no-progress"]
    with OpenAIServer(prefers_alpha) as server:
        first = cli(*args, "--base-url", server.base_url)
        assert first.returncode == 0, first.stderr
        assert len(server.requests) == N_REQUESTS
        before = {name: (out / name).read_bytes() for name in EXPORTS}
        second = cli(*args, "--base-url", server.base_url)
        assert second.returncode == 0, second.stderr
        assert len(server.requests) == N_REQUESTS
    assert {name: (out / name).read_bytes() for name in EXPORTS} == before
    assert len(manifest(out)["invocations"]) == 2


# -- concurrency and secrets -----------------------------------------------------------------------


def test_concurrency_flag_bounds_calls_in_flight(tmp_path: Path) -> None:
    task = write_task(tmp_path)
    out = tmp_path / "run"
    with OpenAIServer(prefers_alpha, latency_s=0.05) as server:
        proc = cli("run", str(task), "--judge", "openai:judge", "--base-url", server.base_url, "--out", str(out),
                   "--no-progress", "--concurrency", "4")
        assert proc.returncode == 0, proc.stderr
        assert len(server.requests) == N_REQUESTS
        assert 2 <= server.max_in_flight <= 4


def test_secrets_never_reach_the_run_directory(tmp_path: Path) -> None:
    task = write_task(tmp_path)
    out = tmp_path / "run"

    def responder(body: dict[str, Any]) -> Reply:
        # one request's error echoes the key, as some servers do; it ends up a failed verdict
        if positions(body)[0] == "gamma" and INSTRUCTIONS["q3"] in user_text(body):
            return Reply(status=500, retry_after="0", error=f"bad key {SECRET}")
        return prefers_alpha(body)

    with OpenAIServer(responder) as server:
        base_url = f"http://user:pass@127.0.0.1:{server.port}/v1"
        proc = cli("run", str(task), "--judge", "openai:judge", "--base-url", base_url, "--out", str(out),
                   "--no-progress")
        assert len(server.requests) == N_REQUESTS - 2 + 2 * 4  # default policy: 4 attempts
    assert proc.returncode == 1, proc.stderr  # two calls failed: incomplete
    assert proc.stderr.startswith("harness: incomplete: 2 of 18 requests failed") and "bad key ***" in proc.stderr
    # gamma in position A on q3: against alpha and against beta
    assert Counter(v["status"] for v in records(out)) == Counter({"ok": N_REQUESTS - 2, "failed": 2})
    for needle in (SECRET, "pass"):
        assert needle not in proc.stdout and needle not in proc.stderr
        assert files_containing(out, needle) == []
    judge = manifest(out)["judge"]["spec"]
    assert judge["base_url"] == f"http://127.0.0.1:{server.port}/v1"


def test_secrets_in_the_task_files_judge_never_reach_the_run_directory(tmp_path: Path) -> None:
    """A task file's judge mapping is recorded in run.json's `task`: without its base_url's
    credentials, and without secret-looking extra_body keys."""
    task = write_task(tmp_path)
    with OpenAIServer(prefers_alpha) as server:
        spec = json.loads(task.read_text())  # the task file as JSON (a YAML document)
        spec["judge"] = {"spec": "openai:judge",
                         "base_url": f"http://user:hunter2pw@127.0.0.1:{server.port}/v1",
                         "options": {"extra_body": {"api_key": "BODYLEAK", "password": "PWLEAK", "top_k": 5}}}
        task.write_text(json.dumps(spec))
        proc = cli("run", str(task), "--out", str(tmp_path / "run"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    for needle in ("hunter2pw", "BODYLEAK", "PWLEAK"):
        assert files_containing(tmp_path / "run", needle) == [], needle
    recorded = manifest(tmp_path / "run")["task"]["judge"]
    assert recorded["base_url"] == f"http://127.0.0.1:{server.port}/v1" and recorded["options"]["extra_body"] == {"top_k": 5}


# -- verdicts are written while the next calls go out ----------------------------------------------


def test_next_call_goes_out_while_a_verdict_is_being_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With one worker, every write is held until the server has seen every request: a runner
    that waited for the disk before its next call could never get there."""
    task = write_task(tmp_path)
    out = tmp_path / "run"
    original = RunDirectory.enqueue
    seen_when_written: list[int] = []

    with OpenAIServer(prefers_alpha) as server:
        async def slow_commit(self: RunDirectory, verdict: Any, **kwargs: Any) -> None:
            if not seen_when_written:  # hold the first write (for 10 s at most)
                deadline = asyncio.get_running_loop().time() + 10
                while len(server.requests) < N_REQUESTS and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.005)
            seen_when_written.append(len(server.requests))
            await original(self, verdict, **kwargs)

        def slow_enqueue(self: RunDirectory, verdict: Any, **kwargs: Any) -> asyncio.Future[None]:
            return asyncio.ensure_future(slow_commit(self, verdict, **kwargs))

        monkeypatch.setattr(RunDirectory, "enqueue", slow_enqueue)
        result = run(task, server, out, concurrency=1)
    assert seen_when_written[0] == N_REQUESTS
    assert result.manifest["counts"]["ok"] == N_REQUESTS
    assert len(read_store(out / "store.jsonl")) == N_REQUESTS


def test_a_verdict_counts_only_once_its_line_is_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Verdicts are written in groups while the calls go on; each is counted (and shown to the
    plugins and the progress bar) only once the group holding it is written and fsynced."""
    task = write_task(tmp_path)
    out = tmp_path / "run"
    original = Runner._count
    on_disk_when_counted: list[bool] = []

    def count(self: Runner, verdict: Any) -> None:
        lines = (out / "store.jsonl").read_bytes().splitlines(keepends=True)
        on_disk_when_counted.append(any(line.endswith(b"\n") and json.loads(line)["request_key"] == verdict.request_key
                                        for line in lines))
        original(self, verdict)

    monkeypatch.setattr(Runner, "_count", count)
    with OpenAIServer(prefers_alpha, latency_s=0.01) as server:
        result = run(task, server, out, concurrency=8)
    assert on_disk_when_counted == [True] * N_REQUESTS
    assert result.manifest["counts"]["ok"] == N_REQUESTS


def test_a_failed_write_stops_the_run_and_a_rerun_calls_only_what_was_not_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = write_task(tmp_path)
    out = tmp_path / "run"
    original = RunDirectory.enqueue
    writes = 0

    def failing_third_write(self: RunDirectory, verdict: Any, **kwargs: Any) -> asyncio.Future[None]:
        nonlocal writes
        writes += 1
        if writes == 3:
            failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            failed.set_exception(OSError(28, "No space left on device"))
            return failed
        return original(self, verdict, **kwargs)

    with OpenAIServer(prefers_alpha) as server:
        with monkeypatch.context() as patch:
            patch.setattr(RunDirectory, "enqueue", failing_third_write)
            with pytest.raises(OSError, match="No space left"):
                run(task, server, out, concurrency=1)
        first_calls = len(server.requests)
        stored = read_store(out / "store.jsonl")
        assert 2 <= len(stored) == first_calls - 1 < N_REQUESTS  # every paid verdict but the lost one
        assert manifest(out)["status"] == "failed"
        result = run(task, server, out, concurrency=1)
        # the verdict whose write failed was paid for: the judgment cache answers it, unpaid
        assert len(server.requests) - first_calls == N_REQUESTS - len(stored) - 1
    assert result.manifest["counts"]["ok"] == N_REQUESTS
    assert result.manifest["invocations"][-1]["cache"]["hits"] == 1


def test_ctrl_c_with_calls_in_flight_keeps_every_stored_verdict_and_resumes_without_paying_twice(
    tmp_path: Path,
) -> None:
    models = ("alpha", "beta", "gamma", "delta")
    rows = [{"id": f"q{i:02d}", "instruction": f"Question {i}?", "answers": {m: f"{m} on {i}." for m in models}}
            for i in range(20)]
    task = write_task_file(tmp_path, name="ctrl-c", protocol="pairwise", rows=rows, options={"n_bootstrap": 20})
    n_requests = 20 * 6 * 2  # items x pairs x orders
    out = tmp_path / "run"
    args = [*harness_cli(), "run", str(task), "--judge", "openai:judge", "--out", str(out), "--no-progress",
            "--concurrency", "16"]
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_DEBUG"}
    with OpenAIServer(lambda body: Reply(text="Verdict: [[2]]"), latency_s=0.05) as server:
        process = subprocess.Popen([*args, "--base-url", server.base_url], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        store = out / "store.jsonl"
        deadline = time.monotonic() + 60
        while not (store.exists() and store.read_bytes().count(b"\n") >= 40) and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        paid_first = len(server.requests)

        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr
        interrupted = manifest(out)
        stored = read_store(store)
        assert interrupted["status"] == "interrupted"
        assert interrupted["counts"]["ok"] == len(stored) == store.read_bytes().count(b"\n")
        assert 40 <= len(stored) < n_requests

        resumed = cli(*args[1:], "--base-url", server.base_url)
        assert resumed.returncode == 0, resumed.stderr
        paid_second = len(server.requests) - paid_first
    last = manifest(out)["invocations"][-1]
    # what was stored is not asked again; what was paid but not stored comes from the cache
    assert last["calls"] == paid_second == n_requests - len(stored) - last["cache"]["hits"]
    assert paid_first + paid_second >= n_requests
    verdicts = records(out)
    assert len(verdicts) == len({v["request_id"] for v in verdicts}) == n_requests


def test_an_aggregation_that_fails_after_judging_leaves_run_json_failed_not_finished(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every verdict is stored, but no table was written: run.json said "finished" beside no
    scores.csv. It says "failed", with the aggregation's error, and `harness aggregate` mends it."""
    import harness.running.execute as execute
    from harness.running.recompute import recompute

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a statistic that blew up")

    task = write_task(tmp_path)
    out = tmp_path / "run"
    monkeypatch.setattr(execute, "finish_run", broken)
    with OpenAIServer(prefers_alpha) as server, pytest.raises(RuntimeError):
        execute.run_task(task, RunOptions(judge="openai:judge", base_url=server.base_url, out=out, progress=False,
                                          cache=False))
    stored = manifest(out)
    assert stored["status"] == "failed" and stored["invocations"][-1]["status"] == "failed"
    assert stored["invocations"][-1]["error"] == "aggregation failed: RuntimeError: a statistic that blew up"
    assert not (out / "scores.csv").exists() and (out / "store.jsonl").read_text().count("\n") == N_REQUESTS
    monkeypatch.undo()
    recompute(out)
    assert (out / "scores.csv").is_file()
