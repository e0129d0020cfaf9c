"""A server's refusal of one request (too long for the context, a content filter) fails that
request alone, on every OpenAI-compatible judge; a refusal every request gets (a bad parameter)
still stops the run early with the server's message.

Each test runs `harness run` as a user does, against a real loopback server answering with the
error bodies real servers send: OpenAI's, vLLM 0.32's (VLLMValidationError), llama.cpp server's,
and llama-cpp-python's (built by its own formatter). The run on the real vLLM server is in
tests_vllm/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.judges.openai_compat import UNEXPLAINED_REFUSALS_TO_STOP
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

ITEMS = 4
MODELS = ("alpha", "beta", "gamma")
PER_ITEM = 3 * 2  # pairs x orders
N_REQUESTS = ITEMS * PER_ITEM


def llama_cpp_python_body() -> dict[str, Any]:
    """What llama-cpp-python's server sends for a prompt over its n_ctx: its own formatter, fed
    the message llama_cpp raises."""
    from llama_cpp.server.errors import ErrorResponseFormatters

    match = re.search(r"Requested tokens \((\d+)\) exceed context window of (\d+)",
                      "Requested tokens (5210) exceed context window of 4096")
    status, error = ErrorResponseFormatters.context_length_exceeded(SimpleNamespace(messages=[], max_tokens=16), match)
    assert status == 400
    return {"error": dict(error)}


#: Error bodies of a request that does not fit, as each server sends them.
TOO_LONG = {
    "openai": {"error": {"message": "This model's maximum context length is 128000 tokens. However, your messages "
                                    "resulted in 130512 tokens. Please reduce the length of the messages.",
                         "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}},
    # vllm/renderers/params.py and entrypoints/serve/exception_handling/error_response.py (0.32)
    "vllm": {"error": {"message": "This model's maximum context length is 2048 tokens. However, your prompt contains "
                                  "54310 characters (more than 12000 characters, which is the upper bound for 2000 "
                                  "input tokens). Please reduce the length of the input prompt.",
                       "type": "BadRequestError", "param": "input_text", "code": 400}},
    # tools/server/server-common.cpp: format_error_response(ERROR_TYPE_EXCEED_CONTEXT_SIZE)
    "llama.cpp": {"error": {"code": 400, "message": "request (5210 tokens) exceeds the available context size "
                                                    "(4096 tokens), try increasing it",
                            "type": "exceed_context_size_error", "n_prompt_tokens": 5210, "n_ctx": 4096}},
    "content filter": {"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's "
                                            "content management policy.", "type": None, "param": "prompt",
                                 "code": "content_filter", "status": 400}},
}


def task_file(tmp_path: Path) -> Path:
    rows = [{"id": f"q{i}", "instruction": f"Question {i}?",
             "answers": {m: f"{m} answers question {i}" + "!" * len(m) for m in MODELS}} for i in range(ITEMS)]
    return write_task(tmp_path, name="refusals", protocol="pairwise", rows=rows, options={"n_bootstrap": 20})


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_DEBUG", "OPENAI_BASE_URL")}
    env["OPENAI_API_KEY"] = "sk-refusals"
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=180, env=env)


def asks_about(body: dict[str, Any], item: int) -> bool:
    return f"Question {item}?" in next(m["content"] for m in body["messages"] if m["role"] == "user")


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def counts(out: Path) -> dict[str, int]:
    return json.loads((out / "run.json").read_text())["counts"]


def run_args(task: Path, out: Path, server: OpenAIServer, *extra: str) -> tuple[str, ...]:
    return ("run", str(task), "--judge", "openai:judge", "--base-url", server.base_url, "--out", str(out),
            "--no-progress", *extra)


@pytest.mark.parametrize("server_kind", [*TOO_LONG, "llama-cpp-python"])
def test_a_request_the_server_refuses_fails_alone_and_the_rerun_retries_only_it(tmp_path: Path,
                                                                                server_kind: str) -> None:
    """The refused item is the first one asked (concurrency 1), so nothing was answered yet: the
    error's code or message alone must say that it concerns this request."""
    body = llama_cpp_python_body() if server_kind == "llama-cpp-python" else TOO_LONG[server_kind]
    task, out = task_file(tmp_path), tmp_path / "run"

    def refuses_q0(request: dict[str, Any]) -> Reply:
        return Reply(status=400, body=body) if asks_about(request, 0) else Reply(text="[[2]]")

    with OpenAIServer(refuses_q0) as server:
        proc = harness(*run_args(task, out, server, "--concurrency", "1"))
        asked = len(server.requests)
    assert proc.returncode == 1, proc.stderr
    line = one_line(proc.stderr)
    assert line.startswith(f"harness: incomplete: {PER_ITEM} of {N_REQUESTS} requests failed (most common error: "
                           "HTTP 400 after 1 attempts: ")  # not retried: it would be refused again
    assert body["error"]["message"][:40] in line
    assert "; item q0;" in line and f"--out {out} to retry only those" in line
    assert asked == N_REQUESTS
    assert counts(out) == {"ok": N_REQUESTS - PER_ITEM, "invalid": 0, "failed": PER_ITEM, "pending": 0}

    with OpenAIServer(lambda request: Reply(text="[[2]]")) as server:
        again = harness(*run_args(task, out, server))
        retried = {next(i for i in range(ITEMS) if asks_about(r, i)) for r in server.requests}
        assert len(server.requests) == PER_ITEM
    assert again.returncode == 0, again.stderr
    assert retried == {0}
    assert counts(out)["ok"] == N_REQUESTS


