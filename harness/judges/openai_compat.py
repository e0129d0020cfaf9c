"""A judge behind any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp, ...).

The backend's real job is classifying failures: the runner retries what is transient (rate limits,
5xx, timeouts, broken bodies) and stops on what is fatal (bad key, unknown model), so a wrong
class either wastes a run or hides a misconfiguration. The SDK's own retries are off for the same
reason. Response bodies are parsed here rather than by the SDK, so a malformed body is always
seen and classified instead of surfacing as an unrelated exception.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import math
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import TypeAdapter

from harness.judges.base import (
    FatalJudgeError,
    JudgeBackend,
    JudgeConfigError,
    JudgeError,
    RequestRejected,
    TransientJudgeError,
)
from harness.judges.defaults import DEFAULT_TRANSPORT
from harness.judges.http_transport import (
    OPENAI_BASE_URL,
    AiohttpTransport,
    ConnectionFailure,
    HTTPFailure,
    TimeoutFailure,
)
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec, TokenLogprob

#: Sent to local servers that need no key; the SDK refuses to build a client without one.
PLACEHOLDER_KEY = "sk-no-key-required"
_TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
_MAX_ERROR_CHARS = 200
#: Statuses a server answers when it refuses what was sent: one request's input (too long, filtered)
#: or the setup every request shares (a bad parameter). `_status_error` tells them apart.
_REFUSED_STATUSES = frozenset({400, 413, 422})
#: Error codes and types that concern one request, whatever else the run sends: OpenAI's (and
#: llama-cpp-python's) context_length_exceeded, OpenAI's and Azure's content filters, llama.cpp
#: server's exceed_context_size_error, OpenAI's string_above_max_length.
_ONE_REQUEST_CODES = frozenset({
    "context_length_exceeded", "string_above_max_length", "content_filter", "content_policy_violation",
    "exceed_context_size_error",
})
#: vLLM's VLLMValidationError names the prompt as the parameter it refuses for its length.
_ONE_REQUEST_PARAMS = frozenset({"input_text", "input_tokens"})
#: Messages that say the same where a server gives no code: vLLM's and OpenAI's "This model's
#: maximum context length is N tokens", llama.cpp server's "exceeds the available context size",
#: llama-cpp-python's "Requested tokens (N) exceed context window of M", content filters.
_ONE_REQUEST_PHRASES = ("maximum context length", "exceeds the available context size", "exceed context window",
                        "content filter", "content management policy")
#: Error codes that concern every request (the model, a parameter the model does not take): the
#: run stops at the first, as for any other fatal error. llama-cpp-python's server answers an
#: unknown model with a 400 and `model_not_found`; OpenAI a bad parameter with `unsupported_*`.
_SETUP_CODES = frozenset({"model_not_found", "unsupported_parameter", "unsupported_value", "invalid_api_key"})
#: A refusal no code or message explains stops the run when this many requests in a row got one
#: before any request was answered (a bad parameter every request carries). Once one request was
#: answered, such a refusal concerns its own request: it fails alone.
UNEXPLAINED_REFUSALS_TO_STOP = 3


class OpenAIBackend(JudgeBackend):
    """Chat completions over HTTP with the official `openai` SDK (imported in `start()`)."""

    capabilities = frozenset({"logprobs", "json_schema"})

    def __init__(self, spec: JudgeSpec):
        super().__init__(spec)
        self._client: Any = None
        self._openai: Any = None
        self._logprobs_refused = False
        #: How structured output is asked for: OpenAI's `json_schema` form first, then the
        #: `json_object` + `schema` form of llama-cpp-python's server, then not at all.
        self._schema_style: str | None = "json_schema"
        self._secret: str | None = None
        self._url_password = urlsplit(spec.base_url).password if spec.base_url else None
        self._slots: asyncio.Semaphore | None = None
        self._lean: AiohttpTransport | None = None
        #: Whether any request was answered: a refusal then concerns its own request alone.
        self._answered = False
        #: Refusals no code or message explained, before the first answer.
        self._unexplained_refusals = 0

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.label!r})"

    def check(self) -> None:
        if not self.spec.model:
            raise JudgeConfigError(f"judge {self.label!r} names no model: write it as openai:MODEL")
        self._api_key()
        self._transport()

    async def start(self) -> None:
        self.check()
        key = self._api_key()
        self._secret = key if key != PLACEHOLDER_KEY else None
        self._slots = asyncio.Semaphore(self.spec.concurrency)
        if self._transport() == "aiohttp":
            url = (self.spec.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL).rstrip("/")
            self._lean = AiohttpTransport(f"{url}/chat/completions", self._headers(key), self.spec.timeout_s,
                                          self.spec.concurrency)
            self._client = self._lean
            return
        import openai

        self._openai = openai
        self._client = openai.AsyncOpenAI(
            base_url=self.spec.base_url,
            api_key=key,
            timeout=self.spec.timeout_s,
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(limits=_pool_limits(openai, self.spec.concurrency)),
        )

    def _transport(self) -> str:
        """`aiohttp`: the lean raw-body path (harness.judges.http_transport); `httpx`: the SDK's
        client. `auto` (the default) takes the lean path when aiohttp is installed and the base URL
        carries no credentials (the SDK knows how to send those)."""
        transport = self.spec.options.get("transport", DEFAULT_TRANSPORT)
        if transport not in ("auto", "aiohttp", "httpx"):
            raise JudgeConfigError(f"judge {self.label!r}: unknown transport {transport!r} (auto, aiohttp or httpx)")
        if transport == "httpx":
            return "httpx"
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            if transport == "aiohttp":
                raise JudgeConfigError(f"judge {self.label!r}: transport aiohttp needs `pip install aiohttp`") from None
            return "httpx"
        if self._url_password or (self.spec.base_url and urlsplit(self.spec.base_url).username):
            return "httpx"
        return "aiohttp"

    def _headers(self, key: str) -> dict[str, str]:
        """What the SDK would send besides the body: the key, and organisation/project when set."""
        headers = {"Authorization": f"Bearer {key}"}
        for env, header in (("OPENAI_ORG_ID", "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project")):
            if os.environ.get(env):
                headers[header] = os.environ[env]
        return headers

    def _api_key(self) -> str:
        """OPENAI_API_KEY, or a placeholder for a local server; no key for api.openai.com is fatal."""
        key = os.environ.get("OPENAI_API_KEY", "").strip()
        if key:
            return key
        if self.spec.base_url:
            return PLACEHOLDER_KEY
        raise JudgeConfigError(
            f"judge {self.label!r}: OPENAI_API_KEY is not set (set it, or give --base-url for a local server)"
        )

    async def complete(self, request: JudgeRequest) -> JudgeResponse:
        if self._client is None or self._slots is None:
            raise RuntimeError("OpenAIBackend.complete() called before start()")
        async with self._slots:
            started = time.perf_counter()
            try:
                content, body = await self._post(request)
            except HTTPFailure as exc:
                raise self._status_error(exc) from None
            except TimeoutFailure:
                raise TransientJudgeError(f"{self.label}: no answer within {self.spec.timeout_s:g}s") from None
            except ConnectionFailure as exc:
                raise TransientJudgeError(f"{self.label}: connection failed ({self._scrub(str(exc))})",
                                          unreachable=exc.connect) from None
            except _OtherFailure as exc:
                raise TransientJudgeError(f"{self.label}: {self._scrub(str(exc))}") from None
            latency = time.perf_counter() - started
        response = self._response(content, latency)
        self._answered = True
        if "logprobs" in body and response.logprobs is None and response.text:
            self.notice(f"judge {self.label} returns no logprobs although asked; expected scores are not available")
        return response

    async def _post(self, request: JudgeRequest) -> tuple[bytes, dict[str, Any]]:
        """POST the request; a server that refuses logprobs or response_format is asked again
        without them (each refusal is learnt once, so later calls do not ask)."""
        while True:
            body = self._body(request)
            try:
                return await self._send(body), body
            except HTTPFailure as exc:
                if self._refuses_logprobs(exc, body):
                    self._logprobs_refused = True
                    self.notice(f"judge {self.label} refuses logprobs; going on without them (no expected scores)")
                elif self._refuses_response_format(exc, body):
                    self._step_down_response_format(body)
                else:
                    raise

    async def _send(self, body: dict[str, Any]) -> bytes:
        """The raw answer body, or HTTPFailure / TimeoutFailure / ConnectionFailure whichever
        client sent it, so both paths are classified by the same code."""
        if self._lean is not None:
            return await self._lean.post(body)
        openai = self._openai
        try:
            return await self._client.post("/chat/completions", body=body, cast_to=bytes)
        except openai.APIStatusError as exc:
            raise HTTPFailure(int(exc.status_code), exc.body, exc.response.headers,
                              exc.response.reason_phrase or "") from None
        except openai.APITimeoutError:
            raise TimeoutFailure() from None
        except openai.APIConnectionError as exc:
            raise ConnectionFailure(_cause(exc), connect=_never_connected(exc)) from None
        except openai.APIError as exc:
            raise _OtherFailure(exc.message) from None

    def _refuses_response_format(self, exc: Any, body: dict[str, Any]) -> bool:
        """A 400/422 naming response_format (or json_schema) on a request that sent one; also a
        500 saying so, which is how llama-cpp-python's server reports its validation error."""
        message = _server_message(exc).lower()
        return (
            "response_format" in body
            and int(exc.status_code) in (400, 422, 500)
            and ("response_format" in message or "json_schema" in message)
        )

    def _step_down_response_format(self, body: dict[str, Any]) -> None:
        sent = body["response_format"].get("type")
        if sent != self._schema_style:
            return  # another call already stepped down from what this one sent
        if sent == "json_schema":
            self._schema_style = "json_object"
            self.notice(f"judge {self.label} refuses response_format json_schema; "
                        "trying the json_object form with a schema")
        else:
            self._schema_style = None
            self.notice(f"judge {self.label} refuses structured output (response_format); "
                        "going on with text parsing")

    def _refuses_logprobs(self, exc: Any, body: dict[str, Any]) -> bool:
        """A 400/422 that names logprobs, on a request that asked for them: a server or proxy
        without logprob support. Detected on the first call; later calls do not ask again."""
        return (
            "logprobs" in body
            and int(exc.status_code) in (400, 422)
            and "logprob" in _server_message(exc).lower()
        )

    def _body(self, request: JudgeRequest) -> dict[str, Any]:
        """The request JSON. `request.constraint` is not sent: the parser checks the text.

        It goes through the SDK's plain `post()` (same auth, timeouts and status errors) rather
        than `chat.completions.create()`, so the raw body comes back for `_response` to check, and
        the SDK does not walk the params against its TypedDicts on every call (CPU at high rates).
        """
        sampling = request.sampling
        params: dict[str, Any] = {
            "model": self.spec.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": sampling.temperature,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.seed is not None:
            params["seed"] = sampling.seed
        if sampling.logprobs and not self._logprobs_refused:
            params["logprobs"] = True
            params["top_logprobs"] = sampling.top_logprobs
        if request.json_schema is not None and self._schema_style == "json_schema":
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "verdict", "strict": True, "schema": request.json_schema},
            }
        elif request.json_schema is not None and self._schema_style == "json_object":
            params["response_format"] = {"type": "json_object", "schema": request.json_schema}
        extra = self.spec.options.get("extra_body")
        if isinstance(extra, Mapping):
            params.update(extra)
        return params

    def _status_error(self, exc: HTTPFailure) -> JudgeError:
        """Map an HTTP error status to retry-or-stop, naming the status and the server's message."""
        status = int(exc.status_code)
        message = f"{self.label}: HTTP {status}: {self._scrub(_server_message(exc))}"
        if status in _TRANSIENT_STATUSES or status >= 500:
            return TransientJudgeError(message, status=status, retry_after=parse_retry_after(_lower_keys(exc.headers)))
        if status in (401, 403) and self._secret is None:  # a placeholder went out: the key is missing
            return JudgeConfigError(f"{message} (OPENAI_API_KEY is not set and this server wants a key)",
                                    status=status)
        if status in _REFUSED_STATUSES:
            return self._refusal(exc, message, status)
        return FatalJudgeError(message, status=status)

    def _refusal(self, exc: HTTPFailure, message: str, status: int) -> RequestRejected | FatalJudgeError:
        """A request the server refused: that request fails alone (stored as a failed call, retried
        by the next run) when the error says it concerns this request (too long for the context, a
        content filter) or when another request was answered; a refusal nothing explains, which
        the first requests all get, is the setup (a bad parameter) and stops the run."""
        if _error_marks(exc) & _SETUP_CODES:
            return FatalJudgeError(message, status=status)
        if self._answered or concerns_one_request(exc):
            return RequestRejected(message, status=status)
        self._unexplained_refusals += 1
        if self._unexplained_refusals < UNEXPLAINED_REFUSALS_TO_STOP:
            return RequestRejected(message, status=status)
        return FatalJudgeError(f"{message} (the first {self._unexplained_refusals} requests were all refused, "
                               "none answered: a setting every request carries?)", status=status)

    def _scrub(self, text: str) -> str:
        """Shorten a server message and mask the key (and a password in the base URL), in case the
        server echoes them back."""
        for secret in (self._secret, self._url_password):
            if secret:
                text = text.replace(secret, "***")
        return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"

    def _response(self, content: bytes, latency: float, status: int = 200) -> JudgeResponse:
        """Build the response from the raw body; anything missing is a broken (transient) answer."""
        try:
            data = _loads(content)
        except ValueError:
            raise TransientJudgeError(
                f"{self.label}: HTTP {status} body is not valid JSON ({len(content)} bytes)", status=status
            ) from None
        choices = data.get("choices") if isinstance(data, dict) else None
        choice = choices[0] if isinstance(choices, list) and choices else None
        message = choice.get("message") if isinstance(choice, dict) else None
        text = message.get("content") if isinstance(message, dict) else None
        if not isinstance(text, str) or not isinstance(choice, dict):
            if isinstance(choice, dict) and choice.get("finish_reason") == "content_filter":
                raise RequestRejected(f"{self.label}: the answer was withheld by the server's content filter",
                                      status=status)
            error = data.get("error") if isinstance(data, dict) else None
            detail = f": {self._scrub(str(error))}" if error else ""
            raise TransientJudgeError(f"{self.label}: response has no message content{detail}", status=status)
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return JudgeResponse(
            text=text,
            logprobs=_logprobs(choice.get("logprobs")),
            tokens_in=_int(usage.get("prompt_tokens")),
            tokens_out=_int(usage.get("completion_tokens")),
            model=data.get("model") if isinstance(data.get("model"), str) else self.spec.model,
            latency_s=latency,
        )

    async def close(self) -> None:
        if self._client is not None:
            client, self._client, self._lean = self._client, None, None
            await client.close()

    def describe(self) -> dict[str, object]:
        try:
            version: str | None = metadata.version("openai")
        except metadata.PackageNotFoundError:
            version = None
        return {"spec": self.spec.public_dict(), "openai_version": version, "transport": self._transport_label()}

    def _transport_label(self) -> str:
        """The transport the calls take, as chosen from the options (run.json is written before the
        client starts and after it closes, so the live client cannot tell)."""
        try:
            lean = self._transport() == "aiohttp"
        except JudgeConfigError:
            return "unknown"
        return "aiohttp (raw body)" if lean else "httpx (openai SDK)"


