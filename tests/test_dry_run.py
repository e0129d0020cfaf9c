"""`harness run --dry-run`: calls, cached calls, tokens and cost, with nothing sent (a loopback
server that fails the test when contacted) and nothing written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

N_ITEMS, MODELS = 4, ["base", "m1", "m2"]
CALLS = N_ITEMS * (len(MODELS) - 1) * 2  # every model against the baseline, in both orders
MAX_TOKENS = 100


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-secret")


def task(tmp_path: Path) -> Path:
    rows = [{"id": f"q{i}", "instruction": f"Question {i}?", "answers": {m: f"{m} answers {i}." for m in MODELS}}
            for i in range(N_ITEMS)]
    return write_task(tmp_path, name="dry", protocol="pairwise", rows=rows,
                      options={"baselines": ["base"], "verdict_format": "binary", "n_bootstrap": 50,
                               "max_tokens": MAX_TOKENS})


def must_not_be_called(body: dict[str, Any]) -> Reply:
    raise AssertionError("a dry run contacted the judge")


def plan_numbers(text: str) -> dict[str, float]:
    line = next(line for line in text.splitlines() if line.startswith("judge openai:judge:"))
    found = re.search(r"(\d+) calls \((\d+) stored in --out, (\d+) in the cache, (\d+) to send\); to send: about "
                      r"(\d+) prompt tokens, at most (\d+) completion tokens; cost at most ([\d.]+) USD", line)
    assert found, line
    keys = ("calls", "stored", "cached", "to_send", "prompt", "completion", "usd")
    return dict(zip(keys, map(float, found.groups()), strict=True))


def test_dry_run_counts_calls_tokens_and_cost_and_sends_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = task(tmp_path)
    prices = tmp_path / "prices.yaml"
    prices.write_text("judge: {input: 2.0, output: 10.0}\n")
    out = tmp_path / "run"
    with OpenAIServer(must_not_be_called) as server:
        code = main(["run", str(path), "--judge", "openai:judge", "--base-url", server.base_url, "--out", str(out),
                     "--prices", str(prices), "--dry-run"])
        assert server.served == []
    assert code == 0 and not out.exists()
    plan = plan_numbers(capsys.readouterr().out)
    assert (plan["calls"], plan["stored"], plan["cached"], plan["to_send"]) == (CALLS, 0, 0, CALLS)
    # a binary verdict is a constrained single choice: each call's max_tokens is cut to a few tokens
    assert 0 < plan["completion"] <= CALLS * MAX_TOKENS
    assert plan["prompt"] > CALLS * 10  # every prompt holds the instruction, two answers and the template
    assert plan["usd"] == pytest.approx((plan["prompt"] * 2.0 + plan["completion"] * 10.0) / 1e6, abs=1e-4)


def test_after_a_run_the_dry_run_sees_the_stored_and_cached_calls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = task(tmp_path)
    prices = tmp_path / "prices.yaml"
    prices.write_text("judge: {input: 2.0, output: 10.0}\n")
    dry = {"run": False}

    def judge(body: dict[str, Any]) -> Reply:
        return must_not_be_called(body) if dry["run"] else Reply(text="A")

    # one server for both (the cache key holds the judge's URL)
    with OpenAIServer(judge) as server:
        first = tmp_path / "first"
        assert main(["run", str(path), "--judge", "openai:judge", "--base-url", server.base_url, "--out", str(first),
                     "--no-progress", "--limit", "2"]) in (0, 1)
        asked = len(server.served)
        capsys.readouterr()
        dry["run"] = True
        for out, stored in ((first, asked), (tmp_path / "second", 0)):
            assert main(["run", str(path), "--judge", "openai:judge", "--base-url", server.base_url, "--out",
                         str(out), "--prices", str(prices), "--dry-run"]) == 0
            plan = plan_numbers(capsys.readouterr().out)
            cached = asked if stored == 0 else 0
            assert (plan["calls"], plan["stored"], plan["cached"], plan["to_send"]) == (
                CALLS, stored, cached, CALLS - asked)
        assert len(server.served) == asked
    assert not (tmp_path / "second").exists()


def test_dry_run_of_bad_input_is_exit_2(tmp_path: Path) -> None:
    assert main(["run", str(tmp_path / "nope.yaml"), "--dry-run"]) == 2