def test_an_unexplained_refusal_fails_its_request_alone_once_another_was_answered(tmp_path: Path) -> None:
    task, out = task_file(tmp_path), tmp_path / "run"
    message = "Invalid control character in the input at position 12"

    def refuses_q3(request: dict[str, Any]) -> Reply:
        return Reply(status=400, error=message) if asks_about(request, 3) else Reply(text="[[2]]")

    with OpenAIServer(refuses_q3) as server:
        proc = harness(*run_args(task, out, server, "--concurrency", "1"))
    assert proc.returncode == 1, proc.stderr
    line = one_line(proc.stderr)
    assert line.startswith(f"harness: incomplete: {PER_ITEM} of {N_REQUESTS} requests failed") and message in line
    assert "; item q3;" in line
    assert counts(out) == {"ok": N_REQUESTS - PER_ITEM, "invalid": 0, "failed": PER_ITEM, "pending": 0}


@pytest.mark.parametrize("concurrency", ["1", "8"])
def test_a_refusal_every_request_gets_stops_the_run_early_with_the_servers_message(tmp_path: Path,
                                                                                   concurrency: str) -> None:
    task, out = task_file(tmp_path), tmp_path / "run"
    message = "temperature: Input should be less than or equal to 2"

    with OpenAIServer(lambda request: Reply(status=400, error=message)) as server:
        proc = harness(*run_args(task, out, server, "--concurrency", concurrency))
        asked = len(server.requests)
    assert proc.returncode == 1, proc.stderr
    line = one_line(proc.stderr)
    assert line.startswith("harness: run failed: openai:judge: HTTP 400: " + message)
    assert f"--out {out} to resume" in line
    limit = UNEXPLAINED_REFUSALS_TO_STOP if concurrency == "1" else int(concurrency) + UNEXPLAINED_REFUSALS_TO_STOP
    assert asked <= limit < N_REQUESTS


@pytest.mark.parametrize("body", [
    {"error": {"message": "The model `judge` does not exist", "type": "invalid_request_error", "param": None,
               "code": "model_not_found"}},  # llama-cpp-python's server, with a 400
    {"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this model.",
               "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}},
])
def test_a_refusal_whose_code_names_the_setup_stops_at_once(tmp_path: Path, body: dict[str, Any]) -> None:
    task, out = task_file(tmp_path), tmp_path / "run"
    with OpenAIServer(lambda request: Reply(status=400, body=body)) as server:
        proc = harness(*run_args(task, out, server, "--concurrency", "1"))
        asked = len(server.requests)
    assert proc.returncode == 1, proc.stderr
    assert one_line(proc.stderr).startswith("harness: run failed: openai:judge: HTTP 400: ")
    assert asked == 1


def test_an_answer_withheld_by_a_content_filter_fails_its_request_alone(tmp_path: Path) -> None:
    """OpenAI (and Azure) answer 200 with no content and finish_reason content_filter: asking
    again gets the same, so the request fails at once instead of after every retry."""
    task, out = task_file(tmp_path), tmp_path / "run"
    filtered = {"id": "chatcmpl-f", "object": "chat.completion", "created": 0, "model": "judge",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": None},
                             "finish_reason": "content_filter"}]}

    def filters_q1(request: dict[str, Any]) -> Reply:
        return Reply(body=filtered) if asks_about(request, 1) else Reply(text="[[2]]")

    with OpenAIServer(filters_q1) as server:
        proc = harness(*run_args(task, out, server))
        asked = len(server.requests)
    assert proc.returncode == 1, proc.stderr
    line = one_line(proc.stderr)
    assert "content filter" in line and "; item q1;" in line
    assert asked == N_REQUESTS  # each asked once, not retried
    assert counts(out)["failed"] == PER_ITEM
