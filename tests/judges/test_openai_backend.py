"""OpenAIBackend against a real loopback HTTP server: success, logprobs, and error classification."""

from __future__ import annotations

import asyncio
import email.utils
import math
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.judges.base import FatalJudgeError, JudgeError, RequestRejected, TransientJudgeError
from harness.judges.openai_compat import PLACEHOLDER_KEY, OpenAIBackend
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec, Message, Sampling, TokenLogprob
from harness.testing import OpenAIServer, Reply

SECRET = "sk-test-Zq8SECRET4711xyz"


@pytest.fixture(autouse=True, params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs over the lean aiohttp path and over the openai SDK's httpx client."""
    from harness.judges import openai_compat

    monkeypatch.setattr(openai_compat, "DEFAULT_TRANSPORT", request.param)
    return request.param


@pytest.fixture(autouse=True)
def fake_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    return SECRET


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start servers on demand; all are closed at teardown, even when the test fails."""
    servers: list[OpenAIServer] = []

    def start(responder: Any = None, **kwargs: Any) -> OpenAIServer:
        server = OpenAIServer(responder, **kwargs) if responder else OpenAIServer(**kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def request(text: str = "Which answer is better?", **sampling: Any) -> JudgeRequest:
    return JudgeRequest(id="r1", item_id="i1", messages=(Message(role="user", content=text),),
                        sampling=Sampling(**sampling))


def spec(base_url: str | None, **kwargs: Any) -> JudgeSpec:
    return JudgeSpec(backend="openai", model="judge-model", base_url=base_url, **kwargs)


def call(judge_spec: JudgeSpec, *requests: JudgeRequest) -> list[JudgeResponse | BaseException]:
    """Start a backend, send the requests at once, close it; errors come back as values."""

    async def go() -> list[JudgeResponse | BaseException]:
        backend = OpenAIBackend(judge_spec)
        await backend.start()
        try:
            return await asyncio.gather(*(backend.complete(r) for r in requests), return_exceptions=True)
        finally:
            await backend.close()

    return asyncio.run(go())


def fails(server: OpenAIServer, reply: Reply, **kwargs: Any) -> JudgeError:
    """One call against a server that always gives `reply`; returns the error it raised."""
    server.responder = lambda body: reply
    [result] = call(spec(server.base_url, **kwargs), request())
    assert isinstance(result, JudgeError), f"expected a JudgeError, got {result!r}"
    return result


# -- success ---------------------------------------------------------------------------------------


def test_text_usage_and_request_parameters(serve: Any) -> None:
    server = serve(lambda body: Reply(text="[[A]] is better", prompt_tokens=17, completion_tokens=4))
    [response] = call(spec(server.base_url), request(temperature=0.3, max_tokens=64, seed=7))

    assert isinstance(response, JudgeResponse)
    assert response.text == "[[A]] is better"
    assert (response.tokens_in, response.tokens_out) == (17, 4)
    assert response.model == "judge-model"
    assert response.logprobs is None
    assert 0 < response.latency_s < 5
    [sent] = server.requests
    assert sent["model"] == "judge-model"
    assert sent["messages"] == [{"role": "user", "content": "Which answer is better?"}]
    assert (sent["temperature"], sent["max_tokens"], sent["seed"]) == (0.3, 64, 7)
    assert "logprobs" not in sent and "top_logprobs" not in sent
    assert server.served[0].headers["authorization"] == f"Bearer {SECRET}"


def test_logprobs_are_mapped_with_top_alternatives(serve: Any) -> None:
    tokens = [
        TokenLogprob(token="A", logprob=-0.1, top={"A": -0.1, "B": -2.5, "tie": -4.0}),
        TokenLogprob(token=".", logprob=-0.01, top={".": -0.01, "!": -5.0, "?": -6.0}),
    ]
    server = serve(lambda body: Reply(text="A.", logprobs=tokens))
    [response] = call(spec(server.base_url), request(logprobs=True, top_logprobs=2))

    assert isinstance(response, JudgeResponse)
    assert response.logprobs == (
        TokenLogprob(token="A", logprob=-0.1, top={"A": -0.1, "B": -2.5}),
        TokenLogprob(token=".", logprob=-0.01, top={".": -0.01, "!": -5.0}),
    )
    assert response.tokens_out == 2
    [sent] = server.requests
    assert sent["logprobs"] is True and sent["top_logprobs"] == 2


def test_logprobs_of_minus_infinity_and_non_ascii_text_are_read(serve: Any) -> None:
    """Servers write a masked token's logprob as -Infinity, which is not strict JSON: the body is
    still read (json takes what orjson refuses), and text outside ASCII goes out and back as is."""
    tokens = [TokenLogprob(token="Ä", logprob=-0.2, top={"Ä": -0.2, "B": -math.inf})]
    server = serve(lambda body: Reply(text=f"Ä {body['messages'][0]['content']}", logprobs=tokens))
    [response] = call(spec(server.base_url), request("Welche Antwort ist besser? — ✓", logprobs=True, top_logprobs=2))

    assert isinstance(response, JudgeResponse)
    assert response.text == "Ä Welche Antwort ist besser? — ✓"
    assert response.logprobs == (TokenLogprob(token="Ä", logprob=-0.2, top={"Ä": -0.2, "B": -math.inf}),)


def test_constraint_is_not_sent(serve: Any) -> None:
    from harness.models import OutputChoices

    server = serve()
    constrained = request().model_copy(update={"constraint": OutputChoices(choices=("A", "B"))})
    [response] = call(spec(server.base_url), constrained)
    assert isinstance(response, JudgeResponse)
    assert set(server.requests[0]) == {"model", "messages", "temperature", "max_tokens", "seed"}


# -- classification --------------------------------------------------------------------------------


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
        ({"Retry-After": "HTTP-DATE+30"}, 30.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_rate_limit_is_transient_with_retry_after(serve: Any, headers: dict[str, str],
                                                  expected: float | None) -> None:
    if headers.get("Retry-After") == "HTTP-DATE+30":
        headers = {"Retry-After": _http_date(30)}
    server = serve()
    error = fails(server, Reply(status=429, error="Rate limit reached", headers=headers))

    assert isinstance(error, TransientJudgeError)
    assert error.retryable and error.status == 429
    assert "429" in str(error) and "Rate limit reached" in str(error)
    if expected is None:
        assert error.retry_after is None
    else:
        assert error.retry_after == pytest.approx(expected, abs=2.0 if expected >= 30 else 1e-6)
    assert server.faults == {"http_429": 1}


@pytest.mark.parametrize("status", [408, 409, 500, 502, 503])
def test_server_side_statuses_are_transient(serve: Any, status: int) -> None:
    error = fails(serve(), Reply(status=status, error="overloaded", retry_after="3"))
    assert isinstance(error, TransientJudgeError)
    assert error.status == status and f"HTTP {status}" in str(error)
    assert error.retry_after == 3.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried_and_never_show_the_key(serve: Any, status: int) -> None:
    """401/403/404 stop the run; a first unexplained 400/422 fails its request alone (see
    tests/test_request_rejections.py for when a refusal stops the run)."""
    echo = f"Incorrect API key provided: {SECRET}. Model judge-model does not exist."
    error = fails(serve(), Reply(status=status, error=echo))

    assert isinstance(error, RequestRejected if status in (400, 422) else FatalJudgeError)
    assert not error.retryable and error.status == status
    assert f"HTTP {status}" in str(error) and "does not exist" in str(error)
    for shown in (str(error), repr(error), *map(str, error.args)):
        assert SECRET not in shown
    assert error.__cause__ is None and error.__suppress_context__


def test_long_server_messages_are_shortened(serve: Any) -> None:
    error = fails(serve(), Reply(status=400, error="x" * 5000))
    assert isinstance(error, RequestRejected)
    assert 200 <= len(str(error)) < 300


def test_malformed_json_body_is_transient(serve: Any) -> None:
    server = serve()
    error = fails(server, Reply(malformed=True))
    assert isinstance(error, TransientJudgeError) and error.status == 200
    assert "not valid JSON" in str(error)
    assert server.faults == {"malformed": 1}


def test_truncated_body_is_transient(serve: Any) -> None:
    server = serve()
    error = fails(server, Reply(text="A", truncate=True))
    assert isinstance(error, TransientJudgeError)
    assert server.faults == {"truncate": 1}


@pytest.mark.parametrize(
    "body",
    [{"choices": []}, {"object": "chat.completion"}, {"choices": [{"index": 0}]},
     {"choices": [{"message": {"role": "assistant", "content": None}}]},
     {"error": {"message": "upstream overloaded"}}],
)
def test_200_bodies_without_message_content_are_transient(serve: Any, body: dict[str, Any]) -> None:
    server = serve()
    error = fails(server, Reply(body=body))
    assert isinstance(error, TransientJudgeError) and error.status == 200
    assert "no message content" in str(error)
    assert server.faults == {"body": 1}


def test_non_object_json_body_is_transient() -> None:
    backend = OpenAIBackend(spec("http://127.0.0.1:1/v1"))
    with pytest.raises(TransientJudgeError, match="no message content"):
        backend._response(b"[1, 2]", 0.1)


def test_fastapi_style_error_detail_is_shown(serve: Any) -> None:
    error = fails(serve(), Reply(status=401, body={"detail": "Invalid API key"}))
    assert isinstance(error, FatalJudgeError) and "HTTP 401: Invalid API key" in str(error)


def test_answer_slower_than_timeout_is_transient(serve: Any) -> None:
    server = serve(latency_s=0.0)
    started = time.perf_counter()
    error = fails(server, Reply(text="late", delay_s=5.0), timeout_s=0.3)
    assert isinstance(error, TransientJudgeError) and "0.3s" in str(error)
    assert time.perf_counter() - started < 3.0


def test_refused_connection_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        [error] = call(spec(f"http://127.0.0.1:{port}/v1", timeout_s=5), request())
    assert isinstance(error, TransientJudgeError) and "connection failed" in str(error)


# -- keys, pool, description -----------------------------------------------------------------------


def test_missing_key_without_base_url_is_fatal_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    backend = OpenAIBackend(spec(None))
    with pytest.raises(FatalJudgeError, match="OPENAI_API_KEY is not set"):
        asyncio.run(backend.start())


def test_missing_key_with_base_url_sends_a_placeholder(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    server = serve()
    [response] = call(spec(server.base_url), request())
    assert isinstance(response, JudgeResponse)
    assert server.served[0].headers["authorization"] == f"Bearer {PLACEHOLDER_KEY}"


def test_describe_and_repr_carry_no_secrets(serve: Any) -> None:
    server = serve()
    judge_spec = spec(server.base_url.replace("//", "//user:pw@"), options={"api_key": SECRET})
    backend = OpenAIBackend(judge_spec)
    asyncio.run(backend.start())
    described = backend.describe()
    asyncio.run(backend.close())

    assert described["openai_version"]
    assert "user:pw" not in str(described) and SECRET not in str(described)
    assert SECRET not in repr(backend)
    assert backend.capabilities == frozenset({"logprobs", "json_schema"})


def test_concurrency_is_bounded_and_reached(serve: Any) -> None:
    """16 calls at once through concurrency=8: two rounds of server latency, never 9 in flight."""
    server = serve(latency_s=0.2)

    async def go() -> tuple[list[Any], float]:
        backend = OpenAIBackend(spec(server.base_url, concurrency=8))
        await backend.start()
        try:
            started = time.perf_counter()
            results = await asyncio.gather(*(backend.complete(request(f"q{i}")) for i in range(16)))
            return results, time.perf_counter() - started
        finally:
            await backend.close()

    results, elapsed = asyncio.run(go())
    assert all(isinstance(r, JudgeResponse) for r in results)
    assert server.max_in_flight == 8
    assert elapsed < 4 * 0.2
    assert server.connections <= 8


def test_connections_are_kept_alive(serve: Any) -> None:
    server = serve()
    results = call(spec(server.base_url, concurrency=4), *[request(f"q{i}") for i in range(60)])
    assert all(isinstance(r, JudgeResponse) for r in results)
    assert len(server.requests) == 60
    assert server.connections <= 4


def test_importing_the_module_does_not_import_openai() -> None:
    code = "import sys, harness.judges.openai_compat; assert 'openai' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the aiohttp transport -------------------------------------------------------------------------


def test_unknown_transport_is_fatal_at_start() -> None:
    backend = OpenAIBackend(spec("http://127.0.0.1:1/v1", options={"transport": "carrier-pigeon"}))
    with pytest.raises(FatalJudgeError, match="unknown transport"):
        asyncio.run(backend.start())


@pytest.mark.parametrize(
    ("reply", "kind", "status"),
    [
        (Reply(status=429, retry_after="2"), TransientJudgeError, 429),
        (Reply(status=503), TransientJudgeError, 503),
        (Reply(status=401), FatalJudgeError, 401),
        (Reply(malformed=True), TransientJudgeError, 200),
        (Reply(truncate=True, text="A"), TransientJudgeError, None),
        (Reply(delay_s=5.0), TransientJudgeError, None),
    ],
)
def test_aiohttp_transport_classifies_like_httpx(serve: Any, reply: Reply, kind: type, status: int | None) -> None:
    pytest.importorskip("aiohttp", reason="the aiohttp transport is optional")
    server = serve(lambda body: Reply(text="B", prompt_tokens=3, completion_tokens=1))
    aio = spec(server.base_url, timeout_s=0.5, options={"transport": "aiohttp"})
    [ok] = call(aio, request())
    assert isinstance(ok, JudgeResponse) and (ok.text, ok.tokens_in) == ("B", 3)

    error = fails(server, reply, timeout_s=0.5, options={"transport": "aiohttp"})
    assert type(error) is kind and error.status == status
    if status == 429:
        assert error.retry_after == 2.0


def test_aiohttp_transport_sends_exactly_its_headers(serve: Any) -> None:
    """The lean path names itself, not aiohttp, and sends JSON headers and the key, nothing else
    (it sets its User-Agent as a session header, which aiohttp's own never replaces)."""
    server = serve()
    call(spec(server.base_url, options={"transport": "aiohttp"}), request(), request("Another question?"))
    for served in server.served:
        assert served.headers == {
            "host": server.base_url.split("//", 1)[1].split("/", 1)[0],
            "user-agent": "harness-eval", "content-type": "application/json", "accept": "application/json",
            "authorization": f"Bearer {SECRET}", "accept-encoding": served.headers["accept-encoding"],
            "content-length": served.headers["content-length"],
        }
        assert "aiohttp" not in served.headers["user-agent"] and served.headers["accept-encoding"].startswith("gzip")
