"""Re-asking unparseable outputs, and structured (JSON schema) verdicts, against a real loopback server.

The scripted judge decides from the request alone (is this a re-ask? was a schema sent?), so every
count below is known before the run.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.models import TokenLogprob
from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.running.runner import RetryPolicy
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

UNREADABLE = "Both answers are fine, really."
ROWS = [{"id": f"q{i}", "instruction": f"question {i}", "answers": {"a": f"answer a{i}", "b": f"answer b{i}"}}
        for i in range(3)]  # 3 items x 1 pair x 2 orders = 6 requests
N = 6


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-reask-test")


def is_reask(body: dict[str, Any]) -> bool:
    return body["messages"][-1]["role"] == "user" and "could not be read" in body["messages"][-1]["content"]


def run(tmp_path: Path, server: OpenAIServer, out: str, protocol: str = "pairwise", rows: list | None = None,
        **options: Any) -> dict[str, Any]:
    task = write_task(tmp_path, name="reask", protocol=protocol, rows=rows or ROWS,
                      options={"n_bootstrap": 10, **options})
    result = run_task(task, RunOptions(judge="openai:judge", base_url=server.base_url, out=tmp_path / out,
                                       progress=False, concurrency=1,
                                       retry=RetryPolicy(max_attempts=2, initial_wait_s=0.01, max_wait_s=0.01)))
    return result.manifest


def stored(tmp_path: Path, out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / out / "verdicts.jsonl").read_text().splitlines()]


# -- re-ask ------------------------------------------------------------------------------------------


def test_an_unparseable_answer_is_asked_again_and_the_second_answer_counts(tmp_path: Path) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        return Reply(text="On reflection A is better. [[2]]") if is_reask(body) else Reply(text=UNREADABLE)

    with OpenAIServer(responder) as server:
        manifest = run(tmp_path, server, "run")
        bodies = server.requests
    assert len(bodies) == 2 * N
    assert sum(map(is_reask, bodies)) == N
    reask = next(b for b in bodies if is_reask(b))
    # the re-ask shows the judge its own answer and what was wrong with it
    assert reask["messages"][-2] == {"role": "assistant", "content": UNREADABLE}
    assert "no verdict mark found" in reask["messages"][-1]["content"]
    verdicts = stored(tmp_path, "run")
    assert Counter(v["status"] for v in verdicts) == {"ok": N}
    assert all(v["data"]["level"] == "A>B" and v["data"]["reasks"] == 1 for v in verdicts)
    assert all(v["output"] == "On reflection A is better. [[2]]" for v in verdicts)
    [invocation] = manifest["invocations"]
    assert invocation["reasks"] == N and invocation["calls"] == 2 * N and invocation["retries"] == 0


def test_always_unparseable_is_stored_invalid_after_n_plus_one_calls(tmp_path: Path) -> None:
    reasks = 3
    with OpenAIServer(lambda body: Reply(text=UNREADABLE)) as server:
        manifest = run(tmp_path, server, "run", reask=reasks)
        assert len(server.requests) == N * (reasks + 1)  # exactly N+1 calls served per request
        per_request = Counter(json.dumps(b["messages"][:2]) for b in server.requests)
        assert set(per_request.values()) == {reasks + 1}
        verdicts = stored(tmp_path, "run")
        assert Counter(v["status"] for v in verdicts) == {"invalid": N}
        assert all(v["output"] == UNREADABLE and v["data"]["reasks"] == reasks for v in verdicts)
        assert manifest["invocations"][0]["reasks"] == N * reasks
        assert manifest["counts"] == {"ok": 0, "invalid": N, "failed": 0, "pending": 0}

        # each re-ask has its own cache entry: a new run directory replays all of them, paying nothing
        again = run(tmp_path, server, "again", reask=reasks)
        assert len(server.requests) == N * (reasks + 1)
    assert again["invocations"][0]["cache"]["hits"] == N * (reasks + 1)
    assert again["invocations"][0]["calls"] == 0


def test_reask_zero_stores_invalid_at_once(tmp_path: Path) -> None:
    with OpenAIServer(lambda body: Reply(text=UNREADABLE)) as server:
        run(tmp_path, server, "run", reask=0)
        assert len(server.requests) == N


# -- structured output -------------------------------------------------------------------------------


def schema_of(body: dict[str, Any]) -> dict[str, Any]:
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    return response_format["json_schema"]["schema"]


def test_pairwise_structured_output_sends_the_schema_and_reads_json_with_logprobs(tmp_path: Path) -> None:
    text = '{"reasoning": "B is more complete.", "verdict": 4}'
    digit = TokenLogprob(token="4", logprob=-0.2231, top={"4": -0.2231, "5": -1.6094, "3": -3.0})

    def responder(body: dict[str, Any]) -> Reply:
        schema = schema_of(body)
        assert schema["required"] == ["reasoning", "verdict"]
        assert schema["properties"]["verdict"] == {"type": "integer", "enum": [1, 2, 3, 4, 5]}
        head = TokenLogprob(token=text[: text.index("4")], logprob=0.0)
        return Reply(text=text, logprobs=[head, digit, TokenLogprob(token="}", logprob=0.0)])

    with OpenAIServer(responder) as server:
        run(tmp_path, server, "run", structured_output=True)
        assert len(server.requests) == N
    verdicts = stored(tmp_path, "run")
    assert all(v["status"] == "ok" and v["data"]["level"] == "B>A" for v in verdicts)
    # P(level) from the digit's top logprobs: e^-0.2231 = .8, e^-1.6094 = .2, e^-3 = .0498, renormalised
    total = 0.8 + 0.2 + 0.049787
    probs = verdicts[0]["data"]["probs"]
    assert probs["B>A"] == pytest.approx(0.8 / total, abs=1e-3)
    assert probs["B>>A"] == pytest.approx(0.2 / total, abs=1e-3)
    assert probs["A=B"] == pytest.approx(0.049787 / total, abs=1e-3)


def test_a_json_verdict_outside_the_schema_is_reasked(tmp_path: Path) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        return Reply(text='{"reasoning": "x", "verdict": 2}' if is_reask(body) else '{"reasoning": "x", "verdict": 9}')

    with OpenAIServer(responder) as server:
        run(tmp_path, server, "run", structured_output=True)
        assert len(server.requests) == 2 * N
        assert all("response_format" in b for b in server.requests)  # the re-ask keeps the schema
    assert {v["data"]["level"] for v in stored(tmp_path, "run")} == {"A>B"}


def test_rubric_structured_output(tmp_path: Path) -> None:
    rows = [{"id": "q1", "instruction": "question", "answers": {"a": "ANSWER_ALPHA", "b": "ANSWER_BETA"}}]
    rubric = {"criterion": "Is it right?", "scores": {str(s): f"level {s}" for s in range(1, 6)}}

    def responder(body: dict[str, Any]) -> Reply:
        schema = schema_of(body)
        assert list(schema["properties"]) == ["feedback", "score"]
        assert schema["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
        alpha = any("ANSWER_ALPHA" in m["content"] for m in body["messages"])
        return Reply(text=json.dumps({"feedback": "Clear.", "score": 5 if alpha else 2}))

    with OpenAIServer(responder) as server:
        run(tmp_path, server, "run", protocol="rubric", rows=rows, structured_output=True, rubric=rubric)
        assert len(server.requests) == 2
    verdicts = {v["data"]["model"]: v for v in stored(tmp_path, "run")}
    assert {m: v["data"]["score"] for m, v in verdicts.items()} == {"a": 5, "b": 2}
    assert all(v["data"]["feedback"] == "Clear." for v in verdicts.values())


def test_checklist_structured_output_all_mode(tmp_path: Path) -> None:
    rows = [{"id": "q1", "instruction": "question", "answers": {"a": "one", "b": "two"},
             "checklist": ["Is it short?", "Is it a number?", "Is it polite?"]}]

    def responder(body: dict[str, Any]) -> Reply:
        schema = schema_of(body)
        assert schema["properties"]["answers"]["items"] == {"type": "string", "enum": ["YES", "NO"]}
        return Reply(text=json.dumps({"reasoning": "ok", "answers": ["YES", "NO", "YES"]}))

    with OpenAIServer(responder) as server:
        run(tmp_path, server, "run", protocol="checklist", rows=rows, structured_output=True)
        assert len(server.requests) == 2
    assert [v["data"]["answers"] for v in stored(tmp_path, "run")] == [["YES", "NO", "YES"]] * 2


def test_a_server_refusing_response_format_is_detected_once_and_text_is_parsed(tmp_path: Path) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        if "response_format" in body:
            return Reply(status=400, error="response_format is not supported by this server")
        return Reply(text="A is better. [[2]]")

    with OpenAIServer(responder) as server:
        manifest = run(tmp_path, server, "run", structured_output=True)
        forms = [b.get("response_format", {}).get("type") for b in server.requests]
    # the first call tries OpenAI's form, then llama-cpp-python's, then plain text; later calls plain text
    assert forms == ["json_schema", "json_object", None] + [None] * (N - 1)
    assert all(v["status"] == "ok" and v["data"]["level"] == "A>B" for v in stored(tmp_path, "run"))
    notices = manifest["judge_notices"]
    assert len(notices) == 2 and "going on with text parsing" in notices[1]
    assert manifest["invocations"][0]["errors"] == {}


def test_llama_cpp_python_style_server_gets_the_json_object_form(tmp_path: Path) -> None:
    """llama-cpp-python's server takes {"type": "json_object", "schema": ...} and answers 422 to
    OpenAI's json_schema type; the backend learns that on the first call."""
    def responder(body: dict[str, Any]) -> Reply:
        response_format = body.get("response_format") or {}
        if response_format.get("type") != "json_object":
            return Reply(status=422, body={"detail": [{"loc": ["body", "response_format", "type"],
                                                         "msg": "Input should be 'text' or 'json_object'"}]})
        assert response_format["schema"]["properties"]["verdict"]["enum"] == [1, 2, 3, 4, 5]
        return Reply(text='{"reasoning": "r", "verdict": 1}')

    with OpenAIServer(responder) as server:
        run(tmp_path, server, "run", structured_output=True)
        assert len(server.requests) == N + 1
    assert {v["data"]["level"] for v in stored(tmp_path, "run")} == {"A>>B"}
