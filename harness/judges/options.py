"""What each judge backend accepts as options (`--judge-option k=v`, a task's `judge.options`).

A backend's options are a pydantic model, as a protocol's are: a misspelled or ill-typed option is
a one-line error naming it and listing the valid ones (exit 2), before any run directory exists.
Options a backend hands to another program by design are declared as such: `engine_args` (any
`vllm.LLM` argument), `extra_body` (fields added to every request body), and, for the managed
servers, every option the model does not name (it becomes a server flag, as `--n_ctx 8192`).

A plugin's backend declares its model with `@judge_options(Model)` on its factory; a factory
without one accepts any option (the backend reads `spec.options` itself).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from harness.errors import BadInput
from harness.judges.defaults import (
    DEAD_AFTER,
    DEFAULT_TRANSPORT,
    DROPPED_OPTIONS,
    ENGINE_OPTIONS,
    PROBE_AFTER_S,
    UNREACHABLE_AFTER,
    UNREACHABLE_AFTER_S,
)
from harness.models import JudgeSpec

F = TypeVar("F", bound=Callable[..., Any])
EXTRA_BUFTS = ("llama.cpp's extra weight buffer types (AMX/AVX-512 repacking); off by default: "
               "they crash llama-cpp-python 0.3.36 on AMX CPUs (docs/judges.md)")
Transport = Literal["auto", "aiohttp", "httpx"]


def judge_options(model: type[BaseModel]) -> Callable[[F], F]:
    """Declare the options model of a judge backend's factory (read by the registry)."""
    def mark(factory: F) -> F:
        factory.options_model = model  # type: ignore[attr-defined]
        return factory
    return mark


def options_model(factory: Callable[..., Any]) -> type[BaseModel] | None:
    """The factory's declared options model; None: it accepts any option."""
    return getattr(factory, "options_model", None)


class CommonOptions(BaseModel):
    """Read by the harness for every backend: rate limits and the retry policy."""

    model_config = ConfigDict(extra="forbid")

    rpm: float | None = Field(default=None, gt=0, description="requests per minute at most (off: unlimited)")
    tpm: float | None = Field(default=None, gt=0, description="tokens per minute at most (off: unlimited)")
    max_attempts: int | None = Field(default=None, ge=1, description="attempts per call (off: the run's, 4)")
    max_retry_wait_s: float | None = Field(
        default=None, gt=0, description="total wait before a call is stored as failed (off: the run's, 600 s)")
    unreachable_after: int = Field(
        default=UNREACHABLE_AFTER, ge=0, description="connection failures in a row that stop the run (0: never)")
    unreachable_after_s: float = Field(
        default=UNREACHABLE_AFTER_S, ge=0, description="... and for at least this many seconds")


class LocalOptions(CommonOptions):
    n_ctx: int = Field(default=4096, ge=1, description="context window of the embedded model, in tokens")
    n_threads: int | None = Field(default=None, ge=1, description="CPU threads (off: every core)")
    use_extra_bufts: bool = Field(
        default=False, description=EXTRA_BUFTS)


class ClientOptions(CommonOptions):
    """The OpenAI-compatible client's own options."""

    transport: Transport = Field(
        default=cast(Transport, DEFAULT_TRANSPORT), description="aiohttp: the lean raw-body path; httpx: the SDK's client; auto: aiohttp if installed")
    extra_body: dict[str, Any] | None = Field(
        default=None, description="passed through: fields added to every request body (server-specific sampling)")


class OpenAIOptions(ClientOptions):
    dead_after: int = Field(default=DEAD_AFTER, ge=1, description="with several base URLs: failures in a row that bench one")
    probe_after_s: float = Field(default=PROBE_AFTER_S, gt=0, description="with several base URLs: when a benched one is tried again")


class ManagedServerOptions(ClientOptions):
    """Any option not named here is passed through as a server flag (`--name value`)."""

    model_config = ConfigDict(extra="allow")

    startup_timeout_s: float = Field(default=900.0, gt=0, description="how long the server may take to start")
    shutdown_grace_s: float = Field(default=10.0, ge=0, description="wait after SIGTERM before SIGKILL")
    server_args: str | list[str] = Field(default_factory=list, description="passed through: extra server arguments")
    executable: str | None = Field(default=None, description="the server command (off: found on PATH)")


class VLLMServerOptions(ManagedServerOptions):
    """Options not named here become `vllm serve` flags: gpu_memory_utilization=0.8 -> --gpu-memory-utilization 0.8."""


class LlamaServerOptions(ManagedServerOptions):
    """Options not named here become llama_cpp.server flags: n_ctx=8192 -> --n_ctx 8192."""

    startup_timeout_s: float = Field(default=120.0, gt=0, description="how long the server may take to start")
    n_ctx: int = Field(default=4096, ge=1, description="server flag: context window, in tokens")
    logits_all: bool = Field(default=True, description="server flag: logprobs for every token")
    verbose: bool = Field(default=False, description="server flag: llama.cpp's own logging")
    use_extra_bufts: bool = Field(default=False, description=EXTRA_BUFTS)


class ReplayOptions(CommonOptions):
    """Options of `replay:RUN_DIR`."""

    judge: str | None = Field(default=None, description="the judge whose verdicts to replay, when the run holds several")


def _vllm_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {
        name: (kind | None, Field(default=None, description="vllm.LLM argument (off: vLLM's default)"))
        for name, kind in ENGINE_OPTIONS.items()
    }
    fields.update({name: (Any, Field(default=None, description=f"dropped: {why}")) for name, why in DROPPED_OPTIONS.items()})
    fields["engine_args"] = (dict[str, Any], Field(default_factory=dict, description="passed through: any other vllm.LLM argument"))
    fields["batch_size"] = (int | None, Field(default=None, ge=1, description="prompts per engine batch (off: max(concurrency, 256))"))
    fields["chat_template_kwargs"] = (dict[str, Any] | None, Field(default=None, description="passed to the chat template"))
    return fields


VLLMOptions = create_model("VLLMOptions", __base__=CommonOptions, **_vllm_fields())

def check_options(spec: JudgeSpec, model: type[BaseModel] | None) -> None:
    """Raise BadInput naming the first unknown or ill-typed option and listing the valid ones."""
    if model is None:
        return
    try:
        model.model_validate(spec.options)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error["loc"][:1]) or "?"
        valid = ", ".join(sorted(model.model_fields))
        passthrough = " (any other option is passed to the server)" if model.model_config.get("extra") == "allow" else ""
        if error["type"] == "extra_forbidden":
            raise BadInput(f"judge {spec.label!r}: unknown judge option {name} (valid: {valid}){passthrough}") from None
        value = spec.options.get(name)
        raise BadInput(f"judge {spec.label!r}: judge option {name}={value!r}: {error['msg']} (valid: {valid})") from None


def describe(model: type[BaseModel] | None) -> list[tuple[str, str, str]]:
    """(option, default, what it does) for `harness judges`; empty for a backend without a model."""
    if model is None:
        return []
    rows = []
    for name, info in sorted(model.model_fields.items()):
        default = info.get_default(call_default_factory=True)
        rows.append((name, "-" if default is None else repr(default), info.description or ""))
    return rows
