"""Reasoning traces: answers under evaluation are judged without `<think>...</think>` (by
default, counted per model, said in the run's notes), and a judge's own trace never reaches the
verdict parser. Real runs against a loopback OpenAI-compatible judge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.models import JudgeResponse, TokenLogprob
from harness.reasoning_traces import strip_trace, without_judge_trace
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task


@pytest.mark.parametrize(("text", "expected"), [
    ("Paris.", "Paris."),
    ("<think>Is it Lyon? No.</think>\n\nParis.", "Paris."),
    ("<THINK>a</THINK>Paris <think>b</think>is the capital.", "Paris is the capital."),
    ("Let me see, Lyon? No.</think>Paris.", "Paris."),  # the template opened the block itself
    ("<think>Lyon? Marseille? I need more tok", ""),  # the trace never closed: no answer
    ("I think Paris.", "I think Paris."),
])
def test_strip_trace(text: str, expected: str) -> None:
    assert strip_trace(text) == expected


def test_judge_logprobs_inside_the_trace_are_dropped() -> None:
    tokens = [TokenLogprob(token=t, logprob=-0.1) for t in ["<think>", "[[A>>B]]", "</think>", "[[B>A]]"]]
    response = JudgeResponse(text="<think>[[A>>B]]</think>[[B>A]]", logprobs=tuple(tokens))
    seen = without_judge_trace(response)
    assert seen.text == "[[B>A]]"
    assert [t.token for t in seen.logprobs or ()] == ["[[B>A]]"]


ROWS = [
    {"id": f"q{i}", "instruction": f"Question {i}?",
     "answers": {"base": f"Plain answer {i}.",
                 "thinker": f"<think>SECRET-TRACE {i}</think>Final answer {i}." if i < 2 else f"Final answer {i}."}}
    for i in range(3)
]


def run(task: Path, out: Path, url: str, *extra: str) -> int:
    return main(["run", str(task), "--judge", "openai:judge", "--base-url", url, "--out", str(out),
                 "--no-progress", "--no-cache", *extra])


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-secret")


def pairwise_task(tmp_path: Path, **options: Any) -> Path:
    return write_task(tmp_path, name="traces", protocol="pairwise", rows=ROWS,
                      options={"baselines": ["base"], "verdict_format": "labels", "n_bootstrap": 50,
                               "reask": 0, **options})


def test_answers_are_judged_without_their_trace_and_the_changes_are_counted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = pairwise_task(tmp_path)
    with OpenAIServer(lambda body: Reply(text="[[A=B]]")) as server:
        assert run(task, tmp_path / "run", server.base_url) == 0
        prompts = [json.dumps(b["messages"]) for b in server.requests]
    assert prompts and not any("SECRET-TRACE" in p for p in prompts)
    assert any("Final answer 0." in p for p in prompts)
    record = json.loads((tmp_path / "run" / "run.json").read_text())["reasoning_traces"]
    assert record == {"stripped": True, "answers_changed": {"base": 0, "thinker": 2}}
    err = capsys.readouterr().err
    assert "reasoning traces stripped from 2 answers before judging (thinker 2)" in err


def test_the_option_off_judges_the_trace_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = pairwise_task(tmp_path, strip_reasoning=False)
    with OpenAIServer(lambda body: Reply(text="[[A=B]]")) as server:
        assert run(task, tmp_path / "run", server.base_url) == 0
        assert any("SECRET-TRACE" in json.dumps(b["messages"]) for b in server.requests)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["reasoning_traces"]["stripped"] is False
    assert "were not stripped" in capsys.readouterr().err


def test_a_verdict_inside_the_judges_trace_never_becomes_the_verdict(tmp_path: Path) -> None:
    """The judge considers [[A>>B]] while thinking, then gives no verdict: the output is
    invalid, never A>>B (a parser shown the trace would read it)."""
    task = pairwise_task(tmp_path)
    reply = "<think>At first sight [[A>>B]], but let me check again.</think>I cannot decide between them."
    with OpenAIServer(lambda body: Reply(text=reply)) as server:
        run(task, tmp_path / "run", server.base_url)
    verdicts = [json.loads(line) for line in (tmp_path / "run" / "verdicts.jsonl").read_text().splitlines()]
    assert verdicts and {v["status"] for v in verdicts} == {"invalid"}


def test_the_verdict_after_the_trace_is_the_one_parsed(tmp_path: Path) -> None:
    task = pairwise_task(tmp_path)
    with OpenAIServer(lambda body: Reply(text="<think>[[A>>B]]?</think>On reflection: [[B>A]]")) as server:
        assert run(task, tmp_path / "run", server.base_url) == 0
    verdicts = [json.loads(line) for line in (tmp_path / "run" / "verdicts.jsonl").read_text().splitlines()]
    assert {v["status"] for v in verdicts} == {"ok"}
    assert all("A>>B" not in json.dumps({k: v for k, v in v["data"].items() if k != "output"}) for v in verdicts)
