"""Structured output against a real peer: `python -m llama_cpp.server` with SmolLM2-135M.

llama-cpp-python's server refuses OpenAI's `json_schema` response format (422) and takes
`{"type": "json_object", "schema": ...}`, which it enforces with a grammar: the backend must learn
that on the first call, and the tiny model's output must then match the schema.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from harness.judges.openai_compat import OpenAIBackend
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec, Message, Sampling
from harness.testing.llama_server import LLAMA_SERVER_KEY
from harness_plugins.pairwise.verdicts import parse_json_level, verdict_schema

pytestmark = pytest.mark.slow


def test_llama_cpp_server_enforces_the_verdict_schema(llama_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", LLAMA_SERVER_KEY)
    schema = verdict_schema("scale", reasoning=False)
    request = JudgeRequest(
        id="q", item_id="i", json_schema=schema,
        messages=(Message(role="user", content="Answer A: 'Paris'. Answer B: 'Rome'. Which answers 'capital of "
                                               "France' better? Give your verdict 1 (A much better) to 5."),),
        sampling=Sampling(temperature=0.0, max_tokens=24, seed=0),
    )

    async def go() -> tuple[list[JudgeResponse], list[str]]:
        backend = OpenAIBackend(JudgeSpec(backend="openai", model="smollm2", base_url=llama_server, timeout_s=120))
        await backend.start()
        try:
            return [await backend.complete(request), await backend.complete(request)], backend.notices
        finally:
            await backend.close()

    responses, notices = asyncio.run(go())
    assert len(notices) == 1 and "refuses response_format json_schema" in notices[0]
    for response in responses:
        data = json.loads(response.text)
        assert set(data) == {"verdict"} and data["verdict"] in (1, 2, 3, 4, 5)
        level, offset = parse_json_level(response.text, "scale")
        assert response.text[offset] == str(data["verdict"])
