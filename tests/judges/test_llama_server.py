"""OpenAIBackend end to end against a real peer: `python -m llama_cpp.server` with SmolLM2-135M.

The loopback test server proves the classification logic; this proves the backend speaks what a
real OpenAI-compatible server actually sends (logprob layout, usage, its error bodies).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.judges.base import FatalJudgeError
from harness.judges.openai_compat import OpenAIBackend
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec, Message, Sampling
from harness.testing.llama_server import LLAMA_SERVER_KEY

pytestmark = pytest.mark.slow

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
    monkeypatch.setenv("OPENAI_API_KEY", LLAMA_SERVER_KEY)
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
    monkeypatch.setenv("OPENAI_API_KEY", LLAMA_SERVER_KEY)
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
    assert wrong not in str(caught.value) and LLAMA_SERVER_KEY not in str(caught.value)