def _pool_limits(openai: Any, concurrency: int) -> Any:
    """The SDK's default pool, widened so `concurrency` requests never queue for a connection.

    Built from the class of the SDK's own default, so it works whichever httpx the SDK ships.
    """
    default = openai.DEFAULT_CONNECTION_LIMITS
    return type(default)(
        max_connections=max(concurrency, default.max_connections or 0),
        max_keepalive_connections=max(concurrency, default.max_keepalive_connections or 0),
    )


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    millis = _float(headers.get("retry-after-ms"))
    if millis is not None:
        return max(millis / 1000.0, 0.0)
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _float(value)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _loads(content: bytes) -> Any:
    """The body's JSON: orjson (a few times faster than json), or json for what only json reads
    (the NaN and -Infinity some servers write into logprobs, a body not in UTF-8)."""
    try:
        return orjson.loads(content)
    except ValueError:
        return json.loads(content)


def _logprobs(block: Any) -> tuple[TokenLogprob, ...] | None:
    """OpenAI's `choices[0].logprobs.content` as TokenLogprobs; None when absent or unreadable."""
    content = block.get("content") if isinstance(block, dict) else None
    if not isinstance(content, list):
        return None
    try:
        return _token_logprobs().validate_python(
            [{"token": item["token"], "logprob": float(item["logprob"]), "top": _top(item.get("top_logprobs"))}
             for item in content]
        )
    except (KeyError, TypeError, ValueError):  # pydantic's ValidationError is a ValueError
        return None


