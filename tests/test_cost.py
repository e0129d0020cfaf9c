"""Tokens, calls and money in run.json; --prices and --max-cost through the real CLI.

The loopback server reports a fixed usage per call (1,000 prompt + 200 completion tokens), and
the price table is the test's own, so every cost below is arithmetic done here by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

ROWS = [{"id": f"q{i}", "instruction": f"question {i}", "answers": {"a": f"answer a{i}", "b": f"answer b{i}"}}
        for i in range(6)]  # 12 requests
PER_CALL_USD = (1000 * 2.0 + 200 * 10.0) / 1e6  # = 0.004


def reply(body: dict[str, Any]) -> Reply:
    return Reply(text="A", prompt_tokens=1000, completion_tokens=200)


def setup(tmp_path: Path) -> tuple[Path, Path]:
    task = write_task(tmp_path, name="cost", protocol="pairwise", rows=ROWS,
                      options={"verdict_format": "binary", "reasoning": False, "n_bootstrap": 10})
    prices = tmp_path / "prices.yaml"
    prices.write_text("judge: {input: 2.0, output: 10.0}\nother-model: {input: 99, output: 99}\n")
    return task, prices


def cli(task: Path, out: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_DEBUG"}
    env["OPENAI_API_KEY"] = "sk-cost-test"
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(task), "--judge", "openai:judge", "--base-url", url,
         "--out", str(out), "--no-progress", "--concurrency", "1", *extra],
        capture_output=True, text=True, timeout=120, env=env)


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "run.json").read_text())


def test_max_cost_stops_before_the_cap_and_a_rerun_finishes(tmp_path: Path) -> None:
    task, prices = setup(tmp_path)
    out = tmp_path / "run"
    with OpenAIServer(reply) as server:
        # 5 calls spend 0.020; a sixth (whose worst case adds at least 16 output tokens = 0.00016)
        # would pass 0.0201, so the run stops with 7 of 12 requests left
        stopped = cli(task, out, server.base_url, "--prices", str(prices), "--max-cost", "0.0201")
        assert stopped.returncode == 1, stopped.stderr
        assert "--max-cost 0.0201 USD reached with 7 requests not judged" in stopped.stderr
        assert "Traceback" not in stopped.stderr
        assert len(server.requests) == 5
        first = manifest(out)
        assert first["status"] == "stopped" and first["counts"]["pending"] == 7
        [inv] = first["invocations"]
        assert inv["calls"] == 5 and inv["tokens"] == {"in": 5000, "out": 1000}
        assert inv["cost"]["usd"] == pytest.approx(5 * PER_CALL_USD)
        assert inv["max_cost_usd"] == 0.0201

        finished = cli(task, out, server.base_url, "--prices", str(prices))
        assert finished.returncode == 0, finished.stderr
        assert len(server.requests) == 12  # the 7 left, nothing twice
    usage = manifest(out)["usage"]
    assert usage["calls"] == 12 and (usage["tokens_in"], usage["tokens_out"]) == (12_000, 2_400)
    assert usage["cost"]["usd"] == pytest.approx(12 * PER_CALL_USD)
    assert usage["judge"] == "openai:judge"


def test_prices_from_the_task_file_and_cache_hits_cost_nothing(tmp_path: Path) -> None:
    task, prices = setup(tmp_path)
    spec = json.loads(task.read_text())
    spec["prices"] = prices.name  # relative to the task file
    task.write_text(json.dumps(spec))
    with OpenAIServer(reply) as server:
        options = {"judge": "openai:judge", "base_url": server.base_url, "progress": False}
        first = run_task(task, RunOptions(out=tmp_path / "a", **options)).manifest
        second = run_task(task, RunOptions(out=tmp_path / "b", **options)).manifest  # all from the cache
    assert first["usage"]["cost"]["usd"] == pytest.approx(12 * PER_CALL_USD)
    assert second["usage"]["calls"] == 0 and second["usage"]["cost"]["usd"] == 0


def test_in_flight_calls_bound_the_overshoot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worst case reserved per call is the estimated prompt (~chars/4) + max_tokens; this
    server reports far more prompt tokens than that, so only calls in flight can pass the cap."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cost-test")
    task, prices = setup(tmp_path)

    async def slow(body: dict[str, Any]) -> Reply:
        await asyncio.sleep(0.05)
        return reply(body)

    with OpenAIServer(slow) as server:
        with pytest.raises(Exception, match="--max-cost 0.0201 USD reached"):
            run_task(task, RunOptions(judge="openai:judge", base_url=server.base_url, out=tmp_path / "run",
                                      progress=False, concurrency=4, prices=prices, max_cost=0.0201))
        calls = len(server.requests)
    assert calls >= 5 and calls * PER_CALL_USD <= 0.0201 + 4 * PER_CALL_USD


@pytest.mark.parametrize(("extra", "message"), [
    (["--max-cost", "1"], "harness: error: --max-cost needs the judge's price: give a price table with --prices FILE"),
    (["--max-cost", "-1", "--prices", "PRICES"], "harness: error: --max-cost must be a positive number of US dollars"),
    (["--prices", "MISSING"], "cannot read it"),
    (["--prices", "NOPRICE"], "no price for openai:judge"),
    (["--prices", "BAD"], "needs exactly `input` and `output`"),
])
def test_bad_price_input_is_one_line_exit_2(tmp_path: Path, extra: list[str], message: str) -> None:
    task, prices = setup(tmp_path)
    (tmp_path / "noprice.yaml").write_text("gpt-x: {input: 1, output: 1}\n")
    (tmp_path / "bad.yaml").write_text("judge: {input: 1}\n")
    paths = {"PRICES": str(prices), "MISSING": str(tmp_path / "nope.yaml"),
             "NOPRICE": str(tmp_path / "noprice.yaml"), "BAD": str(tmp_path / "bad.yaml")}
    proc = cli(task, tmp_path / "run", "http://127.0.0.1:9/v1", *[paths.get(a, a) for a in extra])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: ") and message in lines[0]
