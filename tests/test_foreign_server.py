"""The OpenAI backend against a loopback server built on another HTTP stack (aiohttp.web).

harness.testing.OpenAIServer always answers with Content-Length and keep-alive. Servers in the
wild send chunked bodies, close connections after an answer, give Retry-After as an HTTP date,
answer errors in FastAPI's `{"detail": ...}` shape, and break chunked bodies half-way. This test
drives the CLI exactly as a user does (`harness run --judge openai:MODEL --base-url URL`) against
such a server with 30% faults, and counts everything from the server's side.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.testing.tasks import write_task

web = pytest.importorskip("aiohttp.web")  # aiohttp is a core dependency; this only names the module

FAULT_RATE = 0.3
MAX_FAULTS_PER_REQUEST = 3
SLOW_S = 1.5
CLIENT_TIMEOUT_S = 0.5
MODELS = ("base", "m1", "m2")


def user_text(body: dict[str, Any]) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def verdict_for(prompt: str) -> str:
    """The judge's answer, a function of the prompt only."""
    return f"Weighing both. [[{'A' if hashlib.sha256(prompt.encode()).digest()[0] % 2 else 'B'}]]"


class ForeignServer:
    """aiohttp.web in its own thread; which attempts fault is drawn from a seeded RNG (at most 3 per
    request), and the faults take each kind in turn."""

    FAULTS = ("429_date", "503_detail", "500_text", "malformed", "truncated_chunked", "slow", "closed_early")

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.served = 0
        self.faults: Counter[str] = Counter()
        self.faults_by_prompt: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.ready.set()
        self.loop.run_forever()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _draw(self, prompt: str) -> str | None:
        with self.lock:
            self.served += 1
            if self.faults_by_prompt[prompt] < MAX_FAULTS_PER_REQUEST and self.rng.random() < FAULT_RATE:
                fault = self.FAULTS[sum(self.faults.values()) % len(self.FAULTS)]  # each kind in turn
                self.faults[fault] += 1
                self.faults_by_prompt[prompt] += 1
                return fault
            self.answered[prompt] += 1
            return None

    async def _chat(self, request: Any) -> Any:
        body = await request.json()
        fault = self._draw(user_text(body))
        past = email.utils.formatdate(time.time() - 5, usegmt=True)  # a date already passed: retry now
        if fault == "429_date":
            return web.json_response({"error": {"message": "rate limited"}}, status=429, headers={"Retry-After": past})
        if fault == "503_detail":
            return web.json_response({"detail": "overloaded"}, status=503, headers={"Retry-After": "0"})
        if fault == "500_text":
            return web.Response(status=500, text="Internal Server Error", headers={"Retry-After": "0"})
        if fault == "malformed":
            return web.Response(status=200, text='{"choices": [{"message": ', content_type="application/json",
                                headers={"Retry-After": "0"})
        if fault == "slow":
            await asyncio.sleep(SLOW_S)
            return web.Response(status=503)  # the client gave up long ago
        answer = {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                  "choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": verdict_for(user_text(body))}}],
                  "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55}}
        data = json.dumps(answer).encode()
        if fault in ("truncated_chunked", "closed_early"):
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            if fault == "truncated_chunked":
                response.enable_chunked_encoding()
            else:
                response.content_length = len(data)
            await response.prepare(request)
            await response.write(data[: len(data) // 2])
            request.transport.close()  # hang up mid-body
            return response
        if len(data) % 2:  # half the answers chunked, half with a length and Connection: close
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(data[:20])
            await response.write(data[20:])
            await response.write_eof()
            return response
        return web.Response(body=data, content_type="application/json", headers={"Connection": "close"})


def harness_run(task: Path, url: str, out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_API_KEY": "sk-foreign-test"}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(task), "--judge", "openai:judge", "--base-url", url,
         "--out", str(out), "--no-progress", "--concurrency", "8", "--judge-timeout", str(CLIENT_TIMEOUT_S),
         "--judge-option", "max_attempts=5"],
        env=env, capture_output=True, text=True, timeout=300,
    )


def test_faults_from_a_foreign_server_are_retried_and_every_request_ends_once(tmp_path: Path) -> None:
    n_items = 12
    n_requests = n_items * 2 * 2  # items x pairs with the baseline x orders
    rows = [{"id": f"q{i:02d}", "instruction": f"Question {i}: explain topic {i * 5 % 11}.",
             "answers": {m: f"{m} answers question {i} {'at length ' * (i % 4)}." for m in MODELS}}
            for i in range(n_items)]
    task = write_task(tmp_path, name="foreign", protocol="pairwise", rows=rows,
                      options={"baselines": ["base"], "verdict_format": "binary", "n_bootstrap": 50})
    out = tmp_path / "run"
    server = ForeignServer(seed=20261123)
    try:
        first = harness_run(task, server.base_url, out)
        served_first = server.served
        second = harness_run(task, server.base_url, out)
        served_second = server.served - served_first
    finally:
        server.close()
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in first.stderr

    # the faults really happened, of every kind
    assert set(server.faults) == set(ForeignServer.FAULTS)
    assert 0.1 < sum(server.faults.values()) / served_first < 0.5
    # every prompt was answered properly exactly once: no call after success, none lost
    assert len(server.answered) == n_requests and set(server.answered.values()) == {1}

    verdicts = [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]
    assert len(verdicts) == len({v["request_id"] for v in verdicts}) == n_requests
    assert Counter(v["status"] for v in verdicts) == Counter({"ok": n_requests})
    assert sorted(v["output"] for v in verdicts) == sorted(verdict_for(prompt) for prompt in server.answered)

    manifest = json.loads((out / "run.json").read_text())
    first_invocation, second_invocation = manifest["invocations"]
    assert first_invocation["calls"] == served_first
    assert first_invocation["retries"] == sum(server.faults.values()) == served_first - n_requests
    assert manifest["counts"] == {"ok": n_requests, "invalid": 0, "failed": 0, "pending": 0}
    # the rerun finds everything stored and asks the server nothing
    assert served_second == 0 and second_invocation["calls"] == 0
