"""`vllm:MODEL` without a GPU: a stand-in engine (the one mock here, since vLLM needs a GPU)
takes the place of `vllm.LLM` through the VLLMApi seam. It records every `chat` batch and answers
with vLLM-shaped outputs (RequestOutput / CompletionOutput / Logprob with decoded tokens), so the
tests check what the backend owns: batching with the real runner, the mapping of sampling
parameters and engine options, logprob conversion, and the isolation of a refused request.
On a GPU machine, bench/vllm_smoke.py runs the real engine.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.errors import BadInput
from harness.execute import RunOptions, run_task
from harness.hookspecs import hookimpl
from harness.judges.base import FatalJudgeError, RequestRejected
from harness.judges.vllm_engine import VLLMApi, VLLMBackend
from harness.models import JudgeRequest, JudgeSpec, Message, OutputChoices, Sampling
from harness.plugins import load_plugins
from harness.testing.tasks import write_task

REPO = Path(__file__).resolve().parents[2]

# -- vLLM-shaped outputs ------------------------------------------------------------------------


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str = "stop"


@dataclass
class RequestOutput:
    request_id: str
    prompt: str
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]
    finished: bool = True


@dataclass
class Params:
    """Stands in for SamplingParams and StructuredOutputsParams: keeps the keyword arguments."""

    kwargs: dict[str, Any]


def params(**kwargs: Any) -> Params:
    return Params(kwargs)


# Planted logprobs of the verdict token "A" (id 65): "A" 0.7, "B" 0.2, " A" 0.05, and a second
# token that also decodes to "A" (id 2000, 0.01), which must not overwrite the better one.
VERDICT_STEP = {65: Logprob(math.log(0.7), 1, "A"), 66: Logprob(math.log(0.2), 2, "B"),
                1000: Logprob(math.log(0.05), 3, " A"), 2000: Logprob(math.log(0.01), 4, "A")}


@dataclass
class FakeLLM:
    """Records engine arguments and batches; answers "A" with VERDICT_STEP when logprobs are asked."""

    kwargs: dict[str, Any]
    batches: list[list[tuple[list[dict[str, str]], Params]]] = field(default_factory=list)
    chat_kwargs: list[dict[str, Any]] = field(default_factory=list)
    fail: Callable[[list[list[dict[str, str]]]], None] | None = None

    def chat(self, messages: list[list[dict[str, str]]], sampling_params: list[Params], use_tqdm: bool = True,
             **kwargs: Any) -> list[RequestOutput]:
        assert use_tqdm is False and len(messages) == len(sampling_params)
        self.batches.append(list(zip(messages, sampling_params)))
        self.chat_kwargs.append(kwargs)
        if self.fail is not None:
            self.fail(messages)
        outputs = []
        for i, (conversation, sp) in enumerate(zip(messages, sampling_params)):
            prompt_ids = list(range(sum(len(m["content"].split()) for m in conversation)))
            steps = [VERDICT_STEP] if sp.kwargs.get("logprobs") else None
            completion = CompletionOutput(0, "A", [65], None, steps)
            outputs.append(RequestOutput(str(i), "", prompt_ids, [completion]))
        return outputs


class FakeVLLM:
    """A VLLMApi whose engine is a FakeLLM; `engines` keeps each engine built."""

    def __init__(self, structured_field: str | None = "structured_outputs",
                 fail: Callable[[list[list[dict[str, str]]]], None] | None = None):
        self.engines: list[FakeLLM] = []

        def llm(**kwargs: Any) -> FakeLLM:
            engine = FakeLLM(kwargs, fail=fail)
            self.engines.append(engine)
            return engine

        self.api = VLLMApi(llm_class=llm, sampling_params_class=params,
                           structured_class=params if structured_field else None, structured_field=structured_field)


def started(spec: JudgeSpec, fake: FakeVLLM) -> VLLMBackend:
    backend = VLLMBackend(spec, api=fake.api)
    asyncio.run(backend.start())
    return backend


def request(rid: str = "r", text: str = "Which is better?", **fields: Any) -> JudgeRequest:
    return JudgeRequest(id=rid, item_id="i", messages=(Message(role="user", content=text),), **fields)


# -- tests --------------------------------------------------------------------------------------


def test_sampling_parameters_map_onto_vllm() -> None:
    backend = started(JudgeSpec.parse("vllm:org/judge-7b"), fake := FakeVLLM())
    plain = backend.sampling_params(request(sampling=Sampling(temperature=0.3, max_tokens=99, seed=7)))
    assert plain.kwargs == {"temperature": 0.3, "max_tokens": 99, "seed": 7}
    with_logprobs = backend.sampling_params(request(sampling=Sampling(logprobs=True, top_logprobs=5)))
    assert with_logprobs.kwargs == {"temperature": 0.0, "max_tokens": 512, "seed": 0, "logprobs": 5}
    choices = backend.sampling_params(request(constraint=OutputChoices(choices=("A", "B"))))
    assert choices.kwargs["structured_outputs"] == Params({"choice": ["A", "B"]})
    schema = {"type": "object", "properties": {"verdict": {"enum": ["A", "B"]}}, "required": ["verdict"]}
    as_json = backend.sampling_params(request(json_schema=schema))
    assert as_json.kwargs["structured_outputs"] == Params({"json": schema})
    assert fake.engines[0].kwargs == {"model": "org/judge-7b"}


def test_older_vllm_gets_guided_decoding_and_one_without_it_a_notice() -> None:
    schema = {"type": "object"}
    older = started(JudgeSpec.parse("vllm:m"), FakeVLLM(structured_field="guided_decoding"))
    assert older.sampling_params(request(json_schema=schema)).kwargs["guided_decoding"] == Params({"json": schema})
    without = started(JudgeSpec.parse("vllm:m"), FakeVLLM(structured_field=None))
    assert without.sampling_params(request(json_schema=schema)).kwargs == {
        "temperature": 0.0, "max_tokens": 512, "seed": 0}
    assert len(without.notices) == 1 and "no structured outputs" in without.notices[0]


def test_engine_options_come_from_the_judge_spec() -> None:
    spec = JudgeSpec.parse("vllm:org/judge-70b", options={
        "gpu_memory_utilization": "0.8", "tensor_parallel_size": "4", "max_model_len": 8192, "dtype": "bfloat16",
        "enforce_eager": "true", "engine_args": {"enable_chunked_prefill": False}, "batch_size": 64,
        "chat_template_kwargs": {"enable_thinking": False},
    })
    backend = started(spec, fake := FakeVLLM())
    assert fake.engines[0].kwargs == {
        "model": "org/judge-70b", "gpu_memory_utilization": 0.8, "tensor_parallel_size": 4, "max_model_len": 8192,
        "dtype": "bfloat16", "enforce_eager": True, "enable_chunked_prefill": False}
    assert backend.concurrency == 64
    asyncio.run(_complete_all(backend, [request()]))
    assert fake.engines[0].chat_kwargs == [{"chat_template_kwargs": {"enable_thinking": False}}]
    with pytest.raises(BadInput, match="gpu_memory_utilization='most'"):
        started(JudgeSpec.parse("vllm:m", options={"gpu_memory_utilization": "most"}), FakeVLLM())


def test_logprobs_become_token_logprobs() -> None:
    backend = started(JudgeSpec.parse("vllm:m"), FakeVLLM())
    [response] = asyncio.run(_complete_all(backend, [request(text="one two three",
                                                             sampling=Sampling(logprobs=True, top_logprobs=3))]))
    assert response.text == "A" and response.tokens_in == 3 and response.tokens_out == 1
    assert response.model == "m"
    [token] = response.logprobs
    assert token.token == "A" and token.logprob == pytest.approx(math.log(0.7))
    assert token.top == pytest.approx({"A": math.log(0.7), "B": math.log(0.2), " A": math.log(0.05)})


async def _complete_all(backend: VLLMBackend, requests: list[JudgeRequest]) -> list[Any]:
    return await asyncio.gather(*(backend.complete(r) for r in requests), return_exceptions=True)


def test_a_refused_request_is_isolated_and_the_rest_of_its_batch_answered() -> None:
    def refuse_long(messages: list[list[dict[str, str]]]) -> None:
        if any("TOO LONG" in conversation[-1]["content"] for conversation in messages):
            raise ValueError("The decoder prompt is longer than the maximum model length of 4096")

    backend = started(JudgeSpec.parse("vllm:m"), fake := FakeVLLM(fail=refuse_long))
    requests = [request(f"r{i}", "TOO LONG" if i == 3 else f"question {i}") for i in range(6)]
    results = asyncio.run(_complete_all(backend, requests))
    assert isinstance(results[3], RequestRejected) and "maximum model length" in str(results[3])
    assert all(r.text == "A" for i, r in enumerate(results) if i != 3)
    # 6 fail together; halves r0-r2 (ok) and r3-r5 (fail); then r3 alone (refused) and r4-r5 (ok).
    assert [len(b) for b in fake.engines[0].batches] == [6, 3, 3, 1, 2]
    assert backend.batches == [6]


def test_an_engine_failure_stops_the_run() -> None:
    def crash(messages: list[list[dict[str, str]]]) -> None:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    backend = started(JudgeSpec.parse("vllm:m"), fake := FakeVLLM(fail=crash))
    results = asyncio.run(_complete_all(backend, [request(f"r{i}") for i in range(4)]))
    assert all(isinstance(r, FatalJudgeError) and "illegal memory access" in str(r) for r in results)
    assert len(fake.engines[0].batches) == 1  # no point splitting a batch the engine cannot run


class FakeVLLMPlugin:
    """Registers `vllm-fake`: the real VLLMBackend with the stand-in engine, for run_task."""

    def __init__(self) -> None:
        self.fake = FakeVLLM()
        self.backends: list[VLLMBackend] = []

    @hookimpl
    def harness_register_judges(self, register: Callable[..., None]) -> None:
        def factory(spec: JudgeSpec) -> VLLMBackend:
            backend = VLLMBackend(spec, api=self.fake.api)
            self.backends.append(backend)
            return backend

        register("vllm-fake", factory)


def test_a_run_reaches_the_engine_in_full_batches(tmp_path: Path) -> None:
    """40 requests (10 items x 2 pairs x 2 orders) with batch_size 16: batches of 16, 16 and 8."""
    rows = [{"id": f"q{i}", "instruction": f"Question {i}?", "answers": {m: f"{m} {i}" for m in ("base", "x", "y")}}
            for i in range(10)]
    task = write_task(tmp_path, name="vllm-batches", protocol="pairwise", rows=rows, judge="vllm-fake:org/judge",
                      options={"baselines": ["base"], "verdict_format": "binary", "reasoning": False,
                               "n_bootstrap": 20})
    plugin = FakeVLLMPlugin()
    result = run_task(task, RunOptions(out=tmp_path / "run", progress=False, judge_options={"batch_size": 16}),
                      plugins=load_plugins(extra=[plugin]))
    engine = plugin.fake.engines[0]
    assert [len(batch) for batch in engine.batches] == [16, 16, 8]
    first_params = engine.batches[0][0][1].kwargs
    assert first_params["structured_outputs"] == Params({"choice": ["A", "B"]}) and first_params["logprobs"] == 10
    verdicts = result.manifest["counts"]
    assert verdicts == {"ok": 40, "invalid": 0, "failed": 0, "pending": 0}
    import json

    stored = [json.loads(line) for line in (result.directory / "verdicts.jsonl").read_text().splitlines()]
    # P(A) = (0.7 + 0.05) / 0.95 by hand: " A" counts as "A"; the duplicate "A" (0.01) does not add.
    assert all(v["data"]["probs"]["A>>B"] == pytest.approx(0.75 / 0.95, abs=1e-6) for v in stored)


@pytest.mark.parametrize("spec, message", [
    ("vllm:Qwen/Qwen2.5-7B-Instruct", "pip install 'harness-eval[vllm]'"),
    ("vllm", "names no model"),
])
def test_cli_exit_2_without_vllm_or_model(tmp_path: Path, spec: str, message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "tasks/demo.yaml", "--judge", spec,
                             "--out", str(tmp_path / "run")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("harness: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