@functools.cache
def _token_logprobs() -> TypeAdapter[tuple[TokenLogprob, ...]]:
    """Validates a whole answer's tokens in one call (a model's __init__ per token cost a third
    of reading them); built on first use, not at import."""
    return TypeAdapter(tuple[TokenLogprob, ...])


def _top(alternatives: Any) -> dict[str, float]:
    """Top alternatives by token; a token listed twice (distinct byte sequences) keeps its best."""
    top: dict[str, float] = {}
    for alt in alternatives or ():
        token, logprob = alt["token"], float(alt["logprob"])
        top[token] = max(logprob, top.get(token, -math.inf))
    return top


class _OtherFailure(Exception):
    """Any other SDK error: transient, with the SDK's message."""


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _server_message(exc: Any) -> str:
    """The `error.message` of an OpenAI-style error body (the SDK unwraps `error`), else the body."""
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message", body.get("detail"))  # FastAPI servers answer {"detail": ...}
        return message if isinstance(message, str) else json.dumps(body)
    if isinstance(body, str) and body.strip():
        return body.strip()
    return exc.reason or "no message"


def concerns_one_request(exc: Any) -> bool:
    """Whether an error body says the request itself was refused (its length, its content) rather
    than something every request shares: by code, type or parameter where the server gives one,
    else by the wording of the servers the harness knows (see the constants above)."""
    if _error_marks(exc) & (_ONE_REQUEST_CODES | _ONE_REQUEST_PARAMS):
        return True
    message = _server_message(exc).lower()
    return any(phrase in message for phrase in _ONE_REQUEST_PHRASES)


def _error_marks(exc: Any) -> set[str]:
    """The `code`, `type` and `param` of an OpenAI-style error body, lowercased."""
    body = exc.body
    if not isinstance(body, dict):
        return set()
    return {str(body[key]).lower() for key in ("code", "type", "param") if body.get(key) is not None}


def _never_connected(exc: BaseException) -> bool:
    """Whether the SDK's connection error is its HTTP client failing to connect (refused, no such
    host): httpx's ConnectError, looked up by name since SDK releases ship httpx under other names."""
    cause = exc.__cause__ or exc.__context__
    return cause is not None and any(cls.__name__ == "ConnectError" for cls in type(cause).__mro__)


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0
